// Workflow shape on the real single-node Slurm cluster: per-stage options on the submitted jobs,
// a DAG of arrays, element-for-element chaining (aftercorr). See docs/workflows.md.
#include <catch2/catch.hpp>

#include <map>

#include <nlohmann/json.hpp>

#include "support/env.hpp"
#include "support/scheduler.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;
using test::require_cluster;

namespace {

// stage name -> (job id, dependencies as recorded) of the first submission.
std::map<std::string, std::pair<std::string, std::vector<std::string>>> submitted(const Env& e, const std::string& id) {
  auto j = nlohmann::json::parse(test::read(e.exp_dir(id) + "/backend/slurm/submission-1.json"));
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& a : j["arrays"]) out[a["stage_name"]] = {a["job_id"], a["after"].get<std::vector<std::string>>()};
  return out;
}

// A field of `scontrol show job ID` (the first element's, for an array).
std::string job_field(const std::string& job, const std::string& field) {
  auto r = run::capture({"scontrol", "show", "job", job}, 30);
  REQUIRE(r);
  auto at = r->out.find(field + "=");
  if (at == std::string::npos) return "";
  auto end = r->out.find_first_of(" \n", at);
  return r->out.substr(at + field.size() + 1, end - at - field.size() - 1);
}

}  // namespace

TEST_CASE("workflows on Slurm: each stage is submitted with its own --time and --cpus-per-task", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 2]\n"
                  "slurm:\n  poll_interval: 1\n  walltime: '0:10:00'\n"
                  "jobs:\n"
                  "  - name: setup\n"
                  "    command: echo setup\n"
                  "  - name: sweep\n"
                  "    command: echo sweep {x} $SLURM_CPUS_PER_TASK\n"
                  "    slurm: {walltime: '0:02:00', cpus: 2}\n");
  auto r = e.x({"run", f, "--wait"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto jobs = submitted(e, id);
  CHECK(job_field(jobs["setup"].first, "TimeLimit") == "00:10:00");
  CHECK(job_field(jobs["sweep"].first, "TimeLimit") == "00:02:00");
  CHECK(job_field(jobs["sweep"].first, "CPUs/Task") == "2");
  CHECK(job_field(jobs["setup"].first, "CPUs/Task") == "1");
  CHECK(e.x({"logs", id, "sweep/1"}).out == "sweep 2 2\n");
  CHECK(util::read_file(e.exp_dir(id) + "/backend/slurm/stage2-0.sbatch").value().find("#SBATCH --time=0:02:00") !=
        std::string::npos);
}

TEST_CASE("workflows on Slurm: two independent stages are arrays without a dependency between them", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml",
                  "slurm:\n  poll_interval: 1\n"
                  "jobs:\n"
                  "  - name: a\n    command: sleep 3\n"
                  "  - name: b\n    depends_on: []\n    command: sleep 3\n"
                  "  - name: report\n    depends_on: [a, b]\n    command: echo report\n");
  auto r = e.x({"run", f, "--wait"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto jobs = submitted(e, id);
  CHECK(jobs["a"].second.empty());
  CHECK(jobs["b"].second.empty());
  CHECK(jobs["report"].second == std::vector<std::string>{"ok:" + jobs["a"].first, "ok:" + jobs["b"].first});
  auto s = e.status(id);
  double a0 = s["tasks"][0]["start"], a1 = s["tasks"][0]["end"], b0 = s["tasks"][1]["start"], b1 = s["tasks"][1]["end"];
  CHECK((a0 < b1 && b0 < a1));  // side by side on the node's two CPUs
  CHECK(s["tasks"][2]["start"].get<double>() >= std::max(a1, b1));
}

TEST_CASE("workflows on Slurm: per-task chaining with aftercorr, a failed parent skips only its child", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 2, 3]\n"
                  "slurm:\n  poll_interval: 1\n"
                  "jobs:\n"
                  "  - name: sim\n"
                  "    command: 'if [ {x} = 3 ]; then sleep 6; fi; test {x} != 2'\n"
                  "  - name: analyse\n"
                  "    depends_on: [{stage: sim, per_task: true}]\n"
                  "    command: echo analyse {x}\n");
  auto r = e.x({"run", f, "--wait"});
  INFO(r.err);
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto jobs = submitted(e, id);
  CHECK(jobs["analyse"].second == std::vector<std::string>{"corr:" + jobs["sim"].first});
  auto s = e.status(id);
  CHECK(s["tasks"][3]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][3]["start"].get<double>() < s["tasks"][2]["end"].get<double>());  // before the slow parent ended
  CHECK(s["tasks"][4]["state"] == "SKIPPED");
  CHECK(s["tasks"][4]["reason"] == "task sim/1 did not succeed");
  CHECK(s["tasks"][5]["state"] == "SUCCEEDED");
  CHECK(e.x({"logs", id, "analyse/2"}).out == "analyse 3\n");
}

TEST_CASE("workflows on Slurm: a per-task chain that does not pair index for index waits for the whole stage, and says so",
          "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  product:\n    seed: [1, 2]\n    lr: [1, 2]\n"
                  "slurm:\n  poll_interval: 1\n"
                  "jobs:\n"
                  "  - name: train\n    command: echo {seed} {lr} > out-{seed}-{lr}\n"
                  "  - name: merge\n"
                  "    depends_on: [{stage: train, per_task: true}]\n"
                  "    command: cat out-{seed}-1 out-{seed}-2\n");
  auto r = e.x({"run", f, "--wait"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.find("note: stage 'merge' waits for all of stage 'train' instead of task by task") != std::string::npos);
  std::string id = first_line(r.out);
  auto jobs = submitted(e, id);
  CHECK(jobs["merge"].second == std::vector<std::string>{"ok:" + jobs["train"].first});
  CHECK(e.x({"logs", id, "merge/1"}).out == "2 1\n2 2\n");
}
