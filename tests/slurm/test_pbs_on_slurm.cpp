// The PBS backend on Slurm's qsub/qstat/qdel wrappers (slurm-wlm-torque) over the real cluster:
// the situation of a site that moved from PBS to Slurm and kept its scripts.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <iostream>

#include "support/pbs_scenarios.hpp"
#include "support/scheduler.hpp"
#include "xrun/run/process.hpp"

using namespace xrun;

namespace {

test::pbs::Site wrappers_site(const test::Env& scratch) {
  if (const char* u = std::getenv("XRUN_SLURM_UNAVAILABLE"); u && *u) {
    std::cout << "SKIPPED: " << u << std::endl;
    xrun::test::skip_exit();
  }
  auto ping = run::capture({"scontrol", "ping"}, 20);
  if (run::find_on_path("qsub").empty() || !ping || ping->out.find("is UP") == std::string::npos) {
    std::cout << "SKIPPED: no Slurm cluster with its qsub wrappers here (scripts/slurm-cluster.sh start)" << std::endl;
    xrun::test::skip_exit();
  }
  // Log the calls of qsub, qstat, qdel, squeue and scancel.
  test::pbs::Site s;
  std::string bin = test::logging_bin(scratch.path("logbin"), scratch.path("calls.log"),
                                      {"qsub", "qstat", "qdel", "squeue", "scancel"});
  s.env["PATH"] = bin + ":" + std::getenv("PATH");
  s.calls = scratch.path("calls.log");
  s.section = "pbs:\n  walltime: '10:00'\n  cpus: 1\n";  // the flavour is detected
  return s;
}

}  // namespace

TEST_CASE("pbs on Slurm's qsub wrappers: 3 stages, a failure skips the next, resume reruns only it", "[slurm][pbs]") {
  test::Env scratch;
  auto site = wrappers_site(scratch);
  test::pbs::three_stages_failure_and_resume(site);
}

TEST_CASE("pbs on Slurm's qsub wrappers: workdir with placeholders, each element in its own folder",
          "[slurm][pbs][workdir]") {
  test::Env scratch;
  auto site = wrappers_site(scratch);
  test::pbs::per_task_workdir(site);
}

TEST_CASE("pbs on Slurm's qsub wrappers: cancel of one running element", "[slurm][pbs]") {
  test::Env scratch;
  auto site = wrappers_site(scratch);
  test::pbs::cancel_one_running_element(site);
}

TEST_CASE("pbs on Slurm's qsub wrappers: a hangup detaches run --wait (exit 129), nothing cancelled", "[slurm][pbs]") {
  test::Env scratch;
  auto site = wrappers_site(scratch);
  test::pbs::hangup_detaches_the_watcher(site);
}

TEST_CASE("pbs on Slurm's qsub wrappers: one status call per refresh", "[slurm][pbs]") {
  test::Env scratch;
  auto site = wrappers_site(scratch);
  test::Env e;
  test::pbs::apply(site, e);
  auto f = e.file("exp.yml", "command: 'sleep 1; echo {x}'\nvariables:\n  x: [1, 2, 3, 4]\n" + site.section);
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = test::first_line(r.out);
  CHECK(test::pbs::count_calls(site, "qsub") == 1);
  ::unlink(site.calls.c_str());
  CHECK(e.x({"status", id, "--json"}).code == 0);
  // Slurm's qstat has no elements: Slurm itself is asked, once.
  CHECK(test::pbs::count_calls(site, "squeue") + test::pbs::count_calls(site, "qstat") == 1);
  CHECK(e.x({"cancel", id}).code == 0);
}

TEST_CASE("experi's pbs examples, translated, on the real Slurm", "[slurm][pbs]") {
  test::Env scratch;
  (void)wrappers_site(scratch);  // skips without a cluster
  test::Env e;
  // examples/pbs.yml: its pbs: section's general keys become sbatch's.
  auto f = e.file("pbs.yml", test::read(test::source_dir() + "/tests/experi/examples-pbs/experiment.yml"));
  auto r = e.x({"run", f, "--backend", "slurm", "--wait", "--quiet"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(e.status(test::first_line(r.out))["tasks"].size() == 18);
  // trimer_dynamics: cpus 12 is more than this one-node cluster has, so only its translation is
  // checked: the general keys become sbatch flags, PBS's own flags are left out with a warning.
  auto t = e.file("trimer.yml", test::read(test::source_dir() + "/tests/experi/examples-trimer_dynamics/experiment.yml"));
  auto dry = e.x({"run", t, "--backend", "slurm", "--dry-run"});
  REQUIRE(dry.code == 0);
  CHECK(dry.out.find("#SBATCH --cpus-per-task=12\n") != std::string::npos);
  CHECK(dry.out.find("#SBATCH --mem=16gb\n") != std::string::npos);
  CHECK(dry.out.find("#SBATCH --time=100:00:00\n") != std::string::npos);
  CHECK(dry.out.find("#SBATCH --account=PRJ-CrysGrowth\n") != std::string::npos);
  CHECK(dry.err.find("pbs option 'o' has no equivalent on slurm") != std::string::npos);
  CHECK(dry.err.find("pbs option 'j' has no equivalent on slurm") != std::string::npos);
  CHECK(dry.out.find("#SBATCH -o") == std::string::npos);
  CHECK(dry.out.find("#SBATCH -j") == std::string::npos);
}
