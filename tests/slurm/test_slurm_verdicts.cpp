// Verdicts on the real Slurm test cluster (issue 36): each state is what Slurm, the kernel and
// the task really said, never one xrun invented. Without a cluster every case exits with code 4
// (SKIPPED), as in test_slurm.cpp.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/env.hpp"
#include "support/scheduler.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {

using test::require_cluster;

std::string first_job(Env& e, const std::string& id) {
  auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
  return runner["jobs"][0];
}

// PATH with an squeue that knows no job, as after MinJobAge purged them.
std::string purged_path(Env& e) {
  std::string bin = e.path("purged");
  test::write_file(bin, "squeue", "#!/bin/sh\nexit 0\n");
  ::chmod((bin + "/squeue").c_str(), 0755);
  return bin + ":" + std::getenv("PATH");
}

// The Slurm log of element 0 of the experiment's first job.
std::string slurm_log(Env& e, const std::string& id) {
  return test::read(e.exp_dir(id) + "/backend/slurm/logs/" + first_job(e, id) + "_0.out");
}

bool final_record(Env& e, const std::string& id) {
  return test::read(e.exp_dir(id) + "/tasks/0/status").find("written=1") != std::string::npos;
}

// Submits one task (`sleep 60`, with `slurm_extra` lines under `slurm:`) and waits until it has
// recorded its start; returns the experiment's id.
std::string one_running_task(Env& e, const std::string& slurm_extra = "") {
  auto f = e.file("exp.yml", "command: 'sleep 60 # {x}'\nvariables:\n  x: [1]\nslurm:\n  poll_interval: 1\n" + slurm_extra);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return test::read(e.exp_dir(id) + "/tasks/0/started").find("written=1") != std::string::npos; }, 60));
  return id;
}

}  // namespace

TEST_CASE("slurm signal B:USR1 reaches the task through the wrapper, which lives on - without B: xrun adds it and says so",
          "[slurm]") {
  require_cluster();
  Env e;
  // A checkpointing task: on USR1 it saves and ends by itself with its own code.
  auto f = e.file("exp.yml",
                  "command: 'trap \"echo checkpoint {x}; exit 0\" USR1; echo ready; while :; do sleep 0.2; done'\n"
                  "variables:\n  x: [1]\nslurm:\n  poll_interval: 1\n  walltime: '10:00'\n  signal: USR1@60\n");
  auto d = e.x({"run", f, "--dry-run"});
  REQUIRE(d.code == 0);
  CHECK(d.out.find("#SBATCH --signal=B:USR1@60\n") != std::string::npos);
  CHECK(d.out.find("note: slurm signal 'USR1@60' is sent as 'B:USR1@60'") != std::string::npos);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  CHECK(r.err.find("is sent as 'B:USR1@60'") != std::string::npos);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return test::read(e.exp_dir(id) + "/tasks/0/stdout") == "ready\n"; }, 60));
  // What Slurm does with B:USR1 at the time: the batch shell (the wrapper) alone is signalled.
  auto sc = run::capture({"scancel", "--batch", "--signal=USR1", first_job(e, id) + "_0"}, 30);
  REQUIRE(sc);
  INFO(sc->err);
  REQUIRE(sc->code == 0);
  REQUIRE(test::eventually([&] { return e.state(id, 0) != "RUNNING"; }, 60));
  CHECK(e.state(id, 0) == "SUCCEEDED");
  CHECK(test::read(e.exp_dir(id) + "/tasks/0/stdout") == "ready\ncheckpoint 1\n");
}

TEST_CASE("a slurm signal the wrapper would die of is an input error before anything is submitted", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", "command: echo {x}\nvariables:\n  x: [1]\nslurm:\n  signal: 'B:KILL@60'\n");
  auto r = e.x({"run", f});
  CHECK(r.code == 2);
  CHECK(r.err.find("does not pass 'KILL' on") != std::string::npos);
  CHECK(e.x({"list", "--json"}).out.find("exp") == std::string::npos);
}

TEST_CASE("a pending element cancelled with scancel outside xrun leaves the queue: CANCELLED before it started, never "
          "LOST", "[slurm]") {
  require_cluster();
  Env e;
  // %1 throttle: element 0 runs while elements 1 and 2 wait (JobArrayTaskLimit). (The last
  // pending element stands for the array's own record: cancelled, it stays listed as CANCELLED.)
  auto f = e.file("exp.yml", "command: 'sleep 30 # {x}'\nvariables:\n  x: [0, 1, 2]\n"
                             "slurm:\n  max_parallel: 1\n  poll_interval: 1\n");
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  std::string job = first_job(e, id);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "PENDING"; }, 60));
  REQUIRE(run::capture({"scancel", job + "_1"}, 30)->code == 0);  // not through xrun
  // Slurm forgets a pending element cancelled on its own at once: squeue no longer lists it.
  auto listed = [&] {
    auto q = run::capture({"squeue", "-h", "-r", "-t", "all", "-j", job, "-o", "%i"}, 30);
    return q && q->out.find(job + "_1\n") != std::string::npos;
  };
  REQUIRE(test::eventually([&] { return !listed(); }, 60));
  auto s = e.status(id);
  CHECK(s["tasks"][1]["state"] == "CANCELLED");
  CHECK(s["tasks"][1]["reason"] == "Slurm job " + job + "_1 left the queue before it started");
  CHECK(s["tasks"][0]["state"] == "RUNNING");  // its siblings run on, or wait
  CHECK(s["tasks"][2]["state"] == "PENDING");
  CHECK(e.x({"cancel", id}).code == 0);
}

TEST_CASE("a running element cancelled outside xrun and purged before any status looked is CANCELLED, from Slurm's log",
          "[slurm]") {
  require_cluster();
  Env e;
  std::string id = one_running_task(e);
  REQUIRE(run::capture({"scancel", first_job(e, id)}, 30)->code == 0);  // not through xrun, and nobody looks
  REQUIRE(test::eventually([&] { return final_record(e, id) && slurm_log(e, id).find("CANCELLED AT") != std::string::npos; }, 60));
  e.opts.env["PATH"] = purged_path(e);
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "CANCELLED");
  CHECK(s["tasks"][0]["reason"] == "cancelled in Slurm (outside xrun)");
  CHECK(s["state"] == "cancelled");
}

TEST_CASE("jobs killed at their time limit and purged before any status looked are TIMEOUT, from Slurm's log - also "
          "those that trapped SIGTERM and exited 0 or 3", "[slurm]") {
  require_cluster();
  Env e;
  // One minute, Slurm's smallest limit: Slurm ends them within about a minute more. Element 0
  // dies of the signal; 1 and 2 checkpoint on SIGTERM and end with their own code.
  auto f = e.file("exp.yml",
                  "command: 'if [ {x} = plain ]; then sleep 300; else trap \"echo saved; exit {x}\" TERM; sleep 300 & wait; fi'\n"
                  "variables:\n  x: [plain, 0, 3]\nslurm:\n  poll_interval: 1\n  walltime: 1\n");
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  const std::string job = first_job(e, id);
  auto ended = [&](size_t i) {
    return test::read(e.exp_dir(id) + "/tasks/" + std::to_string(i) + "/status").find("written=1") != std::string::npos &&
           test::read(e.exp_dir(id) + "/backend/slurm/logs/" + job + "_" + std::to_string(i) + ".out").find("DUE TO TIME LIMIT") !=
               std::string::npos;
  };
  REQUIRE(test::eventually([&] { return ended(0) && ended(1) && ended(2); }, 240));
  e.opts.env["PATH"] = purged_path(e);
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "TIMEOUT");
  CHECK(s["tasks"][0]["reason"] == "Slurm's time limit was reached");
  for (int i : {1, 2}) {
    INFO(s["tasks"][i].dump());
    CHECK(s["tasks"][i]["state"] == "TIMEOUT");
    CHECK(s["tasks"][i]["reason"] == fmt::format("Slurm's time limit was reached (the task then ended with its own exit "
                                                 "code {})", i == 1 ? 0 : 3));
  }
}

TEST_CASE("a job Slurm killed for its memory is OUT_OF_MEMORY - counted, listed by --failed, chosen by --state - never "
          "LOST", "[slurm]") {
  require_cluster();
  Env e;
  std::string id = one_running_task(e, "  mem: 50M\n");
  const std::string job = first_job(e, id);
  // The cgroup OOM killer ends every process of the job at once, the wrapper too (the test
  // cluster has none: its group is killed by hand, and squeue answers as Slurm then does).
  auto [group, wrapper] = e.started_pids(id, 0);
  (void)wrapper;
  ::kill(static_cast<pid_t>(-group), SIGKILL);
  REQUIRE(test::eventually([&] {
    auto q = run::capture({"squeue", "-h", "-r", "-j", job, "-o", "%T"}, 30);
    return q && q->out.find("RUNNING") == std::string::npos && q->out.find("COMPLETING") == std::string::npos;
  }, 60));
  std::string bin = e.path("oom");
  test::write_file(bin, "squeue", "#!/bin/sh\necho '" + job + "_0|OUT_OF_MEMORY|OutOfMemory'\n");
  ::chmod((bin + "/squeue").c_str(), 0755);
  e.opts.env["PATH"] = bin + ":" + std::getenv("PATH");
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "OUT_OF_MEMORY");
  CHECK(s["tasks"][0]["reason"] == "Slurm killed it for using more memory than its job asked for");
  CHECK(s["counts"]["OUT_OF_MEMORY"] == 1);
  CHECK(s["state"] == "failed");
  auto only = e.x({"status", id, "--state", "OUT_OF_MEMORY", "--json"});
  CHECK(nlohmann::json::parse(only.out)["tasks"].size() == 1);
  auto logs = e.x({"logs", id, "--failed"});
  CHECK(logs.out.find("OUT_OF_MEMORY") != std::string::npos);
}
