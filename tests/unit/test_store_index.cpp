// The index of finished tasks: format, folding, merging under concurrency, damage, resume
// (reopen), cancel requests, and the states a crash can leave at every step of a fold.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <fstream>
#include <set>

#include <fmt/format.h>

#include "support/support.hpp"
#include "xrun/store/index.hpp"
#include "xrun/store/store.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using store::State;

namespace {

plan::Plan plan_of(size_t n) {
  plan::Plan p;
  p.name = "p";
  p.stages.resize(1);
  p.stages[0].name = "main";
  p.stages[0].tasks.resize(n);
  for (size_t i = 0; i < n; ++i) p.stages[0].tasks[i].index = p.stages[0].tasks[i].id = i;
  return p;
}

std::string final_record(const std::string& state, int exit, int signal = 0, int attempt = 1) {
  return fmt::format("state={}\nexit={}\nsignal={}\nhost=h1\npid=10\nwrapper=9\nstart=1.5\nend=2.5\nattempt={}\nwritten=1\n",
                     state, exit, signal, attempt);
}

struct Exp {
  util::TempDir tmp;
  store::Experiment exp{"e", tmp.path()};
  plan::Plan plan;
  explicit Exp(size_t n) : plan(plan_of(n)) { REQUIRE(util::make_dirs(tmp.path() + "/tasks").ok()); }
  std::string dir(size_t t) const { return exp.task_dir(t); }
  void put(size_t t, const std::string& file, const std::string& text) const { test::write_file(dir(t), file, text); }
  // A task that ran: records, script, attempt, output.
  void ran(size_t t, const std::string& state, int exit, int signal = 0, const std::string& out = "",
           const std::string& err = "") const {
    put(t, "attempt", "1\n");
    put(t, "cmd.sh", "true\n");
    put(t, "started", "state=RUNNING\nhost=h1\npid=10\nwrapper=9\nstart=1.5\nattempt=1\nwritten=1\n");
    put(t, "status", final_record(state, exit, signal));
    put(t, "stdout", out);
    put(t, "stderr", err);
  }
  std::vector<std::pair<State, std::string>> states() const {
    std::vector<std::pair<State, std::string>> out;
    for (const auto& f : exp.facts(plan)) {
      auto d = store::decide(f).status;
      out.emplace_back(d.state, d.reason);
    }
    return out;
  }
  std::vector<size_t> all() const {
    std::vector<size_t> ids;
    for (size_t i = 0; i < plan.task_count(); ++i) ids.push_back(i);
    return ids;
  }
  size_t inodes() const {
    size_t n = 0;
    for (const auto& name : util::list_dir(tmp.path() + "/tasks")) {
      ++n;
      n += util::list_dir(tmp.path() + "/tasks/" + name).size();
    }
    return n;
  }
};

}  // namespace

TEST_CASE("index lines round-trip and damaged lines are skipped, not believed", "[store][index]") {
  store::IndexEntry e;
  e.id = 42;
  e.record = *store::parse_wrapper_record(final_record("FAILED", 143, 15, 3));
  e.record.host = "node\t1%";
  e.control = store::ControlRecord{"TIMEOUT", "walltime of 1s exceeded\nreally"};
  e.has_stderr = true;
  std::string line = store::TaskIndex::format_entry(e);
  auto idx = store::TaskIndex::parse("# header\n" + line);
  REQUIRE(idx.size() == 1);
  CHECK(idx.damaged() == 0);
  auto back = idx.find(42);
  REQUIRE(back);
  CHECK(back->record.state == "FAILED");
  CHECK(*back->record.exit_code == 143);
  CHECK(*back->record.signal == 15);
  CHECK(back->record.attempt == 3);
  CHECK(back->record.host == "node\t1%");
  CHECK(back->control->reason == "walltime of 1s exceeded\nreally");
  CHECK(back->has_stderr);
  CHECK_FALSE(back->has_stdout);

  std::string bad = line;
  bad[3] = bad[3] == '1' ? '2' : '1';  // a changed field fails its checksum
  auto d = store::TaskIndex::parse(bad + line.substr(0, line.size() / 2));  // and a line cut short
  CHECK(d.size() == 0);
  CHECK(d.damaged() == 2);
  CHECK(store::TaskIndex::parse("\x01\x02garbage\n\n").damaged() == 1);
}

TEST_CASE("only final facts that can no longer change are foldable", "[store][index]") {
  store::TaskFacts f;
  CHECK_FALSE(store::foldable(f, false));
  f.record = *store::parse_wrapper_record("state=RUNNING\nwritten=1\n");
  CHECK_FALSE(store::foldable(f, false));
  f.record = *store::parse_wrapper_record(final_record("FAILED", 143, 15));
  CHECK(store::foldable(f, false));      // a pool: nothing runs the attempt again
  CHECK_FALSE(store::foldable(f, true));  // a scheduler may requeue a killed job
  f.control = store::ControlRecord{"TIMEOUT", "time limit"};
  CHECK(store::foldable(f, true));  // explained: final
  f.control.reset();
  f.record = *store::parse_wrapper_record(final_record("FAILED", 1));
  CHECK(store::foldable(f, true));
}

TEST_CASE("folding keeps every state and leaves few files", "[store][index]") {
  Exp x(7);
  x.ran(0, "SUCCEEDED", 0);
  x.ran(1, "SUCCEEDED", 0, 0, "hello\n");
  x.ran(2, "FAILED", 1, 0, "", "boom\n");
  x.ran(3, "FAILED", 143, 15);
  x.put(3, "control", "state=TIMEOUT\nreason=walltime of 1s exceeded\n");
  x.put(4, "attempt", "1\n");  // running
  x.put(4, "started", "state=RUNNING\nhost=h1\npid=10\nstart=1.5\nattempt=1\nwritten=1\n");
  x.put(5, "control", "state=SKIPPED\nreason=stage 'a' failed\n");  // never started
  x.ran(6, "SUCCEEDED", 0);
  x.put(6, "metrics.jsonl", "{\"loss\": 1}\n");
  auto before = x.states();
  size_t inodes_before = x.inodes();

  auto n = x.exp.fold(x.all(), false);
  REQUIRE(n.ok());
  CHECK(n.value() == 5);  // the ones with a final record
  CHECK(x.states() == before);
  auto idx = x.exp.index();
  CHECK(idx->size() == 5);
  CHECK_FALSE(idx->contains(4));
  CHECK_FALSE(idx->contains(5));
  // Records, scripts and empty output are gone; output and metrics stay.
  CHECK_FALSE(util::exists(x.dir(0)));
  CHECK(util::list_dir(x.dir(1)) == std::vector<std::string>{"stdout"});
  CHECK(util::list_dir(x.dir(2)) == std::vector<std::string>{"stderr"});
  CHECK_FALSE(util::exists(x.dir(3)));
  CHECK(util::list_dir(x.dir(6)) == std::vector<std::string>{"metrics.jsonl"});
  CHECK(util::exists(x.dir(4) + "/started"));
  CHECK(util::exists(x.dir(5) + "/control"));
  CHECK(x.inodes() < inodes_before / 3);
  CHECK(idx->find(1)->has_stdout);
  CHECK(idx->find(6)->has_metrics);
  CHECK_FALSE(idx->may_have_metrics(0));
  // One task's facts (as `logs` and the engines read them) come from the index too.
  auto f3 = x.exp.facts_of(3);
  CHECK(f3.folded);
  CHECK(store::decide(f3).status.state == State::Timeout);
  // Folding again finds nothing new.
  CHECK(x.exp.fold(x.all(), false).value() == 0);
}

TEST_CASE("a cancel request is read live, never folded", "[store][index]") {
  Exp x(2);
  x.ran(0, "FAILED", 143, 15);  // stopped by `xrun cancel` on the local pool
  x.ran(1, "FAILED", 143, 15);
  REQUIRE(x.exp.add_cancel_request({0}).ok());
  auto before = x.states();
  CHECK(before[0].first == State::Cancelled);
  CHECK(before[1].first == State::Failed);
  REQUIRE(x.exp.fold(x.all(), false).value() == 2);
  CHECK(x.states() == before);
  // Cancel requests set aside (as `resume` does) change the decision the same way with or
  // without the index.
  REQUIRE(util::rename_path(x.exp.path("cancel"), x.exp.path("cancel.1")).ok());
  CHECK(x.states()[0].first == State::Failed);
}

TEST_CASE("a scheduler's killed task is folded only once its verdict is recorded", "[store][index]") {
  Exp x(1);
  x.ran(0, "FAILED", 143, 15);
  CHECK(x.exp.fold(x.all(), true).value() == 0);  // the scheduler may requeue it
  CHECK(util::exists(x.dir(0) + "/status"));
  REQUIRE(x.exp.record_verdict(0, {"TIMEOUT", "Slurm's time limit was reached"}).value());
  CHECK(x.exp.fold(x.all(), true).value() == 1);
  CHECK(x.states()[0].first == State::Timeout);
}

TEST_CASE("a fold never waits: another process folding is left alone", "[store][index]") {
  Exp x(1);
  x.ran(0, "SUCCEEDED", 0);
  util::Fd held(::open(x.exp.path("index.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  REQUIRE(::flock(held.get(), LOCK_EX) == 0);
  auto n = x.exp.fold(x.all(), false);
  REQUIRE(n.ok());
  CHECK(n.value() == 0);
  CHECK(util::exists(x.dir(0) + "/status"));  // untouched
  held.reset();
  CHECK(x.exp.fold(x.all(), false).value() == 1);
}

TEST_CASE("concurrent folders merge: no folded task is ever lost", "[store][index]") {
  const size_t n = 400, procs = 4;
  Exp x(n);
  for (size_t t = 0; t < n; ++t) x.ran(t, t % 3 ? "SUCCEEDED" : "FAILED", t % 3 ? 0 : 1);
  auto before = x.states();
  std::vector<pid_t> kids;
  for (size_t k = 0; k < procs; ++k) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Each process folds its own interleaved share, one task at a time, and the whole
      // experiment at the end, retrying while another holds the lock.
      store::Experiment mine("e", x.tmp.path());
      for (size_t t = k; t < n; t += procs)
        while (!mine.index()->contains(t)) (void)mine.fold({t}, false);
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
  }
  store::Experiment fresh("e", x.tmp.path());
  CHECK(fresh.index()->size() == n);
  CHECK(fresh.index()->damaged() == 0);
  CHECK(x.states() == before);
  CHECK(util::list_dir(x.tmp.path() + "/tasks").empty());
}

TEST_CASE("a damaged index: its tasks are read from their records, and a fold rewrites it", "[store][index]") {
  Exp x(3);
  for (size_t t = 0; t < 3; ++t) x.ran(t, "SUCCEEDED", 0, 0, "out\n");
  auto before = x.states();
  // A crash left the records (see below), then lines of the index were damaged.
  REQUIRE(util::atomic_write(x.exp.path("index"), std::string(store::TaskIndex::header()) + "\x01garbage\n0\t1\tSUCC").ok());
  CHECK(x.exp.index()->damaged() == 2);
  CHECK_FALSE(x.exp.index_damage());  // damaged lines, not a damaged index
  CHECK(x.states() == before);
  REQUIRE(x.exp.fold(x.all(), false).value() == 3);
  CHECK(x.exp.index()->damaged() == 0);
  CHECK(x.states() == before);
  // Damage of lines after the records are gone: those tasks read as never started (resume runs them).
  REQUIRE(util::atomic_write(x.exp.path("index"), std::string(store::TaskIndex::header()) + "garbage\n").ok());
  for (const auto& [state, reason] : x.states()) CHECK(state == State::Pending);
  // The index damaged as a whole (no header, empty, missing once folded) is damage of the
  // experiment (issue 37): said, and never folded into or rewritten.
  for (std::string whole : {std::string("garbage\n"), std::string()}) {
    REQUIRE(util::atomic_write(x.exp.path("index"), whole).ok());
    CHECK(x.exp.index_damage());
    CHECK(x.exp.fold(x.all(), false).value() == 0);
    CHECK(util::try_read_file(x.exp.path("index")).value() == whole);
  }
  ::unlink(x.exp.path("index").c_str());
  CHECK(x.exp.index_damage().value().find("missing") != std::string::npos);  // `indexed` says tasks were folded
}

TEST_CASE("crash states of a fold read the same", "[store][index]") {
  Exp x(3);
  for (size_t t = 0; t < 3; ++t) x.ran(t, t == 1 ? "FAILED" : "SUCCEEDED", t == 1 ? 2 : 0, 0, "o\n", "e\n");
  x.put(1, "control", "state=TIMEOUT\nreason=walltime\n");
  auto before = x.states();
  // Crash before the index was renamed into place: only its temp file exists.
  test::write_file(x.tmp.path(), ".index.tmp.abc", "half an ind");
  CHECK(x.states() == before);
  // Crash after the index was in place, before any record was removed: both say the same.
  std::string text = "# xrun task index\n";
  for (size_t t = 0; t < 3; ++t) {
    store::IndexEntry e;
    e.id = t;
    auto f = x.exp.facts_of(t);
    e.record = *f.record;
    if (f.control) e.control = *f.control;
    e.has_stdout = e.has_stderr = true;
    text += store::TaskIndex::format_entry(e);
  }
  REQUIRE(util::atomic_write(x.exp.path("index"), text).ok());
  CHECK(x.states() == before);
  // Crash midway through removing the records: some of a task's files are gone.
  ::unlink((x.dir(0) + "/status").c_str());
  ::unlink((x.dir(1) + "/control").c_str());
  ::unlink((x.dir(1) + "/attempt").c_str());
  CHECK(x.states() == before);
  CHECK(store::decide(x.exp.facts_of(1)).status.state == State::Timeout);
  // A later fold does not fold them twice; resume reopens them from the index.
  CHECK(x.exp.fold(x.all(), false).value() == 0);
  CHECK(x.exp.index()->size() == 3);
}

TEST_CASE("resume reopens a folded task: its entry stops counting, its attempt is kept", "[store][index]") {
  Exp x(2);
  x.ran(0, "FAILED", 3, 0, "first run\n");
  x.ran(1, "SUCCEEDED", 0);
  REQUIRE(x.exp.fold(x.all(), false).value() == 2);
  CHECK(x.states()[0].first == State::Failed);

  SECTION("all at once, as `xrun resume` does, then archived as each task starts") {
    REQUIRE(x.exp.reopen({0}).ok());
    CHECK_FALSE(x.exp.index()->contains(0));
    CHECK(x.states()[0].first == State::Failed);  // the same facts, from the task's files again
  }
  SECTION("a crash after the files were written, before the index was rewritten; then again") {
    test::write_file(x.dir(0), "attempt", "1\n");
    test::write_file(x.dir(0), "started", final_record("FAILED", 3));
    test::write_file(x.dir(0), "status", final_record("FAILED", 3));
    CHECK(x.states()[0].first == State::Failed);  // both say the same
    REQUIRE(x.exp.reopen({0}).ok());
  }
  SECTION("folded again before it was archived") {
    REQUIRE(x.exp.reopen({0}).ok());
    REQUIRE(x.exp.fold({0}, false).value() == 1);
  }
  // The engine's archive: the earlier attempt is set aside, the new one is numbered after it.
  auto a = x.exp.archive_attempt(0);
  REQUIRE(a.ok());
  CHECK(a.value() == 2);
  CHECK_FALSE(x.exp.index()->contains(0));
  CHECK(x.exp.index()->contains(1));
  CHECK(x.states()[0].first == State::Pending);  // a new attempt, not started yet
  CHECK(x.states()[1].first == State::Succeeded);
  CHECK(test::read(x.dir(0) + "/attempts/1/stdout") == "first run\n");
  auto old = store::parse_wrapper_record(test::read(x.dir(0) + "/attempts/1/status"));
  REQUIRE(old);
  CHECK(*old->exit_code == 3);
  // The new attempt ends and is folded with its own number.
  x.put(0, "started", "state=RUNNING\nhost=h1\npid=11\nstart=3\nattempt=2\nwritten=1\n");
  x.put(0, "status", final_record("SUCCEEDED", 0, 0, 2));
  REQUIRE(x.exp.fold(x.all(), false).value() == 1);
  CHECK(x.exp.index()->find(0)->record.attempt == 2);
  CHECK(x.states()[0].first == State::Succeeded);
}

TEST_CASE("a folded task whose folder is gone begins its next attempt after the folded one", "[store][index]") {
  Exp x(1);
  x.ran(0, "FAILED", 1);
  REQUIRE(x.exp.fold(x.all(), false).value() == 1);
  REQUIRE_FALSE(util::exists(x.dir(0)));  // nothing of it was kept
  bool fresh = true;
  auto a = x.exp.begin_attempt(0, &fresh);
  REQUIRE(a.ok());
  CHECK(a.value() == 2);
  CHECK_FALSE(fresh);
  CHECK_FALSE(x.exp.index()->contains(0));
  CHECK(util::exists(x.dir(0) + "/attempts/1/status"));
  CHECK(x.states()[0].first == State::Pending);
}

namespace {
size_t lines_of(const std::string& text, size_t id) {
  size_t n = 0;
  for (const auto& l : util::split(text, '\n'))
    if (util::starts_with(l, std::to_string(id) + "\t")) ++n;
  return n;
}
ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}
}  // namespace

TEST_CASE("two folders in turn append to the index, and a reader parses only what was added", "[store][index]") {
  Exp x(30);
  for (size_t t = 0; t < 30; ++t) x.ran(t, "SUCCEEDED", 0);
  auto before = x.states();
  store::Experiment a("e", x.tmp.path()), b("e", x.tmp.path()), reader("e", x.tmp.path());
  REQUIRE(a.fold({0, 1, 2}, false).value() == 3);  // no index yet: written whole
  const ino_t ino = inode_of(x.exp.path("index"));
  CHECK(reader.index()->size() == 3);
  REQUIRE(b.fold({3, 4}, false).value() == 2);  // b parsed the file whole: appends
  REQUIRE(a.fold({5, 6, 7}, false).value() == 3);  // a reads b's lines, then appends
  REQUIRE(b.fold({8, 0, 3}, false).value() == 1);  // folded ones are not folded twice
  CHECK(inode_of(x.exp.path("index")) == ino);   // the same file, only appended to
  auto idx = reader.index();
  CHECK(idx->size() == 9);
  CHECK(idx->damaged() == 0);
  auto text = test::read(x.exp.path("index"));
  for (size_t t = 0; t < 9; ++t) CHECK(lines_of(text, t) == 1);
  CHECK(x.states() == before);
  // A reader holding an older index keeps it whole.
  REQUIRE(a.fold({9}, false).value() == 1);
  CHECK(idx->size() == 9);
  CHECK(reader.index()->size() == 10);
}

TEST_CASE("a crash mid-append (a last line cut short): the next fold rewrites the index whole, no task lost or doubled",
          "[store][index]") {
  Exp x(6);
  for (size_t t = 0; t < 6; ++t) x.ran(t, "SUCCEEDED", 0, 0, t == 2 ? "out\n" : "");
  auto before = x.states();
  REQUIRE(x.exp.fold({0, 1}, false).value() == 2);
  // The append of tasks 2 and 3 cut short: 2's line whole, 3's cut; their records are still
  // there (they go only once the index holding them is durable).
  std::string lines;
  for (size_t t : {2, 3}) {
    store::IndexEntry e;
    e.id = t;
    e.record = *x.exp.facts_of(t).record;
    e.has_stdout = t == 2;
    lines += store::TaskIndex::format_entry(e);
  }
  {
    util::Fd fd(::open(x.exp.path("index").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    REQUIRE(fd.valid());
    std::string cut = lines.substr(0, lines.size() - 10);
    REQUIRE(::write(fd.get(), cut.data(), cut.size()) == static_cast<ssize_t>(cut.size()));
  }
  store::Experiment reader("e", x.tmp.path());
  CHECK(reader.index()->size() == 3);
  CHECK(reader.index()->damaged() == 1);
  CHECK(x.states() == before);  // task 3 from its records
  const ino_t ino = inode_of(x.exp.path("index"));
  store::Experiment next("e", x.tmp.path());
  REQUIRE(next.fold({4}, false).value() == 1);
  CHECK(inode_of(x.exp.path("index")) != ino);  // written whole, atomically
  CHECK(reader.index()->damaged() == 0);        // the reader parses the new file whole
  CHECK(reader.index()->size() == 4);
  REQUIRE(next.fold(x.all(), false).value() == 2);  // 3 and 5; not 2 again
  auto text = test::read(x.exp.path("index"));
  for (size_t t = 0; t < 6; ++t) CHECK(lines_of(text, t) == 1);
  CHECK(x.states() == before);
  CHECK(x.exp.index()->find(2)->has_stdout);
  CHECK(test::read(x.dir(2) + "/stdout") == "out\n");
}

TEST_CASE("an index replaced while a reader has it cached is parsed whole, and so is an index edited in place",
          "[store][index]") {
  Exp x(8);
  for (size_t t = 0; t < 8; ++t) x.ran(t, t == 0 ? "FAILED" : "SUCCEEDED", t == 0 ? 1 : 0);
  store::Experiment reader("e", x.tmp.path());
  REQUIRE(x.exp.fold({0, 1, 2, 3}, false).value() == 4);
  REQUIRE(reader.index()->contains(0));
  SECTION("replaced: resume reopens a task (rewrite), then folds grow the new file") {
    REQUIRE(x.exp.reopen({0}).ok());
    REQUIRE(x.exp.fold({4, 5, 6, 7}, false).value() == 4);
    auto idx = reader.index();
    CHECK_FALSE(idx->contains(0));
    CHECK(idx->size() == 7);
    CHECK(idx->damaged() == 0);
  }
  SECTION("edited in place: a line removed, the file shorter") {
    auto text = test::read(x.exp.path("index"));
    auto first = text.find("\n0\t");
    REQUIRE(first != std::string::npos);
    auto end = text.find('\n', first + 1);
    std::string edited = text.substr(0, first + 1) + text.substr(end + 1);
    util::Fd fd(::open(x.exp.path("index").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    REQUIRE(::write(fd.get(), edited.data(), edited.size()) == static_cast<ssize_t>(edited.size()));
    CHECK_FALSE(reader.index()->contains(0));
    CHECK(reader.index()->size() == 3);
  }
  SECTION("edited in place: a line damaged, then folds: the damaged line goes with the next fold") {
    auto text = test::read(x.exp.path("index"));
    auto at = text.find("\n1\t");
    REQUIRE(at != std::string::npos);
    text[at + 3] = 'X';  // same size, a field changed: fails its checksum
    util::Fd fd(::open(x.exp.path("index").c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(::pwrite(fd.get(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
    store::Experiment folder("e", x.tmp.path());
    CHECK(folder.index()->damaged() == 1);
    REQUIRE(folder.fold({4, 5}, false).value() == 2);
    store::Experiment fresh("e", x.tmp.path());
    CHECK(fresh.index()->damaged() == 0);  // not warned about on every read from now on
    CHECK(fresh.index()->size() == 5);     // task 1 is lost with its line (its records were gone)
    CHECK_FALSE(fresh.index()->contains(1));
  }
}

TEST_CASE("a task whose process group still runs here is folded only once the group is gone", "[store][index]") {
  Exp x(2);
  // A background job of the task that outlived its shell: its own group, as the worker starts it.
  pid_t kid = ::fork();
  REQUIRE(kid >= 0);
  if (kid == 0) {
    ::setpgid(0, 0);
    ::execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(kid, kid);
  for (size_t t = 0; t < 2; ++t) x.ran(t, "SUCCEEDED", 0);
  // Task 0 ran here in group `kid`; task 1 on another host under the same number.
  x.put(0, "status",
        fmt::format("state=SUCCEEDED\nexit=0\nsignal=0\nhost={}\npid={}\nwrapper=1\nstart=1.5\nend=2.5\nattempt=1\nwritten=1\n",
                    util::hostname(), kid));
  x.put(1, "status",
        fmt::format("state=SUCCEEDED\nexit=0\nsignal=0\nhost=elsewhere\npid={}\nwrapper=1\nstart=1.5\nend=2.5\nattempt=1\nwritten=1\n",
                    kid));
  CHECK(x.exp.fold(x.all(), false).value() == 1);
  CHECK_FALSE(x.exp.index()->contains(0));
  CHECK(util::exists(x.dir(0) + "/stdout"));  // still open for the group's output
  ::kill(-kid, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(kid, &status, 0) == kid);
  CHECK(x.exp.fold(x.all(), false).value() == 1);
  CHECK(x.exp.index()->contains(0));
}

TEST_CASE("a spare folder renamed into place is its task's first attempt, also after a crash before the task started",
          "[store][index]") {
  Exp x(3);
  x.ran(0, "SUCCEEDED", 0);
  std::set<size_t> recycle{0};
  std::vector<std::string> spares;
  REQUIRE(x.exp.fold({0}, false, &recycle, &spares).value() == 1);
  REQUIRE(spares == std::vector<std::string>{"0"});
  // Kept in place, listed for the next runner, its `started` blank; read from the index.
  CHECK(util::exists(x.dir(0) + "/started"));
  CHECK(test::read(x.exp.path("spares")) == "0\n");
  CHECK(x.states()[0].first == State::Succeeded);
  bool fresh = false;
  auto a = x.exp.begin_attempt(1, &fresh, &spares);
  REQUIRE(a.ok());
  CHECK(a.value() == 1);
  CHECK(fresh);
  CHECK(spares.empty());
  CHECK_FALSE(util::exists(x.dir(0)));  // renamed to task 1's
  // Task 0's records are in it, blanked: task 1 reads as not started.
  CHECK(util::exists(x.dir(1) + "/started"));
  CHECK(x.states()[1].first == State::Pending);
  CHECK(x.exp.facts_of(1).record == std::nullopt);
  // The runner is killed before task 1 starts; a resume begins it again: the same attempt, no
  // attempt of blanks archived.
  x.put(1, "cmd.sh", "true\n");
  auto again = x.exp.begin_attempt(1, &fresh);
  REQUIRE(again.ok());
  CHECK(again.value() == 1);
  CHECK_FALSE(util::exists(x.dir(1) + "/attempts"));
  // A record that was written is an attempt's, as before.
  x.put(1, "started", "state=RUNNING\nhost=h1\npid=10\nwrapper=9\nstart=1.5\nattempt=1\nwritten=1\n");
  auto third = x.exp.begin_attempt(1, &fresh);
  REQUIRE(third.ok());
  CHECK(third.value() == 2);
  CHECK(util::exists(x.dir(1) + "/attempts/1/started"));
  CHECK(x.states()[0].first == State::Succeeded);
}

TEST_CASE("spare folders left by a killed runner are tidied by the next one: only folded tasks' folders",
          "[store][index]") {
  Exp x(4);
  x.ran(0, "SUCCEEDED", 0);
  x.ran(1, "SUCCEEDED", 0);
  std::set<size_t> recycle{0, 1};
  std::vector<std::string> spares;
  REQUIRE(x.exp.fold({0, 1}, false, &recycle, &spares).value() == 2);
  REQUIRE(spares.size() == 2);
  // The runner dies; its list also names task 2, which runs now (not folded): left alone.
  x.put(2, "started", "state=RUNNING\nhost=h1\npid=10\nwrapper=9\nstart=1.5\nattempt=1\nwritten=1\n");
  {
    std::ofstream list(x.exp.path("spares"), std::ios::app);
    list << "2\n../x\n";
  }
  x.exp.remove_spares();
  CHECK_FALSE(util::exists(x.dir(0)));
  CHECK_FALSE(util::exists(x.dir(1)));
  CHECK(util::exists(x.dir(2) + "/started"));
  CHECK_FALSE(util::exists(x.exp.path("spares")));
  CHECK(x.states()[0].first == State::Succeeded);
  CHECK(x.states()[2].first == State::Running);
}
