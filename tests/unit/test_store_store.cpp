#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/support.hpp"
#include "xrun/store/store.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using store::State;

namespace {
plan::Plan two_stage_plan() {
  plan::Plan p;
  p.name = "p";
  p.stages.resize(2);
  p.stages[0].name = "prep";
  p.stages[0].tasks.resize(1);
  p.stages[1].name = "sweep";
  p.stages[1].tasks.resize(3);
  for (size_t i = 0; i < 3; ++i) p.stages[1].tasks[i].index = i, p.stages[1].tasks[i].id = i + 1;
  return p;
}
}  // namespace

TEST_CASE("wrapper records parse tolerantly", "[store]") {
  auto r = store::parse_wrapper_record("state=FAILED\nexit=143\nsignal=15\nstart=1.5\nend=2.5\nhost=n1\npid=7\nattempt=2\njunk\nwritten=1\n");
  REQUIRE(r);
  CHECK(r->state == "FAILED");
  CHECK(*r->exit_code == 143);
  CHECK(*r->signal == 15);
  CHECK(r->end - r->start == Approx(1.0));
  CHECK(r->attempt == 2);
  CHECK_FALSE(store::parse_wrapper_record("garbage"));
  CHECK_FALSE(store::parse_wrapper_record("state=FAILED\nexit=1\n"));  // incomplete: no marker
  CHECK_FALSE(store::parse_wrapper_record(""));
}

TEST_CASE("experiments get unique, prefix-addressable ids", "[store]") {
  util::TempDir tmp;
  auto st = store::Store::open(tmp.path());
  CHECK(st.find("latest").ok() == false);
  auto a = st.create("my exp");
  auto b = st.create("my exp");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->id() != b->id());
  CHECK(a->id().rfind("my-exp-", 0) == 0);
  // Only experiments with meta.json are listed.
  CHECK(st.list().empty());
  REQUIRE(util::atomic_write(a->path("meta.json"), "{}").ok());
  REQUIRE(util::atomic_write(b->path("meta.json"), "{}").ok());
  CHECK(st.list().size() == 2);
  CHECK(st.find(a->id()).ok());
  CHECK(st.find(a->id().substr(0, a->id().size() - 1)).ok());
  CHECK_FALSE(st.find("my-exp").ok());  // ambiguous
  CHECK_FALSE(st.find("../etc").ok());
  CHECK_FALSE(st.find("zzz").ok());
  CHECK(st.find("latest").ok());
}

TEST_CASE("task references never leave the experiment", "[store]") {
  auto p = two_stage_plan();
  CHECK(store::resolve_task_ref(p, "0").value() == 0);
  CHECK(store::resolve_task_ref(p, "sweep/2").value() == 3);
  CHECK(store::resolve_task_ref(p, "prep/0").value() == 0);
  for (const char* bad : {"4", "sweep/3", "../../etc/passwd", "nostage/0", "-1", "", "sweep/", "/0", "1e3"}) {
    INFO(bad);
    CHECK_FALSE(store::resolve_task_ref(p, bad).ok());
  }
  CHECK(store::locate(p, 2) == std::make_pair(size_t{1}, size_t{1}));
}

TEST_CASE("cancel requests, control records and attempts", "[store]") {
  util::TempDir tmp;
  auto st = store::Store::open(tmp.path());
  auto e = st.create("x");
  REQUIRE(e.ok());
  auto p = two_stage_plan();
  REQUIRE(e->add_cancel_request({1, 3}).ok());
  REQUIRE(e->add_cancel_request({3}).ok());
  CHECK(e->cancelled() == std::set<size_t>{1, 3});
  REQUIRE(e->write_control(2, {"SKIPPED", "because"}).ok());
  auto all = e->facts(p);
  REQUIRE(all.size() == 4);
  CHECK(all[3].stage == 1);
  CHECK(all[3].index == 2);
  CHECK(store::decide(all[0]).status.state == State::Pending);
  CHECK(all[1].cancel_requested);
  CHECK(store::decide(all[1]).status.state == State::Cancelled);
  CHECK(store::decide(all[2]).status.state == State::Skipped);
  CHECK(store::decide(all[2]).status.reason == "because");

  // A first attempt leaves nothing to archive; a second archives the first.
  CHECK(e->archive_attempt(0).value() == 1);
  REQUIRE(util::atomic_write(e->task_dir(0) + "/status", "state=FAILED\nexit=1\nwritten=1\n").ok());
  REQUIRE(util::atomic_write(e->task_dir(0) + "/stdout", "out1").ok());
  CHECK(e->archive_attempt(0).value() == 2);
  CHECK(util::exists(e->task_dir(0) + "/attempts/1/status"));
  CHECK(test::read(e->task_dir(0) + "/attempts/1/stdout") == "out1");
  CHECK_FALSE(util::exists(e->task_dir(0) + "/status"));
  // Never submitted: the earlier attempt comes back as it was.
  REQUIRE(e->restore_attempt(0, 2).ok());
  CHECK(test::read(e->task_dir(0) + "/stdout") == "out1");
  CHECK(util::exists(e->task_dir(0) + "/status"));
  CHECK_FALSE(util::exists(e->task_dir(0) + "/attempts/1"));
  CHECK(util::trim(test::read(e->task_dir(0) + "/attempt")) == "1");
  // One whose new attempt began to be recorded stays as it is.
  CHECK(e->archive_attempt(0).value() == 2);
  REQUIRE(util::atomic_write(e->task_dir(0) + "/stdout", "out2").ok());
  REQUIRE(e->restore_attempt(0, 2).ok());
  CHECK(test::read(e->task_dir(0) + "/stdout") == "out2");
  CHECK(test::read(e->task_dir(0) + "/attempts/1/stdout") == "out1");
}

TEST_CASE("the runner lock is exclusive and visible to readers", "[store]") {
  util::TempDir tmp;
  auto st = store::Store::open(tmp.path());
  auto e = st.create("x");
  REQUIRE(e.ok());
  CHECK_FALSE(e->runner_alive());
  {
    // fcntl locks are per process: take it in a child and look from here.
    int pipefd[2];
    REQUIRE(::pipe(pipefd) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      auto l = store::RunnerLock::acquire(e.value());
      char c = l.ok() ? 'y' : 'n';
      (void)!::write(pipefd[1], &c, 1);
      ::sleep(2);
      ::_exit(0);
    }
    char c = 0;
    REQUIRE(::read(pipefd[0], &c, 1) == 1);
    CHECK(c == 'y');
    CHECK(e->runner_alive());
    CHECK_FALSE(store::RunnerLock::acquire(e.value()).ok());
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
  }
  CHECK_FALSE(e->runner_alive());
  CHECK(store::RunnerLock::acquire(e.value()).ok());
}

TEST_CASE("the runner lock belongs to its descriptor: a reader in the same process never drops it", "[store]") {
  util::TempDir tmp;
  auto st = store::Store::open(tmp.path());
  auto e = st.create("x");
  REQUIRE(e.ok());
  auto held = store::RunnerLock::acquire(e.value());
  REQUIRE(held.ok());
  // runner_alive() opens and closes the file: with a per-process lock, that close dropped it.
  CHECK(e->runner_alive());
  CHECK(e->runner_alive());
  CHECK_FALSE(store::RunnerLock::acquire(e.value()).ok());  // refused in this process too
  bool said = false;
  auto waited = store::RunnerLock::acquire_waiting(e.value(), 0.3, [&] { said = true; });
  REQUIRE_FALSE(waited.ok());
  CHECK(said);
  CHECK(waited.error().what.find("waited") != std::string::npos);
  held = Result<store::RunnerLock>(make_error("released"));
  CHECK_FALSE(e->runner_alive());
  CHECK(store::RunnerLock::acquire_waiting(e.value(), 0.3).ok());
}


TEST_CASE("a verdict is recorded once: the first one wins", "[store]") {
  util::TempDir tmp;
  auto st = store::Store::open(tmp.path());
  auto e = st.create("x");
  REQUIRE(e.ok());
  REQUIRE(util::make_dirs(e->task_dir(0)).ok());
  CHECK(e->record_verdict(0, {"TIMEOUT", "limit"}).value());
  CHECK_FALSE(e->record_verdict(0, {"CANCELLED", "late"}).value());
  CHECK(e->facts_of(0).control->state == "TIMEOUT");
}

TEST_CASE("the runner's record reserves room for its last update", "[store]") {
  util::TempDir tmp;
  auto st = store::Store::open(tmp.path());
  auto e = st.create("x");
  REQUIRE(e.ok());
  REQUIRE(e->write_runner({{"state", "running"}}, true).ok());
  CHECK(test::read(e->path("runner.json")).size() == 4096);
  // Written in place over the reserved room (as when the disk is full), still valid JSON.
  REQUIRE(util::overwrite_in_place(e->path("runner.json"), std::string("{\"state\": \"finished\"}") + std::string(4072, ' ') + "\n").ok());
  CHECK(e->runner()->value("state", "") == "finished");
}

TEST_CASE("the tasks folder is listed once: task folders by id, odd entries ignored", "[store]") {
  util::TempDir tmp;
  const std::string d = tmp.path() + "/tasks";
  for (const char* sub : {"0", "1", "007", "-1", "abc", "12x", "99999999999999999999999", "100", ".hidden", "3 "})
    REQUIRE(util::make_dirs(d + "/" + sub).ok());
  REQUIRE(util::atomic_write(d + "/5", "a file where a folder should be").ok());
  REQUIRE(::symlink("/nonexistent", (d + "/6").c_str()) == 0);
  REQUIRE(util::atomic_write(d + "/.tmp.7", "x").ok());
  util::Fd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.valid());
  auto seen = store::task_entries(fd.get(), 10);
  REQUIRE(seen);
  std::vector<size_t> ids;
  for (size_t i = 0; i < seen->size(); ++i)
    if ((*seen)[i]) ids.push_back(i);
  // Entries of any type count (their reader judges them); "007", "3 ", ids past the plan do not.
  CHECK(ids == std::vector<size_t>{0, 1, 5, 6});
  CHECK_FALSE(store::task_entries(-1, 10));  // a folder that cannot be read: every task is looked up
  // An experiment's facts: a task with a folder is read from it, one without has no record,
  // and entries that are not task folders change nothing.
  store::Experiment exp("e", tmp.path());
  plan::Plan p = two_stage_plan();
  REQUIRE(util::atomic_write(d + "/1/started", "state=RUNNING\nhost=h\npid=1\nstart=1\nattempt=1\nwritten=1\n").ok());
  REQUIRE(util::atomic_write(d + "/1/status", "state=SUCCEEDED\nexit=0\nhost=h\npid=1\nstart=1\nend=2\nattempt=1\nwritten=1\n").ok());
  REQUIRE(util::atomic_write(d + "/0/control", "state=SKIPPED\nreason=r\n").ok());
  auto facts = exp.facts(p);
  REQUIRE(facts.size() == 4);
  CHECK(facts[0].control->state == "SKIPPED");
  CHECK(facts[1].record->state == "SUCCEEDED");
  CHECK(facts[1].stage == 1);
  CHECK_FALSE(facts[2].record);
  CHECK_FALSE(facts[3].control);
  CHECK(facts[3].id == 3);
  CHECK(facts[3].index == 2);
  // Ids are the tasks' own, not their positions: the folder read is the task's id's.
  p.stages[1].tasks[0].id = 6;  // (an entry that is not a folder: read as no record)
  p.stages[1].tasks[1].id = 0;
  p.stages[0].tasks[0].id = 1;
  REQUIRE(p.index_ids().ok());
  facts = exp.facts(p);
  REQUIRE(facts.size() == 4);
  CHECK(facts[0].id == 1);
  CHECK(facts[0].record->state == "SUCCEEDED");
  CHECK(facts[1].id == 6);
  CHECK_FALSE(facts[1].record);
  CHECK(facts[2].id == 0);
  CHECK(facts[2].stage == 1);
  CHECK(facts[2].index == 1);
  CHECK(facts[2].control->state == "SKIPPED");
  CHECK(store::resolve_task_ref(p, "sweep/1").value() == 0);
  CHECK(store::resolve_task_ref(p, "6").value() == 6);
  CHECK_FALSE(store::resolve_task_ref(p, "2").ok());  // within 0..id_end, but no task has it
  CHECK(store::locate(p, 6) == std::make_pair(size_t{1}, size_t{0}));
}

TEST_CASE("writers never bring back an experiment folder that was removed", "[store]") {
  // (`xrun rm --force` while the runner is still recording the tasks it cancelled: each of the
  // runner's writes fails instead of making a stray copy of the folder.)
  util::TempDir tmp;
  auto st = store::Store::open(tmp.path());
  auto e = st.create("x");
  REQUIRE(e.ok());
  REQUIRE(util::make_dirs(e->path("tasks")).ok());
  REQUIRE(e->write_control(0, {"SKIPPED", "kept"}).ok());
  CHECK(util::exists(e->task_dir(0) + "/control"));
  util::remove_all(e->dir());
  CHECK_FALSE(e->write_control(1, {"CANCELLED", "late"}).ok());
  CHECK_FALSE(e->add_cancel_request({1}).ok());
  CHECK_FALSE(e->archive_attempt(2).ok());
  CHECK_FALSE(util::exists(e->dir()));
  // Inside a folder that exists, the missing levels are made.
  REQUIRE(util::make_dirs(tmp.path() + "/base").ok());
  REQUIRE(util::make_dirs_under(tmp.path() + "/base", "a/b/c").ok());
  CHECK(util::is_dir(tmp.path() + "/base/a/b/c"));
  CHECK_FALSE(util::make_dirs_under(tmp.path() + "/gone", "a").ok());
  CHECK_FALSE(util::exists(tmp.path() + "/gone"));
}

TEST_CASE("a new attempt's folder is never made through a tasks folder that is a link", "[store]") {
  util::TempDir tmp;
  auto st = store::Store::open(tmp.path());
  auto e = st.create("x");
  REQUIRE(e.ok());
  REQUIRE(util::make_dirs(tmp.path() + "/outside").ok());
  REQUIRE(::symlink((tmp.path() + "/outside").c_str(), e->path("tasks").c_str()) == 0);
  bool fresh = true;
  auto a = e->begin_attempt(0, &fresh);
  CHECK_FALSE(a.ok());
  CHECK_FALSE(fresh);
  CHECK(util::list_dir(tmp.path() + "/outside").empty());
  // A plain tasks folder: a new folder, attempt 1; the next call archives (the folder exists).
  util::remove_all(e->path("tasks"));
  auto f = std::make_optional<store::Experiment>(e->id(), e->dir());  // (a new handle: tasks/ opened anew)
  REQUIRE(util::make_dirs(f->path("tasks")).ok());
  CHECK(f->begin_attempt(0, &fresh).value() == 1);
  CHECK(fresh);
  CHECK(util::is_dir(f->task_dir(0)));
  CHECK(f->begin_attempt(0, &fresh).value() == 1);  // (nothing ran: the same attempt)
  CHECK_FALSE(fresh);
}

namespace {
// An experiment whose task 0 has a reused folder: a blank `started` next to the `status` of the
// task the folder was kept from.
store::Experiment reused_folder(const util::TempDir& tmp) {
  auto e = store::Store::open(tmp.path()).create("x");
  REQUIRE(e.ok());
  const std::string d = e->task_dir(0);
  REQUIRE(util::make_dirs(d).ok());
  test::write_file(d, "started", std::string(511, ' ') + "\n");
  test::write_file(d, "status", "state=SUCCEEDED\nexit=0\nsignal=0\nstart=1\nend=2\nhost=h\npid=7\nwrapper=6\nattempt=1\nwritten=1\n");
  return e.value();
}
}  // namespace

TEST_CASE("a status next to a blank started is no record (a reused folder before its task starts)", "[store]") {
  util::TempDir tmp;
  auto e = reused_folder(tmp);
  const std::string d = e.task_dir(0);
  auto f = e.facts_of(0);
  CHECK_FALSE(f.record);
  CHECK(store::decide(f).status.state == State::Pending);
  bool fresh = true;
  CHECK(e.begin_attempt(0, &fresh).value() == 1);  // no attempt to archive
  CHECK_FALSE(util::exists(d + "/attempts"));
  // Once `started` holds a record, `status` is read.
  test::write_file(d, "started", "state=RUNNING\nhost=h\npid=7\nwrapper=6\nstart=1\nattempt=3\nwritten=1\n");
  auto g = e.facts_of(0);
  REQUIRE(g.record);
  CHECK(g.record->state == "SUCCEEDED");
}

TEST_CASE("an attempt that never started is archived without the earlier task's status a reused folder holds",
          "[store]") {
  // A spare folder renamed into place for a task holds a blank `started` next to the `status` of
  // the task it was set aside from; the task is cancelled before it starts (Ctrl-C, `xrun
  // cancel`), then resumed: its attempt 1 is archived, and must not carry that other task's
  // SUCCEEDED record as its own.
  util::TempDir tmp;
  auto e = reused_folder(tmp);
  const std::string d = e.task_dir(0);
  test::write_file(d, "stdout", "");
  test::write_file(d, "stderr", "");
  REQUIRE(e.write_control(0, {"CANCELLED", "interrupted by SIGINT before it started"}).ok());
  REQUIRE(util::atomic_write(d + "/attempt", "1\n").ok());
  CHECK(e.archive_attempt(0).value() == 2);
  CHECK(test::read(d + "/attempts/1/control").find("CANCELLED") != std::string::npos);
  auto archived = util::try_read_file(d + "/attempts/1/status");
  CHECK((!archived || archived->find("SUCCEEDED") == std::string::npos));
  CHECK_FALSE(util::exists(d + "/status"));
}

TEST_CASE("an experiment id's name part", "[store]") {
  CHECK(store::name_of_id("sweep-20261122-153012-k3f9") == "sweep");
  CHECK(store::name_of_id("my-sweep-2-20261122-153012-k3f9") == "my-sweep-2");
  CHECK(store::name_of_id("sweep-2026112-153012-k3f9x") == "");  // not the shape of an id
  CHECK(store::name_of_id("-20261122-153012-k3f9") == "");
  CHECK(store::name_of_id("sweep") == "");
}
