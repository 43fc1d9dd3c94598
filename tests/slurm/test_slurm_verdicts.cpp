// Verdicts on the real Slurm test cluster (issue 36): each state is what Slurm, the kernel and
// the task really said, never one xrun invented. Without a cluster every case exits with code 4
// (SKIPPED), as in test_slurm.cpp.
#include <catch2/catch.hpp>

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

