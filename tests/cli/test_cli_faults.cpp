// Faults: cancel from another shell, signals to the runner, kill -9, resume, bad stores.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "support/env.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;
using test::wait_for_id;

namespace {
bool pid_gone(const std::string& pidfile) {
  auto t = test::read(pidfile);
  if (t.empty()) return false;
  long pid = std::stol(t);
  auto stat = test::read("/proc/" + std::to_string(pid) + "/stat");
  // gone, or a zombie waiting for its reaper
  return ::kill(static_cast<pid_t>(pid), 0) != 0 || stat.find(") Z ") != std::string::npos;
}
// Some process of group `pg` is alive (zombies waiting for their reaper do not count).
bool group_alive(long pg) {
  for (const auto& name : util::list_dir("/proc")) {
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto stat = test::read("/proc/" + name + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    auto fields = util::split(stat.substr(close + 2), ' ');
    if (fields.size() > 2 && fields[0] != "Z" && std::stol(fields[2]) == pg) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("cancel one running task from another shell - the others go on", "[cli][cancel]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo $$ > pid-{i}; sleep {t}'\nvariables:\n  i: [0, 1]\n  t: [2]\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && util::exists(e.path("pid-0")); }));
  auto c = e.x({"cancel", id, "0"});
  CHECK(c.code == 0);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "CANCELLED"; }, 10));
  CHECK(test::eventually([&] { return pid_gone(e.path("pid-0")); }, 5));
  CHECK(b.wait() == 1);
  CHECK(e.state(id, 1) == "SUCCEEDED");
  auto again = e.x({"cancel", id, "0"});  // idempotent
  CHECK(again.code == 0);
  CHECK(e.state(id, 0) == "CANCELLED");
}

TEST_CASE("cancel a whole experiment: pending tasks never start", "[cli][cancel]") {
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - command: 'touch started-{i}; sleep 5'\n  - command: touch stage2\nvariables:\n  i: [0, 1, 2, 3]\n");
  auto b = e.bg({"run", f, "-j", "1", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }));
  auto c = e.x({"cancel", id});
  CHECK(c.code == 0);
  CHECK(b.wait(20) == 1);
  auto s = e.status(id);
  for (size_t t = 0; t < 5; ++t) CHECK(s["tasks"][t]["state"] == "CANCELLED");
  CHECK(s["state"] == "cancelled");
  CHECK_FALSE(util::exists(e.path("started-1")));
  CHECK_FALSE(util::exists(e.path("stage2")));
  CHECK(e.x({"cancel", id}).code == 0);
}

TEST_CASE("Ctrl-C, SIGTERM and SIGHUP kill every task's process group: CANCELLED, exit 130", "[cli][signals]") {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    Env e;
    INFO("signal " << sig);
    auto f = e.file("exp.yml", "command: 'sleep 30 & echo $! > child-{i}; wait'\nvariables:\n  i: [0, 1, 2]\n");
    auto b = e.bg({"run", f, "-j", "2", "--quiet"});
    std::string id = wait_for_id(b);
    REQUIRE(test::eventually([&] { return util::exists(e.path("child-0")) && util::exists(e.path("child-1")); }));
    ::kill(b.pid, sig);
    CHECK(b.wait(20) == 130);
    auto s = e.status(id);
    CHECK(s["tasks"][0]["state"] == "CANCELLED");
    CHECK(s["tasks"][1]["state"] == "CANCELLED");
    CHECK(s["tasks"][2]["state"] == "CANCELLED");
    CHECK(s["runner"]["state"] == "interrupted");
    CHECK(test::eventually([&] { return pid_gone(e.path("child-0")) && pid_gone(e.path("child-1")); }, 5));
  }
}

TEST_CASE("kill -9 of the runner: no task RUNNING forever - resume completes without rerunning successes",
          "[cli][faults]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep 1; echo {i} >> ran.txt'\nvariables:\n  i: [0, 1, 2, 3, 4]\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }));
  ::kill(b.pid, SIGKILL);
  b.wait();
  // The wrappers outlive the runner and record their own end.
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "SUCCEEDED" && e.state(id, 1) == "SUCCEEDED"; }, 10));
  auto s = e.status(id);
  CHECK(s["state"] == "incomplete");
  CHECK(s["tasks"][4]["state"] == "PENDING");
  auto r = e.x({"resume", id, "--quiet"});
  CHECK(r.code == 0);
  CHECK(first_line(r.out) == id);
  auto after = e.status(id);
  CHECK(after["state"] == "succeeded");
  CHECK(after["tasks"][0]["attempt"] == 1);  // not rerun
  auto ran = test::read(e.path("ran.txt"));
  CHECK(std::count(ran.begin(), ran.end(), '\n') == 5);
}

TEST_CASE("resume right after kill -9 waits for still-running tasks instead of starting them twice",
          "[cli][faults]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo start {i} >> ran.txt; sleep 2'\nvariables:\n  i: [0, 1, 2]\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "RUNNING"; }));
  ::kill(b.pid, SIGKILL);
  b.wait();
  auto r = e.x({"resume", id, "--quiet"});
  CHECK(r.code == 0);
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][0]["attempt"] == 1);
  CHECK(s["tasks"][1]["attempt"] == 1);
  auto ran = test::read(e.path("ran.txt"));
  CHECK(std::count(ran.begin(), ran.end(), '\n') == 3);  // each task started once
}

TEST_CASE("a task whose whole group died with the runner is LOST - resume reruns it", "[cli][faults]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo $$ > pgid; sleep 30'\n");
  auto b = e.bg({"run", f, "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }));
  // The task's process group and the wrapper that would record its end, gone with the runner.
  auto [group, wrapper] = e.started_pids(id, 0);
  ::kill(b.pid, SIGKILL);
  ::kill(static_cast<pid_t>(wrapper), SIGKILL);
  ::kill(static_cast<pid_t>(-group), SIGKILL);
  b.wait();
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "LOST"; }, 10));
  CHECK_FALSE(e.status(id)["tasks"][0]["reason"].is_null());
  auto g = e.file("exp.yml", "command: 'echo $$ > pgid; sleep 30'\n");  // same file; resume uses the stored plan
  (void)g;
  // Make the rerun quick by cancelling it once it starts again.
  auto r = e.bg({"resume", id, "--quiet"});
  REQUIRE(test::eventually([&] { return e.status(id)["tasks"][0]["attempt"] == 2 && e.state(id, 0) == "RUNNING"; }));
  CHECK(util::exists(e.exp_dir(id) + "/tasks/0/attempts/1/started"));  // LOST: started, never ended
  CHECK(e.x({"cancel", id}).code == 0);
  CHECK(r.wait(20) == 1);
}

TEST_CASE("resume reruns only failed tasks and keeps every attempt's logs", "[cli][faults]") {
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - command: 'echo try; test -e ok-{i} || test {i} -ne 1'\n  - command: echo after\nvariables:\n  i: [0, 1, 2]\n");
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 1);
  std::string id = first_line(r.out);
  CHECK(e.state(id, 3) == "SKIPPED");
  CHECK(e.x({"resume", id, "--quiet"}).code == 1);  // still failing
  e.file("ok-1", "");
  auto ok = e.x({"resume", id, "--quiet"});
  CHECK(ok.code == 0);
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][0]["attempt"] == 1);
  CHECK(s["tasks"][1]["attempt"] == 3);
  CHECK(e.x({"logs", id, "1", "--attempt", "1"}).out == "try\n");
  CHECK(e.x({"logs", id, "1", "--attempt", "3"}).out == "try\n");
  auto nothing = e.x({"resume", id});
  CHECK(nothing.code == 0);
  CHECK(nothing.err.find("nothing to resume") != std::string::npos);
}

TEST_CASE("resume refuses while the experiment's runner is alive", "[cli][faults]") {
  Env e;
  auto f = e.file("exp.yml", "command: sleep 3\n");
  auto r = e.x({"run", f, "--detach"});
  std::string id = first_line(r.out);
  auto again = e.x({"resume", id});
  CHECK(again.code == 2);
  CHECK(again.err.find("still being run") != std::string::npos);
  CHECK(e.x({"cancel", id}).code == 0);
}

TEST_CASE("a full disk is a clear error and never a corrupt store", "[cli][faults]") {
  Env e;
  std::string mnt = e.path("small");
  REQUIRE(util::make_dirs(mnt).ok());
  auto m = test::run_program({"mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt}, {});
  if (m.code != 0) {
    std::cout << "SKIPPED: cannot mount a small tmpfs here (needs root): " << m.err << std::endl;
    xrun::test::skip_exit();
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { test::run_program({"umount", "-l", dir}, {}); }
  } unmount{mnt};
  auto f = e.file("exp.yml", "command: 'head -c 20000 /dev/zero; echo {i}'\nvariables:\n  i:\n    arange: 40\n");
  // A store that fills up while the experiment runs.
  auto r = e.x({"--store", mnt + "/store", "run", f, "-j", "2", "--quiet"});
  CHECK_FALSE(r.timed_out);
  CHECK(r.code == 1);  // a runtime failure
  auto s = e.x({"--store", mnt + "/store", "status", "--json"});
  REQUIRE(s.code == 0);
  auto j = nlohmann::json::parse(s.out);  // whatever was recorded is whole and readable
  CHECK(j["tasks"].size() == 40);
  CHECK(j["state"] != "succeeded");
  // A store with no room at all: refused before anything starts, nothing half-made listed.
  test::run_program({"sh", "-c", "cat /dev/zero > " + mnt + "/filler"}, {});
  auto full = e.x({"--store", mnt + "/store2", "run", f});
  CHECK(full.code == 1);
  CHECK(full.err.find("No space left on device") != std::string::npos);
  CHECK(full.err.find("hint:") != std::string::npos);
  auto l = e.x({"--store", mnt + "/store2", "list", "--json"});
  CHECK(l.code == 0);
  CHECK(nlohmann::json::parse(l.out.empty() ? "[]" : l.out).empty());
}

TEST_CASE("an unusable store is a clear error, never a crash or a half-made experiment", "[cli][faults]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'true'\n");
  e.file("not-a-dir", "x");
  auto r = e.x({"--store", e.path("not-a-dir/store"), "run", f});
  CHECK(r.code == 1);  // the store cannot be written: a runtime failure
  CHECK(r.err.find("error:") != std::string::npos);
  CHECK(r.err.find("hint:") != std::string::npos);
  auto s = e.x({"--store", e.path("empty-store"), "status"});
  CHECK(s.code == 2);
  CHECK(s.err.find("no experiments") != std::string::npos);
}

TEST_CASE("walltime and Ctrl-C: SIGKILL after the grace reaches a group member that ignores SIGTERM, even when the "
          "group's leader has exited", "[cli][faults]") {
  Env e;
  // The task's shell dies at SIGTERM; its child ignores SIGTERM and would outlive it.
  auto f = e.file("exp.yml",
                  "command: '(trap \"\" TERM; exec sleep 300) & echo $! > {n}.pid; sleep 100'\n"
                  "variables:\n  n: [a]\nlocal:\n  walltime: '0:02'\n  kill_grace: 1\n");
  auto r = e.x({"run", f, "-q"});
  CHECK(r.code == 1);
  CHECK(e.status(first_line(r.out))["tasks"][0]["state"] == "TIMEOUT");
  CHECK(test::eventually([&] { return pid_gone(e.path("a.pid")); }, 10));
  if (!pid_gone(e.path("a.pid"))) ::kill(static_cast<pid_t>(std::stol(test::read(e.path("a.pid")))), SIGKILL);

  auto g = e.file("int.yml",
                  "command: '(trap \"\" TERM INT HUP; exec sleep 300) & echo $! > {n}.pid; sleep 100'\n"
                  "variables:\n  n: [b]\nlocal:\n  kill_grace: 1\n");
  auto b = e.bg({"run", g, "-q"});
  REQUIRE(test::eventually([&] { return util::exists(e.path("b.pid")) && !test::read(e.path("b.pid")).empty(); }));
  ::kill(b.pid, SIGINT);
  CHECK(b.wait(30) == 130);
  CHECK(test::eventually([&] { return pid_gone(e.path("b.pid")); }, 10));
  if (!pid_gone(e.path("b.pid"))) ::kill(static_cast<pid_t>(std::stol(test::read(e.path("b.pid")))), SIGKILL);
}

// A store on a small tmpfs (root only); SKIPPED with the reason elsewhere.
struct SmallStore {
  std::string dir;
  explicit SmallStore(const Env& e, const std::string& size) : dir(e.path("small")) {
    REQUIRE(util::make_dirs(dir).ok());
    auto m = test::run_program({"mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir}, {});
    if (m.code != 0) {
      std::cout << "SKIPPED: cannot mount a small tmpfs here (needs root): " << m.err << std::endl;
      xrun::test::skip_exit();
    }
  }
  ~SmallStore() { test::run_program({"umount", "-l", dir}, {}); }
};

TEST_CASE("kill -9 of the runner, then resume with -j 1: a task that ended under the old wrapper never starts again",
          "[cli][faults]") {
  Env e;
  // Task 1 ends first, while task 0 still runs: a resume with one slot must neither wait for a
  // slot to adopt task 1 nor start it again once it has ended.
  auto f = e.file("exp.yml", "command: 'echo start {i} >> ran.txt; sleep {t}'\nvariables:\n  zip:\n    i: [0, 1]\n    t: [3, 1]\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "RUNNING"; }));
  ::kill(b.pid, SIGKILL);
  b.wait();
  auto r = e.x({"resume", id, "-j", "1", "--quiet"});
  CHECK(r.code == 0);
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][0]["attempt"] == 1);
  CHECK(s["tasks"][1]["attempt"] == 1);
  auto ran = util::split(test::read(e.path("ran.txt")), '\n');
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"", "start 0", "start 1"});  // each task started once
}

TEST_CASE("kill -9 of a pool worker: the task stays RUNNING while its group lives, then ends once with its real end",
          "[cli][faults]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo start {i} >> ran.txt; sleep 2; exit {i}'\nvariables:\n  i: [0, 3]\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "RUNNING"; }));
  auto [group0, worker0] = e.started_pids(id, 0);
  auto [group1, worker1] = e.started_pids(id, 1);
  REQUIRE(worker0 != group0);  // run by a long-lived worker
  ::kill(static_cast<pid_t>(worker0), SIGKILL);
  ::kill(static_cast<pid_t>(worker1), SIGKILL);
  ::usleep(300000);
  CHECK(e.state(id, 0) == "RUNNING");  // its group still runs
  CHECK(e.state(id, 1) == "RUNNING");
  CHECK(b.wait(20) == 1);  // task 1 exits 3
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][1]["state"] == "FAILED");
  CHECK(s["tasks"][1]["exit_code"] == 3);
  CHECK(s["tasks"][0]["attempt"] == 1);
  CHECK(test::read(e.path("ran.txt")).size() == std::string("start 0\nstart 3\n").size());
}

TEST_CASE("kill -9 of busy pool workers, again and again: every task runs exactly once, the unstarted ones run elsewhere",
          "[cli][faults]") {
  Env e;
  // Short tasks: each worker holds the tasks it starts next (two), which the kill takes with it.
  const int n = 4000;
  auto f = e.file("exp.yml", fmt::format("command: 'echo {{i}} >> ran.txt'\nvariables:\n  i:\n    arange: {}\n", n));
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  auto lines = [&] { return util::split(test::read(e.path("ran.txt")), '\n').size(); };
  // 30 times, the workers are killed: the runner's children that run `xrun _worker` (the ones
  // it started after the last kill, each time; not a worker's own child before it has become the
  // task's shell, which shows the worker's command line too). Before the fix, about one kill in
  // three came while a worker was starting a task, and that task ran twice: 30 kills never all
  // missed (93 double runs in 317 kills).
  const size_t kills = 30;
  for (size_t k = 1; k <= kills; ++k) {
    REQUIRE(test::eventually([&] { return lines() > k * 120; }));
    // (Found first, then killed: a killed worker's child that has not run its exec yet, handed
    // to the runner, shows the worker's command line too.)
    std::vector<pid_t> workers;
    for (const auto& name : util::list_dir("/proc")) {
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      auto stat = util::try_read_file("/proc/" + name + "/stat");
      auto cmd = util::try_read_file("/proc/" + name + "/cmdline");
      if (!stat || !cmd || cmd->find("_worker") == std::string::npos) continue;
      auto fields = util::split(stat->substr(stat->rfind(')') + 2), ' ');  // state ppid ...
      if (fields.size() > 1 && fields[1] == std::to_string(b.pid)) workers.push_back(static_cast<pid_t>(std::stol(name)));
    }
    size_t killed = 0;
    for (pid_t w : workers) killed += ::kill(w, SIGKILL) == 0;
    CHECK(killed == 2);
  }
  CHECK(b.wait(60) == 0);
  auto s = e.status(id);
  CHECK(s["counts"]["SUCCEEDED"] == n);
  // Each task ran once: a task's start is recorded by its shell's process before the shell runs,
  // and the runner reads a killed worker's end only once that process has run its exec or ended
  // (it holds the worker's pipe until then): a worker killed while it starts a task never leaves
  // a copy running that the runner does not know and starts again.
  std::map<std::string, int> runs;
  for (const auto& l : util::split(test::read(e.path("ran.txt")), '\n'))
    if (!l.empty()) ++runs[l];
  CHECK(runs.size() == static_cast<size_t>(n));
  int twice = 0;
  for (const auto& [task, k] : runs) twice += k > 1 ? k - 1 : 0;
  CHECK(twice == 0);
}

TEST_CASE("a store that fills up mid-run: finished tasks keep their end, resume never reruns them, the runner did not die",
          "[cli][faults]") {
  Env e;
  SmallStore small(e, "1m");
  const std::string store = small.dir + "/store";
  // Task 0 fills the store once tasks 1 and 2 have started; they end once it is full.
  const std::string up = e.path("up-");
  auto f = e.file("exp.yml",
                  "command: 'touch " + up + "{i}; if [ {i} = 0 ]; then while [ ! -e " + up + "1 ] || [ ! -e " + up +
                      "2 ]; do sleep 0.05; done; cat /dev/zero > \"$XRUN_TASK_DIR/../../../../fill\" 2>/dev/null; fi; "
                      "sleep 1; echo {i} >> " + e.path("ran.txt") + "'\nvariables:\n  i:\n    arange: 6\n");
  auto r = e.x({"--store", store, "run", f, "-j", "3", "--quiet"});
  CHECK(r.code == 1);
  CHECK(r.err.find("the run store cannot be written") != std::string::npos);
  std::string id = first_line(r.out);
  auto st = e.x({"--store", store, "status", id, "--json"});
  REQUIRE(st.code == 0);
  auto s = nlohmann::json::parse(st.out);
  for (int i = 0; i < 3; ++i) CHECK(s["tasks"][i]["state"] == "SUCCEEDED");  // their end is known
  for (int i = 3; i < 6; ++i) CHECK(s["tasks"][i]["state"] == "PENDING");    // never started
  auto text = e.x({"--store", store, "status", id});
  CHECK(text.out.find("died") == std::string::npos);  // the runner ended normally
  ::unlink((store + "/fill").c_str());
  auto again = e.x({"--store", store, "resume", id, "--quiet"});
  CHECK(again.code == 0);
  auto ran = util::split(test::read(e.path("ran.txt")), '\n');
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"", "0", "1", "2", "3", "4", "5"});  // each task ran once
}

TEST_CASE("a store out of inodes: a task whose output cannot be made stays PENDING (never FAILED 126), the run stops "
          "as on a full disk, resume runs each task once", "[cli][faults]") {
  // Task 0 takes every inode left but `free`, so that the next task runs out at each step of
  // its start in turn: its folder, its two records, its stdout, its stderr, the index.
  for (int free = 0; free <= 6; ++free) {
    DYNAMIC_SECTION("inodes left after task 0: " << free) {
      Env e;
      SmallStore small(e, "16m,nr_inodes=400");
      const std::string store = small.dir + "/store";
      const std::string fill = small.dir + "/fill";
      auto f = e.file("exp.yml",
                      "command: 'if [ {i} = 0 ]; then mkdir -p " + fill + "; n=0; while touch " + fill +
                          "/$n 2>/dev/null; do n=$((n+1)); done; k=" + std::to_string(free) +
                          "; while [ $k -gt 0 ]; do n=$((n-1)); rm " + fill +
                          "/$n; k=$((k-1)); done; fi; echo {i} >> " + e.path("ran.txt") +
                          "'\nvariables:\n  i:\n    arange: 4\n");
      auto r = e.x({"--store", store, "run", f, "-j", "1", "--quiet"});
      INFO(r.err);
      CHECK_FALSE(r.timed_out);
      std::string id = first_line(r.out);
      REQUIRE_FALSE(id.empty());
      if (r.code != 0) {
        CHECK(r.code == 1);
        CHECK(r.err.find("the run store cannot be written") != std::string::npos);
      }
      auto st = e.x({"--store", store, "status", id, "--json"});
      REQUIRE(st.code == 0);
      auto s = nlohmann::json::parse(st.out);
      for (const auto& t : s["tasks"]) {
        INFO(t.dump());
        CHECK((t["state"] == "SUCCEEDED" || t["state"] == "PENDING"));
      }
      test::run_program({"rm", "-rf", fill}, {});
      auto again = e.x({"--store", store, "resume", id, "--quiet"});
      INFO(again.err);
      CHECK(again.code == 0);
      for (const auto& t : nlohmann::json::parse(e.x({"--store", store, "status", id, "--json"}).out)["tasks"])
        CHECK(t["state"] == "SUCCEEDED");
      auto ran = util::split(test::read(e.path("ran.txt")), '\n');
      std::sort(ran.begin(), ran.end());
      CHECK(ran == std::vector<std::string>{"", "0", "1", "2", "3"});  // each task ran once
    }
  }
}

TEST_CASE("pid reuse after a crash: a process given the task's pid whose command line names the experiment is not the "
          "task - LOST, and resume does not hang", "[cli][faults]") {
  Env e;
  const std::string marker = e.path("marker");
  auto f = e.file("exp.yml", "command: 'test -e " + marker + " || sleep 300'\n");
  auto b = e.bg({"run", f, "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }));
  auto [group, wrapper] = e.started_pids(id, 0);
  // The machine's crash: the runner, its worker and the task all gone at once.
  ::kill(b.pid, SIGKILL);
  b.wait();
  ::kill(static_cast<pid_t>(wrapper), SIGKILL);
  ::kill(static_cast<pid_t>(-group), SIGKILL);
  auto freed = [](long pid) {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    return !util::exists("/proc/" + std::to_string(pid));
  };
  REQUIRE(test::eventually([&] { return freed(wrapper) && freed(group); }, 10));
  // The worker's pid given to a `tail -f` of the task's log (its command line names the
  // experiment's folder): the kernel hands out last_pid + 1.
  const std::string log = e.exp_dir(id) + "/tasks/0/stdout";
  std::optional<run::Child> impostor;
  for (int attempt = 0; attempt < 200 && !impostor; ++attempt) {
    std::ofstream last("/proc/sys/kernel/ns_last_pid");
    if (!(last << (wrapper - 1) << std::flush)) break;
    last.close();
    run::Child::Spawn sp;
    sp.argv = {"tail", "-f", log};
    auto c = run::Child::spawn(sp);
    REQUIRE(c);
    if (c->pid() == wrapper) impostor = std::move(c.value());
  }
  if (!impostor) {
    std::cout << "SKIPPED: cannot have the kernel reuse a pid here (needs root and /proc/sys/kernel/ns_last_pid)"
              << std::endl;
    xrun::test::skip_exit();
  }
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "LOST");
  std::ofstream(marker) << "";
  auto r = e.x({"resume", id, "--quiet"});
  CHECK_FALSE(r.timed_out);
  CHECK(r.code == 0);
  CHECK(e.state(id, 0) == "SUCCEEDED");
  impostor->kill_group(SIGKILL);
}

namespace {
// The wall clock of xrun and its tasks stepped at will (libfaketime, Debian's package of it):
// step("+1h") sets it an hour ahead from then on. The monotonic clock is left alone.
struct SteppedWallClock {
  std::string file;
  explicit SteppedWallClock(Env& e) : file(e.path("faketime")) {
    const std::string lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    if (!util::exists(lib)) {
      std::cout << "SKIPPED: libfaketime is not installed (apt-get install libfaketime)" << std::endl;
      xrun::test::skip_exit();
    }
    step("+0");
    e.opts.env["LD_PRELOAD"] = lib;
    e.opts.env["FAKETIME_TIMESTAMP_FILE"] = file;
    e.opts.env["FAKETIME_NO_CACHE"] = "1";
    e.opts.env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1";
  }
  void step(const std::string& offset) const { std::ofstream(file) << offset << "\n"; }
};
}  // namespace

TEST_CASE("the wall clock stepped an hour ahead while a task runs: no TIMEOUT, the walltime counts real time",
          "[cli][faults]") {
  Env e;
  SteppedWallClock wall(e);
  auto f = e.file("exp.yml", "command: 'touch " + e.path("started") + "; sleep 2; echo ok'\nlocal:\n  walltime: '0:30'\n");
  auto b = e.bg({"run", f, "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return util::exists(e.path("started")); }));
  wall.step("+1h");
  CHECK(b.wait(30) == 0);
  CHECK(e.state(id, 0) == "SUCCEEDED");
}

TEST_CASE("the wall clock stepped an hour back: Ctrl-C's kill grace is still its seconds", "[cli][faults]") {
  Env e;
  SteppedWallClock wall(e);
  // The task and its sleep ignore SIGTERM: only the SIGKILL after the grace ends them.
  auto f = e.file("exp.yml", "command: 'trap \"\" TERM; touch " + e.path("started") + "; sleep 60'\n"
                             "local:\n  kill_grace: 2\n");
  auto b = e.bg({"run", f, "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return util::exists(e.path("started")); }));
  ::kill(b.pid, SIGINT);
  ::usleep(300000);
  wall.step("-1h");  // within the grace
  const int code = b.wait(20);
  CHECK(code == 130);
  if (code < 0) test::kill_processes_in(e.path(""));
  CHECK(e.state(id, 0) == "CANCELLED");
}

TEST_CASE("a task stopped at its walltime that traps SIGTERM and exits with its own code (0 or 3) is TIMEOUT, its code "
          "in the reason", "[cli][faults]") {
  Env e;
  // Checkpoint-style: on SIGTERM it saves and ends by itself, with its own code.
  auto f = e.file("exp.yml", "command: 'trap \"echo saved {code}; exit {code}\" TERM; sleep 30 & wait'\n"
                             "variables:\n  code: [0, 3]\nlocal:\n  walltime: '0:01'\n  kill_grace: 5\n");
  auto r = e.x({"run", f, "-j", "2", "--quiet"});
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto s = e.status(id);
  for (int i = 0; i < 2; ++i) {
    INFO(s["tasks"][i].dump());
    CHECK(s["tasks"][i]["state"] == "TIMEOUT");
    CHECK(s["tasks"][i]["reason"] == fmt::format("walltime of 1.0s exceeded (the task then ended with its own exit code {})",
                                                 i == 0 ? 0 : 3));
  }
  CHECK(test::read(e.exp_dir(id) + "/tasks/0/stdout") == "saved 0\n");
  // Not done: resume takes them again (and they time out again).
  auto again = e.x({"resume", id});
  CHECK(again.err.find("2 TIMEOUT") != std::string::npos);
  CHECK(again.code == 1);
}

TEST_CASE("Ctrl-C and walltime reach the tasks a resume adopted from a crashed runner", "[cli][faults]") {
  Env e;
  SECTION("SIGINT to the resuming runner cancels the adopted task and kills its group") {
    auto f = e.file("exp.yml", "command: 'sleep 30'\n");
    auto b = e.bg({"run", f, "--quiet"});
    std::string id = wait_for_id(b);
    REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }));
    auto [group, wrapper] = e.started_pids(id, 0);
    ::kill(b.pid, SIGKILL);
    b.wait();
    auto r = e.bg({"resume", id, "--quiet"});
    REQUIRE(test::eventually([&] {
      auto j = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json").empty() ? "{}" : test::read(e.exp_dir(id) + "/runner.json"));
      return j.value("resume", false);
    }));
    ::usleep(300000);
    ::kill(r.pid, SIGINT);
    CHECK(r.wait(20) == 130);
    CHECK(e.state(id, 0) == "CANCELLED");
    CHECK_FALSE(group_alive(group));
  }
  SECTION("the walltime counts from the adopted task's recorded start") {
    auto f = e.file("exp.yml", "command: 'sleep 30'\nlocal:\n  walltime: '0:02'\n  kill_grace: 1\n");
    auto b = e.bg({"run", f, "--quiet"});
    std::string id = wait_for_id(b);
    REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }));
    auto [group, wrapper] = e.started_pids(id, 0);
    ::kill(b.pid, SIGKILL);
    b.wait();
    auto r = e.x({"resume", id, "--quiet"});
    CHECK(r.code == 1);
    CHECK(r.seconds < 10);
    CHECK(e.state(id, 0) == "TIMEOUT");
    CHECK_FALSE(group_alive(group));
  }
}

TEST_CASE("a store root spelled with a trailing slash or through a link sees its running tasks as RUNNING",
          "[cli][faults]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep 3'\n");
  REQUIRE(util::make_dirs(e.path("real")).ok());
  REQUIRE(::symlink(e.path("real").c_str(), e.path("link").c_str()) == 0);
  auto r = e.x({"--store", e.path("real") + "/", "run", f, "--detach"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto state_via = [&](const std::string& root) {
    auto s = e.x({"--store", root, "status", id, "--json"});
    return s.code == 0 ? nlohmann::json::parse(s.out)["tasks"][0]["state"].get<std::string>() : "?";
  };
  REQUIRE(test::eventually([&] { return state_via(e.path("real")) == "RUNNING"; }));
  for (const std::string& root : {e.path("real"), e.path("link"), e.path("real") + "//"}) {
    auto s = e.x({"--store", root, "status", id, "--json"});
    REQUIRE(s.code == 0);
    CHECK(nlohmann::json::parse(s.out)["tasks"][0]["state"] == "RUNNING");
  }
  CHECK(e.x({"--store", e.path("link"), "cancel", id}).code == 0);
}

TEST_CASE("run on Slurm or PBS with none of its commands on PATH creates nothing, check only warns", "[cli][faults]") {
  Env e;
  REQUIRE(util::make_dirs(e.path("empty-bin")).ok());
  e.opts.env["PATH"] = e.path("empty-bin");  // a laptop: no sbatch, no qsub
  for (const std::string backend : {"slurm", "pbs"}) {
    INFO(backend);
    auto f = e.file("exp.yml", "command: 'echo {x}'\nvariables:\n  x: [1, 2]\n" + backend + ":\n  poll_interval: 1\n");
    auto r = e.x({"run", f});
    INFO(r.err);
    CHECK(r.code != 0);
    CHECK(r.err.find("on PATH") != std::string::npos);
    CHECK(r.out.empty());  // no experiment id: none was made
    CHECK(util::list_dir(e.path("store/experiments")).empty());
    auto c = e.x({"check", f});
    INFO(c.err);
    CHECK(c.code == 0);
    CHECK(c.err.find("warning: the " + backend + " backend needs") != std::string::npos);
    CHECK(c.out.find("valid") != std::string::npos);
  }
}

TEST_CASE("resume --reload on a full store fails and leaves the experiment as it was (plan.json is never set aside "
          "first)", "[cli][faults][reload]") {
  Env e;
  SmallStore small(e, "1m");
  const std::string store = small.dir + "/store";
  const std::string v1 = "command: 'echo {i} >> " + e.path("ran.txt") + "'\nvariables:\n  i: [0, 1]\n";
  auto f = e.file("exp.yml", v1);
  auto r = e.x({"--store", store, "run", f, "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  e.file("exp.yml", "command: 'echo {i} >> " + e.path("ran.txt") + "'\nvariables:\n  i: [0, 1, 2]\n");
  test::run_program({"sh", "-c", "cat /dev/zero > " + small.dir + "/fill 2>/dev/null"}, {});
  auto full = e.x({"--store", store, "resume", id, "--reload", "--quiet"});
  CHECK(full.code == 1);
  auto st = e.x({"--store", store, "status", id, "--json"});
  REQUIRE(st.code == 0);  // the old plan is whole
  auto s = nlohmann::json::parse(st.out);
  CHECK(s["tasks"].size() == 2);
  CHECK(s["state"] == "succeeded");
  CHECK(test::read(store + "/experiments/" + id + "/experiment.yml") == v1);
  ::unlink((small.dir + "/fill").c_str());
  auto again = e.x({"--store", store, "resume", id, "--reload", "--quiet"});
  CHECK(again.code == 0);
  auto ran = util::split(test::read(e.path("ran.txt")), '\n');
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"", "0", "1", "2"});  // the new task ran; the old ones not again
}
