// The PBS backend against the PBS Pro and Torque fakes (tests/fakes/: qsub, qstat, qdel that run
// jobs locally, written from the schedulers' documented behaviour).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "support/pbs_scenarios.hpp"
#include "support/scheduler.hpp"
#include "xrun/run/process.hpp"

using namespace xrun;

namespace {

// PATH first with the flavour's fake commands (logging their calls), a fresh fake server.
test::pbs::Site fake_site(const test::Env& scratch, const std::string& flavour) {
  test::pbs::Site s;
  const std::string fakes = test::source_dir() + "/tests/fakes/" + (flavour == "pro" ? "pbspro" : "torque");
  std::string bin = test::logging_bin(scratch.path("logbin"), scratch.path("calls.log"), {"qsub", "qstat", "qdel"},
                                      [&](const std::string& cmd) { return fakes + "/" + cmd; });
  s.env["PATH"] = bin + ":" + std::getenv("PATH");
  s.env["XRUN_FAKE_PBS_HOME"] = scratch.path("server");
  s.env["XRUN_FAKE_PBS_KILL_DELAY"] = "1";
  s.calls = scratch.path("calls.log");
  s.section = "pbs:\n  flavor: " + flavour + "\n  walltime: '10:00'\n  poll_interval: 0.5\n";
  return s;
}

void stop_fake(const test::pbs::Site& s) {
  // End whatever a failed check left running: the fake's elements are in their own sessions.
  (void)run::capture({"sh", "-c", "pkill -f '" + s.env.at("XRUN_FAKE_PBS_HOME") + "' || true"}, 10);
}

}  // namespace

TEST_CASE("pbs pro fake: 3 stages, a failure skips the next, resume reruns only it", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  test::pbs::three_stages_failure_and_resume(site);
  // PBS Pro: arrays with -J, one-task arrays as plain jobs, dependencies with -W depend.
  auto calls = test::read(site.calls);
  CHECK(calls.find("qsub -J 0-2") != std::string::npos);
  CHECK(calls.find("depend=afterok:") != std::string::npos);
  CHECK(calls.find("qstat -x -f -F json -t") != std::string::npos);
  // One qstat per status refresh, for the whole experiment.
  ::unlink(site.calls.c_str());
  test::Env e;
  test::pbs::apply(site, e);
  auto f = e.file("q.yml", "command: 'sleep 5 # {x}'\nvariables:\n  x: [1, 2, 3]\n" + site.section);
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  ::unlink(site.calls.c_str());
  CHECK(e.x({"status", test::first_line(r.out), "--json"}).code == 0);
  CHECK(test::pbs::count_calls(site, "qstat") == 1);
  CHECK(e.x({"cancel", test::first_line(r.out)}).code == 0);
  stop_fake(site);
}

TEST_CASE("pbs pro fake: cancel of one running element", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  test::pbs::cancel_one_running_element(site);
  CHECK(test::read(site.calls).find("qdel 1[0].fakepbs") != std::string::npos);
  stop_fake(site);
}

TEST_CASE("pbs pro fake: a hangup detaches run --wait (exit 129), nothing cancelled", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  test::pbs::hangup_detaches_the_watcher(site);
  stop_fake(site);
}

TEST_CASE("pbs pro fake: a sparse resume goes through a task map (PBS Pro has no index lists)", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  test::Env e;
  test::pbs::apply(site, e);
  auto f = e.file("exp.yml", "command: 'test {x} -eq 2 || test {x} -eq 4 || test -e " + e.path("ok") +
                                 "'\nvariables:\n  x: [1, 2, 3, 4]\n" + site.section);
  auto r = e.x({"run", f, "--wait", "--quiet"});
  REQUIRE(r.code == 1);
  std::string id = test::first_line(r.out);
  e.file("ok", "");
  auto again = e.x({"resume", id, "--wait", "--quiet"});
  INFO(again.err);
  CHECK(again.code == 0);
  auto s = e.status(id);
  CHECK(s["tasks"][0]["attempt"] == 2);
  CHECK(s["tasks"][1]["attempt"] == 1);
  CHECK(s["tasks"][2]["attempt"] == 2);
  CHECK(test::read(site.calls).find("qsub -J 0-1 ") != std::string::npos);  // tasks 0 and 2 as indices 0-1
  // The map is inside that submission's own script (the scheduler copies it at submission).
  auto script = test::read(e.exp_dir(id) + "/backend/pbs/stage1-0.s2.pbs");
  CHECK(script.find("  0) _t=0 ;;\n  1) _t=2 ;;\n") != std::string::npos);
  stop_fake(site);
}

TEST_CASE("pbs pro fake: walltime is TIMEOUT", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  test::Env e;
  test::pbs::apply(site, e);
  auto f = e.file("exp.yml", "command: 'sleep 30'\npbs:\n  flavor: pro\n  walltime: '0:02'\n  poll_interval: 0.5\n");
  auto r = e.x({"run", f, "--wait", "--quiet"});
  CHECK(r.code == 1);
  CHECK(e.state(test::first_line(r.out), 0) == "TIMEOUT");
  stop_fake(site);
}

TEST_CASE("a login shell that is not sh (csh, fish) never runs xrun's scripts: #PBS -S /bin/sh, on both fakes",
          "[pbs]") {
  for (std::string flavour : {"pro", "torque"}) {
    DYNAMIC_SECTION(flavour) {
      test::Env scratch;
      auto site = fake_site(scratch, flavour);
      // A login shell that cannot read sh (as csh cannot read `_now() {`).
      std::string csh = scratch.file("csh", "#!/bin/sh\necho \"csh: syntax error\" >&2\nexit 1\n");
      ::chmod(csh.c_str(), 0755);
      site.env["XRUN_FAKE_PBS_LOGIN_SHELL"] = csh;
      test::Env e;
      test::pbs::apply(site, e);
      auto f = e.file("exp.yml", "command: 'echo ran {x}'\nvariables:\n  x: [1, 2]\n" + site.section);
      auto r = e.x({"run", f, "--wait", "--quiet"});
      INFO(r.err);
      CHECK(r.code == 0);
      std::string id = test::first_line(r.out);
      CHECK(e.state(id, 0) == "SUCCEEDED");
      CHECK(e.state(id, 1) == "SUCCEEDED");
      stop_fake(site);
    }
  }
}

TEST_CASE("job history as the servers keep it by default: PBS Pro forgets a finished job at once, Torque after "
          "keep_completed - a walltime is TIMEOUT on both, a qdel of a pending element CANCELLED", "[pbs]") {
  for (std::string flavour : {"pro", "torque"}) {
    DYNAMIC_SECTION(flavour) {
      test::Env scratch;
      auto site = fake_site(scratch, flavour);
      site.env["XRUN_FAKE_PBS_KEEP"] = flavour == "pro" ? "0" : "3";  // job_history_enable false / keep_completed
      site.env["XRUN_FAKE_PBS_SLOTS"] = "1";
      test::Env e;
      test::pbs::apply(site, e);
      // Task 0 reaches its walltime (it dies of SIGTERM, or traps it and exits 0); task 1 waits
      // for the only slot and is deleted from the queue by hand.
      auto f = e.file("exp.yml", "command: 'if [ {x} = 0 ]; then sleep 30; else sleep 1; fi'\n"
                                 "variables:\n  x: [0, 1]\npbs:\n  flavor: " + flavour +
                                     "\n  walltime: '0:02'\n  poll_interval: 0.5\n");
      auto r = e.x({"run", f, "--quiet"});
      REQUIRE(r.code == 0);
      std::string id = test::first_line(r.out);
      REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }, 30));
      // The element of task 1, deleted while it waits (qdel outside xrun).
      auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
      std::string job = runner["jobs"][0];
      std::string element = job.substr(0, job.find("[]")) + "[1]" + job.substr(job.find("[]") + 2);
      test::RunOpts o;
      o.env = site.env;
      const std::string qdel = test::source_dir() + "/tests/fakes/" + (flavour == "pro" ? "pbspro" : "torque") + "/qdel";
      auto del = test::run_program({qdel, element}, o);
      INFO(del.err);
      REQUIRE(del.code == 0);
      REQUIRE(test::eventually([&] { return e.state(id, 0) != "RUNNING"; }, 30));
      // Wait until the server forgot the job, then look.
      ::sleep(flavour == "pro" ? 1 : 4);
      auto s = e.status(id);
      INFO(s.dump());
      CHECK(s["tasks"][0]["state"] == "TIMEOUT");
      CHECK(s["tasks"][1]["state"] == "CANCELLED");
      stop_fake(site);
    }
  }
}

TEST_CASE("an exit status of 271 is TIMEOUT only when the walltime used reached the limit, else CANCELLED", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "torque");
  site.env["XRUN_FAKE_PBS_WALLTIME_EXIT"] = "271";  // a site where a walltime kill reads as a SIGTERM
  test::Env e;
  test::pbs::apply(site, e);
  // Task 0 reaches its 2 s walltime; task 1 (10 minutes) is deleted by hand while it runs.
  auto f = e.file("exp.yml", "pbs:\n  flavor: torque\n  walltime: '0:02'\n  poll_interval: 0.5\n"
                             "jobs:\n  - name: short\n    command: 'sleep 30'\n"
                             "  - name: long\n    depends_on: []\n    command: 'sleep 30'\n    pbs: {walltime: '10:00'}\n");
  auto r = e.x({"run", f, "--quiet"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = test::first_line(r.out);
  REQUIRE(test::eventually([&] { return e.state(id, 1) == "RUNNING"; }, 30));
  auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
  test::RunOpts o;
  o.env = site.env;
  for (const auto& job : runner["jobs"]) {
    auto q = test::run_program({test::source_dir() + "/tests/fakes/torque/qstat", "-f", job.get<std::string>()}, o);
    if (q.out.find("walltime = 00:10:00") != std::string::npos || q.out.find("walltime = 10:00") != std::string::npos)
      REQUIRE(test::run_program({test::source_dir() + "/tests/fakes/torque/qdel", job.get<std::string>()}, o).code == 0);
  }
  REQUIRE(test::eventually([&] { return e.state(id, 0) != "RUNNING" && e.state(id, 1) != "RUNNING"; }, 30));
  auto s = e.status(id);
  INFO(s.dump());
  CHECK(s["tasks"][0]["state"] == "TIMEOUT");
  CHECK(s["tasks"][1]["state"] == "CANCELLED");
  stop_fake(site);
}

TEST_CASE("pbs pro fake: workdir with placeholders, each element in its own folder", "[pbs][workdir]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  test::pbs::per_task_workdir(site);
  stop_fake(site);
}

TEST_CASE("torque fake: 3 stages, a failure skips the next, resume reruns only it", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "torque");
  test::pbs::three_stages_failure_and_resume(site);
  auto calls = test::read(site.calls);
  CHECK(calls.find("qsub -t 0-2") != std::string::npos);
  CHECK(calls.find("depend=afterokarray:") != std::string::npos);
  CHECK(calls.find("qstat -f -t") != std::string::npos);
  stop_fake(site);
}

TEST_CASE("torque fake: cancel of one running element", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "torque");
  test::pbs::cancel_one_running_element(site);
  stop_fake(site);
}

TEST_CASE("experi's pbs examples submit on the PBS Pro fake", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  test::Env e;
  test::pbs::apply(site, e);
  // examples/pbs.yml, with the fake's flavour added (its own keys unchanged).
  std::string text = test::read(test::source_dir() + "/tests/experi/examples-pbs/experiment.yml");
  REQUIRE(!text.empty());
  auto f = e.file("pbs.yml", text + "    flavor: pro\n    poll_interval: 0.5\n");
  auto r = e.x({"run", f, "--wait", "--quiet"});
  INFO(r.err);
  CHECK(r.code == 0);
  auto s = e.status(test::first_line(r.out));
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"].size() == 18);
  stop_fake(site);
}

TEST_CASE("experi's trimer_dynamics example submits on the PBS Pro fake with its own flags", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  test::Env e;
  test::pbs::apply(site, e);
  std::string text = test::read(test::source_dir() + "/tests/experi/examples-trimer_dynamics/experiment.yml");
  REQUIRE(!text.empty());
  auto f = e.file("trimer.yml", text + "  flavor: pro\n");
  auto dry = e.x({"run", f, "--dry-run"});
  REQUIRE(dry.code == 0);
  CHECK(dry.out.find("#PBS -l select=1:ncpus=12:mem=16gb\n") != std::string::npos);
  CHECK(dry.out.find("#PBS -l walltime=100:00:00\n") != std::string::npos);
  CHECK(dry.out.find("#PBS -P PRJ-CrysGrowth\n") != std::string::npos);
  CHECK(dry.out.find("#PBS -o logs\n") != std::string::npos);
  CHECK(dry.out.find("#PBS -j oe\n") != std::string::npos);
  auto r = e.x({"run", f, "--quiet"});  // submitted (the commands need its software: not run to the end)
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = test::first_line(r.out);
  CHECK(e.x({"cancel", id}).code == 0);
  stop_fake(site);
}

TEST_CASE("the seed document's PBS example gives its documented header", "[pbs]") {
  test::Env e;
  auto f = e.file("seed.yml", "command: python run.py {x}\nvariables:\n  x: [1, 2]\npbs:\n  flavor: pro\n"
                              "  walltime: \"30:00\"\n  cpus: 2\n  memory: 2gb\n  setup: [module load python]\n");
  auto dry = e.x({"run", f, "--dry-run"});
  REQUIRE(dry.code == 0);
  CHECK(dry.out.find("#PBS -l select=1:ncpus=2:mem=2gb\n") != std::string::npos);
  CHECK(dry.out.find("#PBS -l walltime=30:00\n") != std::string::npos);
  CHECK(dry.out.find("$ qsub -J 0-1 ") != std::string::npos);
  // Torque's form of the same request.
  auto t = e.file("torque.yml", "command: python run.py {x}\nvariables:\n  x: [1, 2]\npbs:\n  flavor: torque\n"
                                "  walltime: 90\n  cpus: 2\n  memory: 2gb\n  max_parallel: 1\n");
  auto td = e.x({"run", t, "--dry-run"});
  REQUIRE(td.code == 0);
  CHECK(td.out.find("#PBS -l nodes=1:ppn=2\n") != std::string::npos);
  CHECK(td.out.find("#PBS -l mem=2gb\n") != std::string::npos);
  CHECK(td.out.find("#PBS -l walltime=1:30:00\n") != std::string::npos);  // a bare number is minutes
  CHECK(td.out.find("$ qsub -t 0-1%1 ") != std::string::npos);
}

TEST_CASE("pbs pro fake: early_stopping cancels what has not started and the next stage runs", "[pbs]") {
  test::Env scratch;
  auto site = fake_site(scratch, "pro");
  site.env["XRUN_FAKE_PBS_SLOTS"] = "1";  // one element at a time: the later ones wait
  test::Env e;
  test::pbs::apply(site, e);
  auto f = e.file("exp.yml", "jobs:\n  - command: |\n      echo '{{\"loss\": {x}}}' >> \"$XRUN_METRICS\"\n      sleep 0.5\n"
                             "    early_stopping:\n      - {metric: loss, value: 2, optimization: minimize}\n"
                             "  - command: echo after\nvariables:\n  x: [1, 3, 4, 5, 6, 7]\n" + site.section);
  auto r = e.x({"run", f, "--wait", "--quiet"});
  INFO(r.err);
  CHECK(r.code == 0);
  auto s = e.status(test::first_line(r.out));
  CHECK(s["tasks"][0]["state"] == "SUCCEEDED");
  size_t skipped = 0;
  for (int i = 1; i < 6; ++i) skipped += s["tasks"][i]["state"] == "SKIPPED";
  CHECK(skipped >= 1);  // those not started when --wait noticed
  CHECK(s["tasks"][6]["state"] == "SUCCEEDED");
  stop_fake(site);
}
