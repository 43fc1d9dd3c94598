// Fault scenarios against a real single-node Slurm cluster (scripts/slurm-cluster.sh start):
// cancelling a pending array element, Ctrl-C during a submission, resume while an earlier
// stage still runs, and a job that Slurm requeues. Without a cluster every case exits with
// code 4 (SKIPPED), as in test_slurm.cpp.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/env.hpp"
#include "support/pbs_scenarios.hpp"
#include "support/scheduler.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;
using test::wait_for_id;

namespace {

using test::count_calls;
using test::require_cluster;
using test::slurm_logging_path;

// Slurm's own word on the elements of `job`: "JOB_INDEX|STATE" lines (squeue -r -t all).
std::string queue_lines(const std::string& job) {
  auto q = run::capture({"squeue", "-h", "-r", "-t", "all", "-j", job, "-o", "%i|%T"}, 30);
  return q && q->code == 0 ? q->out : "";
}
// The state squeue reports for element `index` of `job` ("" when not listed).
std::string element_state(const std::string& job, size_t index) {
  std::string prefix = job + "_" + std::to_string(index) + "|";
  for (const auto& line : util::split(queue_lines(job), '\n'))
    if (util::starts_with(util::trim(line), prefix)) return util::trim(line).substr(prefix.size());
  return "";
}
bool queued_or_running(const std::string& job) {
  std::string q = queue_lines(job);
  return q.find("PENDING") != std::string::npos || q.find("RUNNING") != std::string::npos ||
         q.find("CONFIGURING") != std::string::npos || q.find("COMPLETING") != std::string::npos;
}

const char* kHeader = "slurm:\n  poll_interval: 1\n";

}  // namespace

TEST_CASE("cancelling a PENDING array element cancels that element only and never its running sibling", "[slurm]") {
  require_cluster();
  Env e;
  // %1 throttle: element 0 runs while element 1 waits (JobArrayTaskLimit).
  auto f = e.file("exp.yml", std::string("command: 'sleep 6; echo done {x}'\nvariables:\n  x: [0, 1]\n"
                                         "slurm:\n  max_parallel: 1\n  poll_interval: 1\n"));
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
  std::string job = runner["jobs"][0];
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "PENDING"; }, 30));
  e.opts.env["PATH"] = slurm_logging_path(e);
  auto c = e.x({"cancel", id, "1"});
  INFO(c.err);
  CHECK(c.code == 0);
  // Exactly the element was named to scancel, never the whole array.
  CHECK(test::read(e.path("calls.log")).find("scancel " + job + "_1") != std::string::npos);
  // Slurm never shows element 0 cancelled while it runs to its end.
  bool zero_cancelled = false;
  REQUIRE(test::eventually([&] {
    if (element_state(job, 0).find("CANCELLED") != std::string::npos) zero_cancelled = true;
    return e.state(id, 0) != "RUNNING";
  }, 60));
  CHECK_FALSE(zero_cancelled);
  CHECK(element_state(job, 0) == "COMPLETED");
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][1]["state"] == "CANCELLED");
  CHECK(e.x({"logs", id, "0"}).out == "done 0\n");
  // The cancelled element never ran.
  CHECK(test::read(e.exp_dir(id) + "/tasks/1/started").find("written=1") == std::string::npos);
}

TEST_CASE("Ctrl-C during a multi-stage submission exits 130 and cancels every array submitted so far",
          "[slurm]") {
  require_cluster();
  Env e;
  // A slow sbatch (1 s per call) that logs each call and each job id the real sbatch returned.
  std::string bin = e.path("slowbin");
  std::string real = run::find_on_path("sbatch");
  test::write_file(bin, "sbatch",
                   "#!/bin/sh\necho \"sbatch $*\" >> " + e.path("calls.log") + "\nsleep 1\nout=$(" + real +
                       " \"$@\")\nrc=$?\n[ $rc -eq 0 ] && echo \"$out\" >> " + e.path("ids.log") +
                       "\necho \"$out\"\nexit $rc\n");
  ::chmod((bin + "/sbatch").c_str(), 0755);
  e.opts.env["PATH"] = bin + ":" + std::getenv("PATH");
  auto f = e.file("exp.yml", std::string("jobs:\n  - command: 'sleep 30 # {x}'\n  - command: 'echo b {x}'\n"
                                         "  - command: echo c\n  - command: echo d\n"
                                         "variables:\n  x: [1, 2]\n") + kHeader);
  auto bg = e.bg({"run", f});
  REQUIRE(test::eventually([&] { return count_calls(e, "sbatch") >= 1; }, 30));
  ::kill(-bg.pid, SIGINT);  // Ctrl-C: the terminal signals xrun's process group
  int code = bg.wait(60);
  INFO(bg.err());
  CHECK(code == 130);
  std::string id = first_line(bg.out());
  REQUIRE(!id.empty());
  std::vector<std::string> returned;
  for (const auto& line : util::split(test::read(e.path("ids.log")), '\n'))
    if (!util::trim(line).empty()) returned.push_back(util::trim(line.substr(0, line.find(';'))));
  // The first sbatch, in flight when Ctrl-C came, still completes (a terminal's Ctrl-C must not
  // kill it: it may already have submitted the array).
  CHECK(returned.size() == 1);
  // Every array Slurm accepted is in the store's submission record.
  std::set<std::string> recorded;
  std::string record = test::read(e.exp_dir(id) + "/backend/slurm/submission-1.json");
  if (!record.empty()) {
    auto doc = nlohmann::json::parse(record);
    for (const auto& a : doc["arrays"]) recorded.insert(a["job_id"].get<std::string>());
  }
  for (const auto& job : returned) {
    INFO("job " << job << ", submission record: " << record);
    CHECK(recorded.count(job) == 1);
  }
  // ... and none of them is left in the queue.
  for (const auto& job : returned) {
    INFO("job " << job << ": " << queue_lines(job));
    CHECK(test::eventually([&] { return !queued_or_running(job); }, 30));
  }
  // No job of this experiment (its working directory) is left queued or running, known or not.
  CHECK(test::eventually([&] {
    auto q = run::capture({"squeue", "-h", "-o", "%i|%T|%Z"}, 30);
    if (!q || q->code != 0) return false;
    for (const auto& line : util::split(q->out, '\n'))
      if (line.find(e.exp_dir(id)) != std::string::npos &&
          (line.find("|PENDING|") != std::string::npos || line.find("|RUNNING|") != std::string::npos))
        return false;
    return true;
  }, 30));
  // `xrun cancel` afterwards reaches them all; every task ends CANCELLED.
  CHECK(e.x({"cancel", id}).code == 0);
  auto s = e.status(id);
  for (const auto& t : s["tasks"]) {
    INFO("task " << t["id"]);
    CHECK(t["state"] == "CANCELLED");
  }
}

TEST_CASE("a hangup to run --wait detaches it (exit 129): nothing cancelled, the jobs go on", "[slurm]") {
  require_cluster();
  test::pbs::Site slurm;
  slurm.section = kHeader;
  test::pbs::hangup_detaches_the_watcher(slurm);
}

TEST_CASE("a hangup during a submission: the submission is completed, then run --wait detaches (exit 129)", "[slurm]") {
  require_cluster();
  {
    Env e;
    std::string bin = e.path("slowbin");
    test::write_file(bin, "sbatch", "#!/bin/sh\necho \"sbatch $*\" >> " + e.path("calls.log") + "\nsleep 1\nexec " +
                                        run::find_on_path("sbatch") + " \"$@\"\n");
    ::chmod((bin + "/sbatch").c_str(), 0755);
    e.opts.env["PATH"] = bin + ":" + std::getenv("PATH");
    auto f = e.file("exp.yml", std::string("jobs:\n  - command: 'sleep 30 # {x}'\n  - command: 'echo b {x}'\n"
                                           "variables:\n  x: [1, 2]\n") + kHeader);
    auto bg = e.bg({"run", f, "--wait"});
    std::string id = wait_for_id(bg);
    REQUIRE(test::eventually([&] { return count_calls(e, "sbatch") >= 1; }, 30));  // the first one in flight
    ::kill(-bg.pid, SIGHUP);
    CHECK(bg.wait(60) == 129);
    INFO(bg.err());
    CHECK(bg.err().find("nothing was cancelled") != std::string::npos);
    auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
    CHECK(runner["state"] == "submitted");
    CHECK(runner["jobs"].size() == 2);  // both stages submitted
    CHECK(e.state(id, 0) != "CANCELLED");
    CHECK(e.x({"cancel", id}).code == 0);
  }
}

TEST_CASE("Ctrl-C to run --wait on Slurm cancels the experiment (exit 130)", "[slurm]") {
  require_cluster();
  {
    Env e;
    auto f = e.file("exp.yml", std::string("command: 'sleep 30 # {x}'\nvariables:\n  x: [1]\n") + kHeader);
    auto bg = e.bg({"run", f, "--wait"});
    std::string id = wait_for_id(bg);
    REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }, 60));
    ::kill(-bg.pid, SIGINT);
    CHECK(bg.wait(30) == 130);
    CHECK(test::eventually([&] { return e.state(id, 0) == "CANCELLED"; }, 60));
  }
}

namespace {
// A bin folder whose `program` fails as Slurm's commands do when the controller does not answer.
std::string controller_down(const Env& e, const std::string& program) {
  std::string bin = e.path("down-" + program);
  test::write_file(bin, program,
                   "#!/bin/sh\necho \"" + program +
                       ": error: slurm_load_jobs error: Socket timed out on send/recv operation\" >&2\nexit 1\n");
  ::chmod((bin + "/" + program).c_str(), 0755);
  return bin + ":" + std::getenv("PATH");
}
}  // namespace

namespace {
// `xrun run` of one task that sleeps 30 s; its id once Slurm runs it.
std::string sleeping_task(const Env& e) {
  auto f = e.file("exp.yml", std::string("command: 'sleep 30 # {x}'\nvariables:\n  x: [1]\n") + kHeader);
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }, 60));
  return id;
}
}  // namespace

TEST_CASE("controller down: a one-shot status shows what the store knows, warns and exits 1", "[slurm]") {
  require_cluster();
  Env e;
  std::string id = sleeping_task(e);
  e.opts.env["PATH"] = controller_down(e, "squeue");
  for (bool json : {false, true}) {
    auto s = json ? e.x({"status", id, "--json"}) : e.x({"status", id});
    INFO(s.err);
    CHECK(s.code == 1);
    CHECK(s.err.find("warning") != std::string::npos);
    CHECK(s.err.find("Socket timed out") != std::string::npos);
    CHECK_FALSE(s.out.empty());  // what the store knows, still printed
    if (json) CHECK(nlohmann::json::parse(s.out)["tasks"].size() == 1);
  }
  // A watch warns and goes on (it ends only when the experiment has, which it cannot tell now).
  e.opts.timeout = 3;
  auto w = e.x({"status", id, "--watch", "--interval", "0.5"});
  CHECK(w.timed_out);
  CHECK(w.err.find("Socket timed out") != std::string::npos);
  e.opts.timeout = 120;
  e.opts.env.erase("PATH");
  CHECK(e.x({"status", id}).code == 0);
  CHECK(e.x({"cancel", id}).code == 0);
}

TEST_CASE("a cancel whose scancel fails says so and exits 1, never 'cancelled'", "[slurm]") {
  require_cluster();
  Env e;
  std::string id = sleeping_task(e);
  e.opts.env["PATH"] = controller_down(e, "scancel");
  auto c = e.x({"cancel", id});
  INFO(c.err);
  CHECK(c.code == 1);
  CHECK(c.err.find("cancelled 1 task") == std::string::npos);
  CHECK(c.err.find("recorded") != std::string::npos);
  e.opts.env.erase("PATH");
  // Slurm still runs it: the request recorded is no verdict, and a second cancel reaches it.
  CHECK(e.state(id, 0) == "RUNNING");
  CHECK(e.x({"cancel", id}).code == 0);
  CHECK(test::eventually([&] { return e.state(id, 0) == "CANCELLED"; }, 60));
}

TEST_CASE("a resume keeps the cancel requests in force: those of other tasks always, its own when it fails", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("command: 'if [ {x} = 0 ]; then exit 3; fi; sleep 30'\n"
                                         "variables:\n  x: [0, 1]\n") + kHeader);
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "FAILED" && e.state(id, 1) == "RUNNING"; }, 60));
  // The ids the cancel requests in force name (cancel/*, docs/run-store.md).
  auto requested = [&] {
    std::multiset<std::string> ids;
    for (const auto& name : util::list_dir(e.exp_dir(id) + "/cancel"))
      for (const auto& line : util::split(test::read(e.exp_dir(id) + "/cancel/" + name), '\n'))
        if (!line.empty()) ids.insert(line);
    return ids;
  };
  // Task 1's cancel is recorded, but scancel does not answer: its job still runs.
  e.opts.env["PATH"] = controller_down(e, "scancel");
  CHECK(e.x({"cancel", id, "1"}).code == 1);
  REQUIRE(requested() == std::multiset<std::string>{"1"});
  // A resume of task 0 whose submission fails: every request stays, and task 0 reads as before
  // (its attempt archived for the resume is put back).
  const auto before = e.status(id)["tasks"][0];
  e.opts.env["PATH"] = controller_down(e, "sbatch");
  auto bad = e.x({"resume", id, "--quiet"});
  INFO(bad.err);
  CHECK(bad.code == 1);
  CHECK(requested() == std::multiset<std::string>{"1"});
  const auto after = e.status(id)["tasks"][0];
  for (const char* k : {"state", "reason", "exit_code", "attempt"}) {
    INFO(k);
    CHECK(after[k] == before[k]);
  }
  // One that goes through: task 1's request is still in force (it is not run again).
  e.opts.env.erase("PATH");
  auto ok = e.x({"resume", id, "--quiet"});
  INFO(ok.err);
  CHECK(ok.code == 0);
  CHECK(requested() == std::multiset<std::string>{"1"});
  CHECK(e.x({"cancel", id}).code == 0);
  CHECK(test::eventually([&] { return e.state(id, 1) == "CANCELLED"; }, 60));
}

namespace {
// A bin folder with an sbatch that logs its call to calls.log, then takes `seconds` to submit.
std::string slow_sbatch(const Env& e, int seconds) {
  std::string bin = e.path("slow-sbatch");
  test::write_file(bin, "sbatch", fmt::format("#!/bin/sh\necho \"sbatch $*\" >> {}\nsleep {}\nexec {} \"$@\"\n",
                                              e.path("calls.log"), seconds, run::find_on_path("sbatch")));
  ::chmod((bin + "/sbatch").c_str(), 0755);
  return bin;
}
// `xrun run --wait` of one task running `command`, which fails this first time; its id.
std::string failed_run(const Env& e, const std::string& command) {
  auto f = e.file("exp.yml", "command: '" + command + " # {x}'\nvariables:\n  x: [1]\n" + kHeader);
  auto r = e.x({"run", f, "--quiet", "--wait"});
  REQUIRE(r.code == 1);
  return first_line(r.out);
}
}  // namespace

TEST_CASE("controller down: resume and a cancel of single tasks refuse, a whole cancel goes ahead unconfirmed",
          "[slurm]") {
  require_cluster();
  Env e;
  // %1 throttle: task 1 waits in the queue while task 0 runs.
  auto f = e.file("exp.yml", std::string("command: 'sleep 30 # {x}'\nvariables:\n  x: [0, 1]\n"
                                         "slurm:\n  max_parallel: 1\n  poll_interval: 1\n"));
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
  std::string job = runner["jobs"][0];
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "PENDING"; }, 60));
  e.opts.env["PATH"] = controller_down(e, "squeue");
  auto res = e.x({"resume", id});
  INFO(res.err);
  CHECK(res.code == 1);
  CHECK(res.err.find("does not answer") != std::string::npos);
  CHECK_FALSE(util::exists(e.exp_dir(id) + "/backend/slurm/submission-2.json"));  // nothing submitted
  auto one = e.x({"cancel", id, "1"});
  INFO(one.err);
  CHECK(one.code == 1);
  CHECK(one.err.find("nothing was cancelled") != std::string::npos);
  CHECK(element_state(job, 1) == "PENDING");
  auto all = e.x({"cancel", id});
  INFO(all.err);
  CHECK(all.code == 0);
  CHECK(all.err.find("not yet confirmed") != std::string::npos);
  e.opts.env.erase("PATH");
  CHECK(test::eventually([&] { return e.state(id, 0) == "CANCELLED" && e.state(id, 1) == "CANCELLED"; }, 60));
  CHECK(test::eventually([&] { return !queued_or_running(job); }, 60));
}

TEST_CASE("two resumes at once: the second waits for the first's submission, then submits nothing", "[slurm]") {
  require_cluster();
  Env e;
  // Fails on its first run, succeeds on the next one; each run is logged.
  auto task = e.file("task.sh", "echo run >> " + e.path("runs.log") + "\n[ -e " + e.path("marker") + " ] && exit 0\ntouch " +
                                   e.path("marker") + "\nexit 1\n");
  std::string id = failed_run(e, "sh " + task);
  e.opts.env["PATH"] = slurm_logging_path(e);
  e.opts.env["PATH"] = slow_sbatch(e, 3) + ":" + e.opts.env["PATH"];
  auto first = e.bg({"resume", id});
  REQUIRE(test::eventually([&] { return count_calls(e, "sbatch") >= 1; }, 30));
  auto second = e.x({"resume", id});
  INFO(second.err);
  CHECK(second.code == 0);
  CHECK(second.err.find("waiting for it") != std::string::npos);
  CHECK(second.err.find("nothing to resume") != std::string::npos);
  CHECK(first.wait(60) == 0);
  CHECK(count_calls(e, "sbatch") == 1);   // one submission for the two resumes
  CHECK(count_calls(e, "scancel") == 0);  // and nothing of it was cancelled as stale
  e.opts.env.erase("PATH");
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "SUCCEEDED"; }, 60));
  CHECK(test::read(e.path("runs.log")) == "run\nrun\n");
}

TEST_CASE("a second resume that waits longer than --lock-timeout refuses and says it waited", "[slurm]") {
  require_cluster();
  Env e;
  std::string id = failed_run(e, "exit 1");
  e.opts.env["PATH"] = slow_sbatch(e, 4) + ":" + std::string(std::getenv("PATH"));
  auto first = e.bg({"resume", id, "--quiet"});
  REQUIRE(test::eventually([&] { return count_calls(e, "sbatch") >= 1; }, 30));
  auto second = e.x({"resume", id, "--lock-timeout", "1"});
  INFO(second.err);
  CHECK(second.code == 1);
  CHECK(second.err.find("waited") != std::string::npos);
  CHECK(first.wait(60) == 0);
  CHECK(count_calls(e, "sbatch") == 1);
}

TEST_CASE("a cancel while a resume submits waits for the submission, then cancels what it submitted", "[slurm]") {
  require_cluster();
  Env e;
  auto task = e.file("task.sh", "if [ ! -e " + e.path("marker") + " ]; then touch " + e.path("marker") +
                                   "; exit 1; fi\nsleep 4\necho ran > " + e.path("ran") + "\n");
  std::string id = failed_run(e, "sh " + task);
  e.opts.env["PATH"] = slow_sbatch(e, 3) + ":" + std::string(std::getenv("PATH"));
  auto res = e.bg({"resume", id, "--quiet"});
  REQUIRE(test::eventually([&] { return count_calls(e, "sbatch") >= 1; }, 30));
  e.opts.env.erase("PATH");
  auto c = e.x({"cancel", id});
  INFO(c.err);
  CHECK(c.code == 0);
  CHECK(c.err.find("waiting for it") != std::string::npos);
  CHECK(c.err.find("cancelled 1 task") != std::string::npos);
  CHECK(res.wait(60) == 0);
  CHECK(test::eventually([&] { return e.state(id, 0) == "CANCELLED"; }, 60));
  ::sleep(5);
  CHECK_FALSE(util::exists(e.path("ran")));  // the resumed task never ran to its command's end
}

TEST_CASE("one resume while stage 1 still runs chains the later stages to the jobs still queued - and says when all are", "[slurm]") {
  require_cluster();
  Env e;
  // Every unfinished task still queued or running: resume says so and submits nothing.
  auto q = e.file("queued.yml", std::string("jobs:\n  - command: 'sleep 20 # {x}'\n  - command: echo b\n"
                                         "variables:\n  x: [1, 2]\n") + kHeader);
  auto qr = e.x({"run", q});
  REQUIRE(qr.code == 0);
  std::string qid = first_line(qr.out);
  REQUIRE(test::eventually([&] { return e.state(qid, 0) == "RUNNING" && e.state(qid, 1) == "RUNNING"; }, 30));
  e.opts.env["PATH"] = slurm_logging_path(e);
  auto still = e.x({"resume", qid});
  INFO(still.err);
  CHECK(still.code == 0);
  CHECK(still.err.find("still queued or running") != std::string::npos);
  CHECK(still.err.find("every task") == std::string::npos);
  CHECK(count_calls(e, "sbatch") == 0);
  CHECK(e.x({"cancel", qid}).code == 0);
  e.opts.env.erase("PATH");
  // The chaining: stage 2 must run once the resubmitted task 1 and the running task 0 succeed.
  // Stage 1: task 0 runs ~8 s, task 1 fails until the flag file exists. Stage 2 waits for stage 1.
  auto f = e.file("exp.yml", std::string("jobs:\n  - name: work\n    command: 'if [ {x} = 0 ]; then sleep 8; else test -e ") +
                                 e.path("flag") + "; fi'\n  - name: after\n    command: echo after\n"
                                 "variables:\n  x: [0, 1]\n" + kHeader);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return e.state(id, 1) == "FAILED" && e.state(id, 0) == "RUNNING"; }, 30));
  e.file("flag", "");
  auto res = e.x({"resume", id, "--wait"});
  INFO(res.err);
  INFO(e.x({"status", id}).out);
  CHECK(res.code == 0);
  auto s = e.status(id);
  for (const auto& t : s["tasks"]) {
    INFO("task " << t["id"] << " " << t.value("reason", nlohmann::json()).dump());
    CHECK(t["state"] == "SUCCEEDED");
  }
  CHECK(s["state"] == "succeeded");
}

TEST_CASE("a job that Slurm requeues is PENDING or RUNNING again - resume does not duplicate it and it ends SUCCEEDED",
          "[slurm]") {
  require_cluster();
  Env e;
  // The batch script runs `exec sh wrapper.sh ...` with the submitter's PATH (sbatch exports it):
  // this `sh` makes the requeued run's start slow (a slow prolog or filesystem), once the
  // marker exists, so the moment Slurm runs it again, before the wrapper starts, lasts 8 s.
  std::string slow = e.path("slowsh");
  test::write_file(slow, "sh",
                   "#!/bin/sh\nif rm " + e.path("slow") + " 2>/dev/null; then : > " + e.path("slow-start") +
                       "; sleep 8; fi\nexec /bin/sh \"$@\"\n");
  ::chmod((slow + "/sh").c_str(), 0755);
  e.opts.env["PATH"] = slow + ":" + std::getenv("PATH");
  auto f = e.file("exp.yml", std::string("command: 'sleep 8; echo done {x}'\nvariables:\n  x: [1]\n") + kHeader +
                                 "  requeue: True\n");
  auto d = e.x({"run", f, "--dry-run"});
  REQUIRE(d.out.find("#SBATCH --requeue") != std::string::npos);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
  std::string job = runner["jobs"][0];
  REQUIRE(test::eventually([&] { return test::read(e.exp_dir(id) + "/tasks/0/started").find("written=1") != std::string::npos; }, 30));
  auto rq = run::capture({"scontrol", "requeue", job + "_0"}, 30);
  REQUIRE(rq.ok());
  INFO(rq->err);
  REQUIRE(rq->code == 0);
  // Slurm queues it again (Reason=BeginTime: it becomes eligible only after a delay).
  REQUIRE(test::eventually([&] { return element_state(job, 0) == "PENDING"; }, 30));
  auto s = e.status(id);
  INFO(s["tasks"][0].dump());
  CHECK(s["tasks"][0]["state"] == "PENDING");
  // resume submits nothing while Slurm has the task queued.
  std::string with_log = slurm_logging_path(e);
  e.opts.env["PATH"] = slow + ":" + with_log;
  auto res = e.x({"resume", id});
  INFO(res.err);
  CHECK(res.code == 0);
  CHECK(res.err.find("still queued or running") != std::string::npos);
  CHECK(count_calls(e, "sbatch") == 0);
  REQUIRE(element_state(job, 0) == "PENDING");
  CHECK(e.state(id, 0) == "PENDING");
  // Eligible now: Slurm runs it again; its wrapper starts 8 s later.
  e.file("slow", "");
  // Slurm sets a requeued job's begin time again when the killed run has finished completing,
  // which may come after this update (under load): so the update is made again while it waits.
  // Slurm's scheduler may take up to its sched_interval (60 s) to start it.
  auto started_at = std::chrono::steady_clock::now() - std::chrono::seconds(60);
  bool started = test::eventually([&] {
    if (util::exists(e.path("slow-start"))) return true;
    if (std::chrono::steady_clock::now() - started_at >= std::chrono::seconds(5) && element_state(job, 0) == "PENDING") {
      started_at = std::chrono::steady_clock::now();
      (void)run::capture({"scontrol", "update", "jobid=" + job + "_0", "StartTime=now"}, 30);
    }
    return false;
  }, 150);
  if (!started) {
    auto show = run::capture({"scontrol", "show", "job", job + "_0"}, 30);
    INFO((show ? show->out : std::string("(scontrol failed)")));
    REQUIRE(started);
  }
  REQUIRE(element_state(job, 0) == "RUNNING");
  auto again = e.status(id)["tasks"][0];
  INFO(again.dump());
  CHECK(again["state"] == "RUNNING");  // Slurm runs it; the killed run's record is not its end
  auto res2 = e.x({"resume", id});
  INFO(res2.err);
  CHECK(count_calls(e, "sbatch") == 0);
  CHECK_FALSE(util::exists(e.exp_dir(id) + "/backend/slurm/submission-2.json"));
  // It runs to its end and succeeds, never LOST or FAILED on the way.
  std::set<std::string> seen;
  REQUIRE(test::eventually([&] {
    std::string st = e.state(id, 0);
    seen.insert(st);
    return st == "SUCCEEDED" || ((st == "FAILED" || st == "LOST") && !queued_or_running(job));
  }, 90));
  CHECK(seen.count("FAILED") == 0);
  CHECK(seen.count("LOST") == 0);
  CHECK(e.state(id, 0) == "SUCCEEDED");
  CHECK(e.x({"logs", id, "0"}).out == "done 1\n");
  (void)run::capture({"scancel", job}, 30);
}

TEST_CASE("early_stopping on Slurm: the remaining elements are cancelled and SKIPPED, the next stage runs", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("jobs:\n  - command: |\n      echo '{{\"loss\": {x}}}' >> \"$XRUN_METRICS\"\n"
                                         "    early_stopping:\n      - {metric: loss, value: 2, optimization: minimize}\n"
                                         "  - command: echo after\nvariables:\n  x: [5, 1, 3, 4, 6, 7]\n"
                                         "slurm:\n  max_parallel: 1\n  poll_interval: 0.5\n"));
  auto r = e.x({"run", f, "--wait", "--quiet"});
  INFO(r.err);
  CHECK(r.code == 0);
  auto s = e.status(first_line(r.out));
  CHECK(s["tasks"][1]["state"] == "SUCCEEDED");
  size_t skipped = 0;
  for (int i = 2; i < 6; ++i) skipped += s["tasks"][i]["state"] == "SKIPPED";
  CHECK(skipped >= 1);  // the ones not started when --wait noticed (a batch backend stops late)
  CHECK(s["tasks"][6]["state"] == "SUCCEEDED");
}
