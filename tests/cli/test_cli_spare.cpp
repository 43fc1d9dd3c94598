// Reused (spare) task folders and the appended index of finished tasks under faults: kill -9 of
// the runner, folders reused while a reader looks, background jobs that outlive their task,
// tasks that leave files behind, and the index folded in turn by the runner and by readers.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "support/env.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;
using test::wait_for_id;

namespace {


// How many lines of `file` say each word.
std::map<std::string, int> tally(const std::string& file) {
  std::map<std::string, int> n;
  for (const auto& l : util::split(test::read(file), '\n'))
    if (!l.empty()) ++n[l];
  return n;
}

// How many lines of the index hold each task id (the header aside).
std::map<std::string, int> index_lines(const std::string& dir) {
  std::map<std::string, int> n;
  for (const auto& l : util::split(test::read(dir + "/index"), '\n'))
    if (!l.empty() && l[0] != '#') ++n[l.substr(0, l.find('\t'))];
  return n;
}

// A file of `n` tasks that echo their number to ran.txt, task `waiting` only once `go` exists.
std::string waiting_for_go(const Env& e, int n, int waiting) {
  return e.file("exp.yml", fmt::format("command: 'if [ {{i}} = {} ]; then for k in $(seq 600); do [ -e go ] && break; "
                                       "sleep 0.05; done; fi; echo {{i}} >> ran.txt'\nvariables:\n  i:\n    arange: {}\n",
                                       waiting, n));
}

// The folders a runner listed in `spares` that are still there.
std::vector<std::string> kept_spares(const std::string& dir) {
  std::vector<std::string> kept;
  for (const auto& name : util::split(test::read(dir + "/spares"), '\n'))
    if (!name.empty() && util::is_dir(dir + "/tasks/" + name)) kept.push_back(name);
  return kept;
}

// Runs a file that succeeds; returns the experiment's id and folder.
std::pair<std::string, std::string> run_ok(const Env& e, const std::string& file) {
  auto r = e.x({"run", file, "-j", "2", "-q"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  return {id, e.exp_dir(id)};
}

}  // namespace

TEST_CASE("kill -9 of the runner while tasks run in reused folders: each end recorded once, each task run once, "
          "the kept folders tidied by the next runner and never read", "[cli][spare][faults]") {
  Env e;
  const int n = 400;
  auto f = e.file("exp.yml", "command: 'echo {i} >> ran.txt; sleep 0.02'\nvariables:\n  i:\n    arange: " +
                                 std::to_string(n) + "\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  const std::string dir = e.exp_dir(id);
  // Once some folded tasks' folders were set aside and reused.
  REQUIRE(test::eventually([&] { return tally(e.path("ran.txt")).size() > 150; }, 60));
  ::kill(b.pid, SIGKILL);
  b.wait();
  // The workers record the end of the tasks they ran, then exit: nothing stays RUNNING.
  REQUIRE(test::eventually([&] { return e.status(id)["counts"]["RUNNING"] == 0; }, 20));
  auto s = e.status(id);  // (this read folds what the dead runner left, appending to its index)
  CHECK(s["state"] == "incomplete");
  CHECK(s["counts"]["SUCCEEDED"].get<int>() == static_cast<int>(tally(e.path("ran.txt")).size()));
  CHECK(s["counts"]["FAILED"] == 0);
  CHECK(s["counts"]["LOST"] == 0);
  // The folders the dead runner kept to reuse are folded tasks' (listed in `spares`): never read,
  // not even a forged record and log planted in one.
  std::vector<std::string> kept = kept_spares(dir);
  REQUIRE_FALSE(kept.empty());
  const std::string planted = dir + "/tasks/" + kept.front();
  test::write_file(planted, "started", "state=RUNNING\nhost=h\npid=1\nwrapper=1\nstart=1\nattempt=1\nwritten=1\n");
  test::write_file(planted, "status",
                   "state=FAILED\nexit=3\nsignal=0\nhost=h\npid=1\nwrapper=1\nstart=1\nend=2\nattempt=1\nwritten=1\n");
  CHECK(e.state(id, std::stoul(kept.front())) == "SUCCEEDED");
  CHECK(e.x({"logs", id, kept.front()}).out.empty());
  util::remove_all(planted);  // (a forged record is not the runner's to tidy: it would stay)
  kept.erase(kept.begin());

  auto r = e.x({"resume", id, "--quiet"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK_FALSE(util::exists(dir + "/spares"));
  for (const auto& name : kept) CHECK_FALSE(util::exists(dir + "/tasks/" + name));  // tidied
  auto after = e.status(id);
  CHECK(after["state"] == "succeeded");
  for (const auto& t : after["tasks"]) CHECK(t["attempt"] == 1);  // no attempt of blanks, none rerun
  auto ran = tally(e.path("ran.txt"));
  CHECK(ran.size() == static_cast<size_t>(n));
  for (const auto& [word, times] : ran) {
    INFO("task " << word);
    CHECK(times == 1);
  }
  // The index holds each task once, whoever folded it (runner, reader, resumed runner).
  auto lines = index_lines(dir);
  CHECK(lines.size() == static_cast<size_t>(n));
  for (const auto& [task, times] : lines) {
    INFO("task " << task);
    CHECK(times == 1);
  }
  auto text = e.x({"status", id});
  CHECK(text.err.find("damaged") == std::string::npos);
  for (const auto& t : util::list_dir(dir + "/tasks")) CHECK_FALSE(util::exists(dir + "/tasks/" + t + "/attempts"));
}

TEST_CASE("a reused folder shows nothing of its earlier task: PENDING with empty logs until its task starts, "
          "and a first attempt after a crash", "[cli][spare][faults]") {
  Env e;
  // Tasks 0-99 end at once (their folders are folded and set aside); task 100 waits for `go`
  // while task 101 is prepared in a reused folder.
  auto f = waiting_for_go(e, 103, 100);
  auto b = e.bg({"run", f, "-j", "1", "--quiet"});
  std::string id = wait_for_id(b);
  const std::string dir = e.exp_dir(id);
  // (Task 101 is prepared ahead: a reused folder, renamed into place with its blanked records.)
  REQUIRE(test::eventually([&] { return e.state(id, 100) == "RUNNING" && util::exists(dir + "/tasks/101/started"); }, 60));
  CHECK_FALSE(util::exists(dir + "/tasks/101/cmd.sh"));  // no earlier task's script
  auto s = e.status(id);
  CHECK(s["tasks"][101]["state"] == "PENDING");
  CHECK(s["tasks"][101]["exit_code"].is_null());
  for (bool err : {false, true}) {
    auto l = e.x(err ? std::vector<std::string>{"logs", id, "101", "--stderr"} : std::vector<std::string>{"logs", id, "101"});
    CHECK(l.code == 0);
    CHECK(l.out.empty());
  }
  // The runner is killed there; the resume runs 101 as its first attempt.
  ::kill(b.pid, SIGKILL);
  b.wait();
  e.file("go", "");
  REQUIRE(test::eventually([&] { return e.state(id, 100) == "SUCCEEDED"; }, 20));
  CHECK(e.state(id, 101) == "PENDING");
  auto r = e.x({"resume", id, "--quiet"});
  CHECK(r.code == 0);
  s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][101]["attempt"] == 1);
  CHECK(s["tasks"][100]["attempt"] == 1);
  CHECK_FALSE(util::exists(dir + "/tasks/101/attempts"));
  CHECK(e.x({"logs", id, "101", "--attempt", "2"}).code != 0);
  auto ran = tally(e.path("ran.txt"));
  CHECK(ran.size() == 103);
  for (const auto& [word, times] : ran) CHECK(times == 1);
}

TEST_CASE("a background job that outlives its task: its folder is not reused, its later output stays in its own log",
          "[cli][spare]") {
  Env e;
  // Task 0 leaves a job that prints once the run is over; the others end at once (their
  // folders are reused).
  auto f = e.file("exp.yml",
                  "command: 'if [ {i} = 0 ]; then (sleep 3; echo late {i}; echo late err >&2) & fi; true'\n"
                  "variables:\n  i:\n    arange: 150\n");
  const auto [id, dir] = run_ok(e, f);
  CHECK(test::eventually([&] { return e.x({"logs", id, "0"}).out == "late 0\n"; }, 20));
  CHECK(e.x({"logs", id, "0", "--stderr"}).out == "late err\n");
  // Nowhere else.
  for (int t = 1; t < 150; ++t) {
    auto l = test::read(dir + "/tasks/" + std::to_string(t) + "/stdout");
    if (!l.empty()) FAIL("task " << t << "'s log holds: " << l);
  }
  // Once the job is gone, a reader folds the task with its output.
  CHECK(test::eventually([&] { return e.status(id)["state"] == "succeeded" && index_lines(dir).count("0") == 1; }, 10));
  CHECK(e.x({"logs", id, "0"}).out == "late 0\n");
}

TEST_CASE("tasks that wrote output, metrics or files into their folder keep them - logs of every task unchanged",
          "[cli][spare]") {
  Env e;
  auto f = e.file("exp.yml",
                  "command: |\n"
                  "  case $(({i} % 5)) in\n"
                  "    1) echo out {i} ;;\n"
                  "    2) echo err {i} >&2 ;;\n"
                  "    3) echo '{{\"m\": {i}}}' >> \"$XRUN_METRICS\" ;;\n"
                  "    4) echo file {i} > \"$XRUN_TASK_DIR/made\" ;;\n"
                  "  esac\n"
                  "variables:\n  i:\n    arange: 200\n");
  const auto [id, dir] = run_ok(e, f);
  auto s = e.status(id);
  for (int i = 0; i < 200; ++i) {
    INFO("task " << i);
    const std::string t = std::to_string(i);
    auto out = e.x({"logs", id, t}).out;
    auto err = e.x({"logs", id, t, "--stderr"}).out;
    CHECK(out == (i % 5 == 1 ? "out " + t + "\n" : ""));
    CHECK(err == (i % 5 == 2 ? "err " + t + "\n" : ""));
    if (i % 5 == 3) CHECK(s["tasks"][i]["metrics"]["m"] == i);
    if (i % 5 == 4) CHECK(test::read(dir + "/tasks/" + t + "/made") == "file " + t + "\n");
    else CHECK_FALSE(util::exists(dir + "/tasks/" + t + "/made"));
    if (i % 5 == 0) CHECK_FALSE(util::exists(dir + "/tasks/" + t));
  }
  CHECK_FALSE(util::exists(dir + "/spares"));
}

TEST_CASE("kill -9 of the runner near the end: resume has nothing to run, and tidies the folders the dead runner "
          "kept to reuse", "[cli][spare][faults]") {
  Env e;
  // Tasks 0-58 end at once (their folders folded and kept to reuse); task 59 waits for `go`.
  auto f = waiting_for_go(e, 60, 59);
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  const std::string dir = e.exp_dir(id);
  REQUIRE(test::eventually([&] { return tally(e.path("ran.txt")).size() == 59 && util::exists(dir + "/spares"); }, 60));
  ::kill(b.pid, SIGKILL);
  b.wait();
  e.file("go", "");
  REQUIRE(test::eventually([&] { return e.status(id)["state"] == "succeeded"; }, 30));
  std::vector<std::string> kept = kept_spares(dir);
  REQUIRE_FALSE(kept.empty());
  auto r = e.x({"resume", id});
  CHECK(r.code == 0);
  CHECK(r.err.find("nothing to resume") != std::string::npos);
  CHECK_FALSE(util::exists(dir + "/spares"));
  for (const auto& name : kept) CHECK_FALSE(util::exists(dir + "/tasks/" + name));  // tidied
  CHECK(tally(e.path("ran.txt")).size() == 60);
}
