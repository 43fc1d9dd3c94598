// status filters and exit codes, logs defaults and --failed, through the built binary.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <map>
#include <unistd.h>

#include "support/env.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;
using test::wait_for_id;

TEST_CASE("status --state filters tasks (table and JSON), --exit-code tells the result, TRY shows attempts",
          "[cli][status]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo {i}; exit $(({i} % 10))'\nvariables:\n  i: [0, 1, 10, 2]\n");
  auto r = e.x({"run", f, "-q"});
  CHECK(r.code == 1);
  CHECK(r.err.empty());  // -q: no progress, no summary
  std::string id = first_line(r.out);
  auto j = e.x({"status", id, "--json", "--state", "failed"});
  REQUIRE(j.code == 0);
  auto doc = nlohmann::json::parse(j.out);
  REQUIRE(doc["tasks"].size() == 2);
  CHECK(doc["tasks"][0]["id"] == 1);
  CHECK(doc["tasks"][1]["id"] == 3);
  CHECK(doc["counts"]["SUCCEEDED"] == 2);  // counts cover every task
  auto t = e.x({"status", id, "--state", "SUCCEEDED,LOST"});
  CHECK(t.out.find("main/0") != std::string::npos);
  CHECK(t.out.find("main/1") == std::string::npos);
  CHECK(t.out.find("TRY") != std::string::npos);
  CHECK(e.x({"status", id, "--state", "FAILD"}).err.find("did you mean FAILED?") != std::string::npos);
  CHECK(e.x({"status", id, "--state", "FAILD"}).code == 2);
  CHECK(e.x({"status", id, "--exit-code"}).code == 1);
  CHECK(e.x({"status", id}).code == 0);
  auto ok = e.x({"run", e.file("ok.yml", "command: echo ok\n"), "-q"});
  CHECK(e.x({"status", first_line(ok.out), "--exit-code"}).code == 0);
}

TEST_CASE("logs TASK reads the latest experiment, logs EXP --failed prints every failed task's stderr tail",
          "[cli][logs]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo out{i}; echo err{i} >&2; exit {i}'\nvariables:\n  i: [0, 3, 4]\n");
  auto r = e.x({"run", f, "-q"});
  std::string id = first_line(r.out);
  auto l = e.x({"logs", "1"});
  CHECK(l.code == 0);
  CHECK(l.out == "out3\n");
  CHECK(e.x({"logs", "2", "--stderr"}).out == "err4\n");
  CHECK(e.x({"logs", id, "0"}).out == "out0\n");
  auto failed = e.x({"logs", id, "--failed"});
  CHECK(failed.code == 0);
  CHECK(failed.out.find("== task 1 (main/1) FAILED: exit code 3\nerr3\n") != std::string::npos);
  CHECK(failed.out.find("== task 2 (main/2) FAILED: exit code 4\nerr4\n") != std::string::npos);
  CHECK(failed.out.find("task 0") == std::string::npos);
  CHECK(e.x({"logs", "--failed"}).out == failed.out);  // the latest by default
  CHECK(e.x({"logs"}).code == 2);
  CHECK(e.x({"logs", "", "1"}).code == 2);
}

TEST_CASE("logs --follow returns for a task that never ran and for one whose runner is gone", "[cli][logs]") {
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - command: exit 1\n  - command: echo never\n");
  auto r = e.x({"run", f, "-q"});
  std::string id = first_line(r.out);
  auto skipped = e.x({"logs", id, "1", "--follow"});
  CHECK(skipped.code == 0);
  CHECK_FALSE(skipped.timed_out);

  auto g = e.file("slow.yml", "command: 'sleep {s}'\nvariables:\n  s: [30, 31]\n");
  auto b = e.bg({"run", g, "-j", "1", "-q"});
  std::string sid = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(sid, 0) == "RUNNING"; }));
  auto [group, wrapper] = e.started_pids(sid, 0);
  ::kill(b.pid, SIGKILL);
  b.wait();
  test::RunOpts o = e.opts;
  o.timeout = 20;
  auto follow = test::xrun({"logs", sid, "1", "--follow"}, o);
  CHECK_FALSE(follow.timed_out);
  CHECK(follow.err.find("no runner is alive") != std::string::npos);
  ::kill(static_cast<pid_t>(wrapper), SIGKILL);
  ::kill(static_cast<pid_t>(-group), SIGKILL);
}

TEST_CASE("rm removes experiments and says so, a running one only with --force, which cancels it", "[cli][rm]") {
  Env e;
  auto f = e.file("exp.yml", "command: echo hi\n");
  std::string a = first_line(e.x({"run", f, "-q"}).out);
  std::string b = first_line(e.x({"run", f, "-q"}).out);
  auto typo = e.x({"rm", a, "nosuch"});
  CHECK(typo.code == 2);
  CHECK(util::exists(e.exp_dir(a)));  // nothing removed when one reference is wrong
  auto r = e.x({"rm", a, b});
  CHECK(r.code == 0);
  CHECK(r.out == "removed " + a + "\nremoved " + b + "\n");
  CHECK_FALSE(util::exists(e.exp_dir(a)));
  CHECK(e.x({"list", "--json"}).out.find(a) == std::string::npos);

  auto g = e.file("slow.yml", "command: sleep 60\n");
  auto bg = e.bg({"run", g, "-q"});
  std::string id;
  REQUIRE(test::eventually([&] {
    id = first_line(bg.out());
    return !id.empty() && e.state(id, 0) == "RUNNING";
  }));
  auto refused = e.x({"rm", id});
  CHECK(refused.code == 2);
  CHECK(refused.err.find("is running") != std::string::npos);
  CHECK(util::exists(e.exp_dir(id)));
  auto forced = e.x({"rm", "--force", id});
  CHECK(forced.code == 0);
  CHECK(forced.out == "removed " + id + "\n");
  CHECK_FALSE(util::exists(e.exp_dir(id)));  // removed once its runner had ended
  CHECK(bg.wait(30) == 1);  // the runner ends (its task was cancelled), though its folder is gone
  CHECK_FALSE(util::exists(e.exp_dir(id)));
}

TEST_CASE("gc --older-than removes old finished experiments, keeps failed ones with --keep-failed", "[cli][gc]") {
  Env e;
  std::string ok = first_line(e.x({"run", e.file("ok.yml", "command: echo ok\n"), "-q"}).out);
  std::string bad = first_line(e.x({"run", e.file("bad.yml", "command: exit 3\n"), "-q"}).out);
  auto none = e.x({"gc", "--older-than", "1d"});
  CHECK(none.code == 0);
  CHECK(none.out.empty());
  CHECK(e.x({"gc", "--older-than", "soon"}).code == 2);
  CHECK(e.x({"gc"}).code == 2);
  ::sleep(1);
  auto dry = e.x({"gc", "--older-than", "0s", "--dry-run"});
  CHECK(dry.out.find("would remove " + ok) != std::string::npos);
  CHECK(util::exists(e.exp_dir(ok)));
  auto keep = e.x({"gc", "--older-than", "0s", "--keep-failed"});
  CHECK(keep.out == "removed " + ok + " (succeeded)\n");
  CHECK(util::exists(e.exp_dir(bad)));
  auto all = e.x({"gc", "--older-than", "0"});
  CHECK(all.out == "removed " + bad + " (failed)\n");
  CHECK_FALSE(util::exists(e.exp_dir(bad)));
}

TEST_CASE("resume notices a changed file, resume --reload reruns what did not succeed with the new commands",
          "[cli][resume]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo {i} >> ran.txt; test {i} -lt 2'\nvariables:\n  i: [0, 1, 2]\n");
  std::string id = first_line(e.x({"run", f, "-q"}).out);
  CHECK(e.state(id, 2) == "FAILED");
  e.file("exp.yml", "command: 'echo {i} >> ran.txt; test {i} -lt 3'\nvariables:\n  i: [0, 1, 2]\n");
  auto plain = e.x({"resume", id, "-q"});
  CHECK(plain.code == 1);  // the recorded command still fails
  CHECK(plain.err.find("changed since experiment " + id) != std::string::npos);
  CHECK(plain.err.find("--reload") != std::string::npos);
  // Every command changed: each is new work (a new task); the old tasks are retired, kept in the
  // store with what they did; the two that succeeded are not run again under their old ids.
  auto reload = e.x({"resume", id, "--reload"});
  CHECK(reload.code == 0);
  CHECK(reload.err.find("+3 new, 0 to rerun, 3 retired, 0 kept") != std::string::npos);
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  REQUIRE(s["tasks"].size() == 3);
  CHECK(s["tasks"][2]["id"] == 5);  // new ids, after the largest
  CHECK(s["tasks"][2]["commands"][0] == "echo 2 >> ran.txt; test 2 -lt 3");
  REQUIRE(s["retired"].size() == 3);
  CHECK(s["retired"][0]["id"] == 0);
  CHECK(s["counts"]["SUCCEEDED"] == 3);  // retired tasks are counted nowhere
  CHECK(test::read(e.exp_dir(id) + "/experiment.yml").find("-lt 3") != std::string::npos);
}

namespace {
// How many times each line was appended to a ledger outside the store.
std::map<std::string, int> ledger(const std::string& path) {
  std::map<std::string, int> n;
  for (const auto& line : util::split(test::read(path), '\n'))
    if (!line.empty()) ++n[line];
  return n;
}
std::string sweep(const std::string& lrs, const std::string& seeds, const std::string& extra = "") {
  return extra + "command: 'echo {lr}-{seed} >> ran.txt; test {lr}-{seed} != 0.1-1 -o -e fixed'\n"
                 "variables:\n  lr: " + lrs + "\n  seed: " + seeds + "\n";
}
}  // namespace

TEST_CASE("resume --reload matches tasks by what they run: reorder, extend, shrink, edit, walltime", "[cli][resume]") {
  Env e;
  auto f = e.file("exp.yml", sweep("[0.1, 0.01]", "[1, 2]"));
  std::string id = first_line(e.x({"run", f, "-q"}).out);
  CHECK(e.status(id)["counts"]["FAILED"] == 1);  // (0.1, 1)
  // Reordered values: exactly the task that failed runs again, under its id.
  e.file("exp.yml", sweep("[0.01, 0.1]", "[2, 1]"));
  e.file("fixed", "");
  auto r = e.x({"resume", id, "--reload"});
  CHECK(r.code == 0);
  CHECK(r.err.find("+0 new, 1 to rerun, 0 retired, 3 kept") != std::string::npos);
  auto n = ledger(e.path("ran.txt"));
  CHECK(n == std::map<std::string, int>{{"0.1-1", 2}, {"0.1-2", 1}, {"0.01-1", 1}, {"0.01-2", 1}});
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][3]["variables"]["lr"] == 0.1);  // in the file's new order ...
  CHECK(s["tasks"][3]["variables"]["seed"] == 1);
  CHECK(s["tasks"][3]["id"] == 0);  // ... with its id
  CHECK(s["tasks"][3]["attempt"] == 2);
  // Added values run, though every old task succeeded.
  e.file("exp.yml", sweep("[0.01, 0.1]", "[2, 1, 3]"));
  r = e.x({"resume", id, "--reload"});
  CHECK(r.code == 0);
  CHECK(r.err.find("+2 new, 0 to rerun, 0 retired, 4 kept") != std::string::npos);
  n = ledger(e.path("ran.txt"));
  CHECK(n["0.1-3"] == 1);
  CHECK(n["0.01-3"] == 1);
  CHECK(n["0.01-1"] == 1);
  s = e.status(id);
  CHECK(s["counts"]["SUCCEEDED"] == 6);
  // Fewer values: their tasks are retired (kept, listed, never run, counted nowhere).
  e.file("exp.yml", sweep("[0.01, 0.1]", "[2, 1]"));
  r = e.x({"resume", id, "--reload"});
  CHECK(r.code == 0);
  CHECK(r.err.find("+0 new, 0 to rerun, 2 retired, 4 kept") != std::string::npos);
  CHECK(r.err.find("nothing to resume") != std::string::npos);
  s = e.status(id);
  CHECK(s["tasks"].size() == 4);
  CHECK(s["retired"].size() == 2);
  CHECK(s["counts"]["SUCCEEDED"] == 4);
  CHECK(s["state"] == "succeeded");
  CHECK(e.x({"status", id, "--exit-code"}).code == 0);
  // Back again: the retired tasks return with what they did; nothing runs.
  e.file("exp.yml", sweep("[0.01, 0.1]", "[2, 1, 3]"));
  r = e.x({"resume", id, "--reload"});
  CHECK(r.err.find("+0 new, 0 to rerun, 0 retired, 6 kept, 2 back from retirement") != std::string::npos);
  // One value edited: its tasks are new work, the old ones retired.
  e.file("exp.yml", sweep("[0.02, 0.1]", "[2, 1, 3]"));
  r = e.x({"resume", id, "--reload"});
  CHECK(r.err.find("+3 new, 0 to rerun, 3 retired, 3 kept") != std::string::npos);
  n = ledger(e.path("ran.txt"));
  CHECK(n["0.02-1"] == 1);
  CHECK(n["0.1-1"] == 2);
  // Only the walltime changes: nothing runs again.
  e.file("exp.yml", sweep("[0.02, 0.1]", "[2, 1, 3]", "local:\n  walltime: '00:10:00'\n"));
  r = e.x({"resume", id, "--reload"});
  CHECK(r.code == 0);
  CHECK(r.err.find("+0 new, 0 to rerun, 0 retired, 6 kept") != std::string::npos);
  CHECK(ledger(e.path("ran.txt")) == n);
  s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"].size() == 6);
}

TEST_CASE("verbosity: -v logs what xrun decides and runs, -vv more, without -v nothing", "[cli][run]") {
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - command: exit {i}\n  - command: echo later\nvariables:\n  i: [0, 1]\n");
  auto quiet = e.x({"run", f, "-q"});
  CHECK(quiet.err.empty());
  auto v = e.x({"-v", "run", f, "-q"});
  CHECK(v.err.find("xrun: debug: ") != std::string::npos);
  CHECK(v.err.find("task 0: start (job1/0)") != std::string::npos);
  CHECK(v.err.find("task 2: SKIPPED") != std::string::npos);
  CHECK(v.err.find("trace") == std::string::npos);
  auto vv = e.x({"run", f, "-q", "-vv"});
  CHECK(vv.err.find("xrun: trace: task 1: ended with exit code 1") != std::string::npos);
}

TEST_CASE("diff prints what resume --reload would change, and changes nothing", "[cli][resume][diff]") {
  Env e;
  auto f = e.file("exp.yml", sweep("[0.1, 0.01]", "[1, 2]"));
  std::string id = first_line(e.x({"run", f, "-q"}).out);
  const std::string plan_before = test::read(e.exp_dir(id) + "/plan.json");
  // Another file: one value gone, one added, the failed task still there.
  auto other = e.file("other.yml", sweep("[0.1, 0.5]", "[1, 2]"));
  auto d = e.x({"diff", id, other});
  REQUIRE(d.code == 0);
  CHECK(d.out.find("+2 new, 1 to rerun, 2 retired, 1 kept") != std::string::npos);
  CHECK(d.out.find("lr=0.5 seed=1") != std::string::npos);
  CHECK(d.out.find("FAILED") != std::string::npos);
  auto j = e.x({"diff", id, other, "--json"});
  REQUIRE(j.code == 0);
  auto dj = nlohmann::json::parse(j.out);
  CHECK(dj["counts"]["new"] == 2);
  CHECK(dj["new"][0]["id"] == 4);
  CHECK(dj["new"][0]["variables"]["lr"] == 0.5);
  CHECK(dj["rerun"][0]["id"] == 0);
  CHECK(dj["rerun"][0]["state"] == "FAILED");
  CHECK(dj["retired"].size() == 2);
  CHECK(dj["kept"] == nlohmann::json::array({1}));
  // The experiment's own file, unchanged: nothing new.
  auto same = e.x({"diff", id, "--json"});
  CHECK(nlohmann::json::parse(same.out)["summary"] == "+0 new, 1 to rerun, 0 retired, 3 kept");
  CHECK(test::read(e.exp_dir(id) + "/plan.json") == plan_before);
  CHECK(e.x({"diff", id, e.path("missing.yml")}).code == 2);
}

TEST_CASE("resume --state reruns only tasks in those states, and says how many of each it takes", "[cli][resume]") {
  Env e;
  // Task 0 succeeds, 1 fails, 2 overruns its walltime (TIMEOUT); each run is counted in ran.txt.
  auto f = e.file("exp.yml",
                  "command: 'echo {i} >> ran.txt; test {i} -ne 2 || sleep 30; test {i} -ne 1'\n"
                  "variables:\n  i: [0, 1, 2]\nlocal:\n  walltime: '0:01'\n  kill_grace: 1\n");
  std::string id = first_line(e.x({"run", f, "-q"}).out);
  REQUIRE(e.state(id, 1) == "FAILED");
  REQUIRE(e.state(id, 2) == "TIMEOUT");
  auto r = e.x({"resume", id, "--state", "timeout"});
  CHECK(r.code == 1);  // it overruns again
  CHECK(r.err.find("1 of 3 task(s) to run (1 TIMEOUT)") != std::string::npos);
  auto n = ledger(e.path("ran.txt"));
  CHECK(n == std::map<std::string, int>{{"0", 1}, {"1", 1}, {"2", 2}});
  auto s = e.status(id);
  CHECK(s["tasks"][1]["attempt"] == 1);
  CHECK(s["tasks"][2]["attempt"] == 2);
  auto none = e.x({"resume", id, "--state", "CANCELLED"});
  CHECK(none.code == 0);
  CHECK(none.err.find("nothing to resume") != std::string::npos);
  CHECK(e.x({"resume", id, "--state", "FAILD"}).code == 2);  // not a state: said, with the nearest one
  auto all = e.x({"resume", id, "--state", "FAILED,TIMEOUT"});
  CHECK(all.err.find("2 of 3 task(s) to run (1 FAILED, 1 TIMEOUT)") != std::string::npos);
  CHECK(ledger(e.path("ran.txt"))["1"] == 2);
}

TEST_CASE("resume --reload by identity on an experiment written before task keys existed", "[cli][resume]") {
  Env e;
  // tests/fixtures/before-keys: a store written by the xrun before keys (commit 0a6aa9c): a 2x2
  // sweep whose task (0.1, 1) failed. Its paths are made this test's.
  const std::string id = "old-20261207-182050-k39f";
  const std::string dir = e.path("store/experiments/" + id);
  REQUIRE(util::make_dirs(dir + "/tasks").ok());
  for (const char* name : {"experiment.yml", "index", "meta.json", "plan.json", "runner.json", "summary.json", "wrapper.sh"})
    test::write_file(dir, name, test::read(test::source_dir() + "/tests/fixtures/before-keys/" + id + "/" + name));
  auto meta = nlohmann::json::parse(test::read(dir + "/meta.json"));
  auto f = e.file("exp.yml", sweep("[0.01, 0.1]", "[2, 1]"));  // reordered
  meta["file"] = f;
  meta["workdir"] = e.path("");
  test::write_file(dir, "meta.json", meta.dump(2));
  CHECK(e.status(id)["counts"]["FAILED"] == 1);
  e.file("fixed", "");
  auto r = e.x({"resume", id, "--reload"});
  CHECK(r.code == 0);
  CHECK(r.err.find("+0 new, 1 to rerun, 0 retired, 3 kept") != std::string::npos);
  CHECK(ledger(e.path("ran.txt")) == std::map<std::string, int>{{"0.1-1", 1}});
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][3]["id"] == 0);
  CHECK(s["tasks"][3]["attempt"] == 2);
}
