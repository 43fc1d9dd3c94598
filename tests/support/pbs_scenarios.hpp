// The PBS backend's scenarios, run against every PBS this machine can offer: Slurm's qsub
// wrappers over the real cluster (tests/slurm/) and the PBS Pro and Torque fakes (tests/pbs/).
#pragma once

#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <string>

#include "support/env.hpp"
#include "support/scheduler.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::test::pbs {

// Where a scenario runs: the environment (PATH first with the site's commands, a fake's state
// folder) and the `pbs:` section naming the flavour.
struct Site {
  std::map<std::string, std::string> env;
  std::string section;  // e.g. "pbs:\n  flavor: pro\n"
  std::string calls;    // a file the site's commands log their calls to ("" = none)
};

inline void apply(const Site& s, Env& e) {
  for (const auto& [k, v] : s.env) e.opts.env[k] = v;
}

inline size_t count_calls(const Site& s, const std::string& cmd) { return count_logged(s.calls, cmd); }

// A 3-stage experiment, the middle one failing for one task: arrays chained, the last stage
// SKIPPED, logs readable, one qsub per array; resume reruns only the failed task.
inline void three_stages_failure_and_resume(const Site& site) {
  Env e;
  apply(site, e);
  auto f = e.file("exp.yml",
                  "jobs:\n  - command: 'echo prep {x}'\n  - command: 'test {x} -ne 2 || test -e " + e.path("fixed") +
                      "'\n  - command: 'echo report'\nvariables:\n  x: [1, 2, 3]\n" + site.section);
  auto r = e.x({"run", f, "--wait", "--quiet"});
  INFO(r.err);
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto s = e.status(id);
  for (int i : {0, 1, 2, 3, 5}) CHECK(s["tasks"][i]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][4]["state"] == "FAILED");
  CHECK(s["tasks"][6]["state"] == "SKIPPED");
  CHECK(e.x({"logs", id, "0"}).out == "prep 1\n");
  if (!site.calls.empty()) CHECK(count_calls(site, "qsub") == 3);
  // Resume: only task 4 runs again (a one-element array), then the last stage.
  e.file("fixed", "");
  auto again = e.x({"resume", id, "--wait", "--quiet"});
  INFO(again.err);
  CHECK(again.code == 0);
  auto after = e.status(id);
  CHECK(after["state"] == "succeeded");
  CHECK(after["tasks"][4]["attempt"] == 2);
  CHECK(after["tasks"][3]["attempt"] == 1);
  CHECK(after["tasks"][6]["state"] == "SUCCEEDED");
}

// Cancel of one running element: it ends CANCELLED, its siblings go on.
inline void cancel_one_running_element(const Site& site) {
  Env e;
  apply(site, e);
  auto f = e.file("exp.yml", "command: 'sleep {t}'\nvariables:\n  t: [30, 2, 3]\n" + site.section);
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(eventually([&] { return e.state(id, 0) == "RUNNING"; }, 60));
  CHECK(e.x({"cancel", id, "0"}).code == 0);
  REQUIRE(eventually([&] {
    auto s = e.status(id);
    return s["tasks"][1]["state"] == "SUCCEEDED" && s["tasks"][2]["state"] == "SUCCEEDED";
  }, 60));
  CHECK(eventually([&] { return e.state(id, 0) == "CANCELLED"; }, 30));
}

// A hangup (a dropped ssh connection) to `run --wait`: the watcher detaches with exit 129 and
// cancels nothing; the jobs go on, and `xrun cancel` stops them later. (The scheduler's side of
// it is the same on every batch backend: tests/slurm/test_slurm_faults.cpp runs it on Slurm.)
inline void hangup_detaches_the_watcher(const Site& site) {
  Env e;
  apply(site, e);
  auto f = e.file("exp.yml", "command: 'sleep 30 # {x}'\nvariables:\n  x: [1, 2]\n" + site.section);
  auto bg = e.bg({"run", f, "--wait"});
  std::string id = wait_for_id(bg);
  REQUIRE(eventually([&] { return e.state(id, 0) == "RUNNING"; }, 60));
  ::kill(-bg.pid, SIGHUP);  // the shell passes the hangup on to its jobs' process groups
  CHECK(bg.wait(30) == 129);
  INFO(bg.err());
  CHECK(bg.err().find("nothing was cancelled") != std::string::npos);
  auto s = e.status(id);
  for (const auto& t : s["tasks"]) {
    CHECK(t["state"] != "CANCELLED");
    CHECK(t["state"] != "SKIPPED");
  }
  CHECK(e.state(id, 0) == "RUNNING");
  CHECK(e.x({"cancel", id}).code == 0);
  CHECK(eventually([&] { return e.state(id, 0) == "CANCELLED" && e.state(id, 1) == "CANCELLED"; }, 60));
}

// `workdir: runs/{x}`: each array element makes its own folder and runs there.
inline void per_task_workdir(const Site& site) {
  Env e;
  apply(site, e);
  auto f = e.file("exp.yml", "workdir: runs/{x}\ncommand: 'pwd > where'\nvariables:\n  x: [1, 2]\n" + site.section);
  auto r = e.x({"run", f, "--wait", "--quiet"});
  INFO(r.err);
  CHECK(r.code == 0);
  for (const char* x : {"1", "2"}) {
    std::string dir = e.path(std::string("runs/") + x);
    CHECK(read(dir + "/where") == util::absolute(dir) + "\n");
  }
}

}  // namespace xrun::test::pbs
