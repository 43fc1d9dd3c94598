// Workflow shape on the local pool, end to end with real processes: per-stage options, named
// stage dependencies (a DAG), per-task chaining, resource slots (docs/workflows.md).
#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <set>

#include "support/env.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {

struct Span {
  double start = 0, end = 0;
  std::string state, stage, reason;
};

std::vector<Span> spans(const Env& e, const std::string& id) {
  std::vector<Span> out;
  const auto st = e.status(id);
  for (const auto& t : st["tasks"]) {
    Span s;
    if (t["start"].is_number()) s.start = t["start"].get<double>();
    if (t["end"].is_number()) s.end = t["end"].get<double>();
    s.state = t["state"];
    s.stage = t["stage"];
    if (t["reason"].is_string()) s.reason = t["reason"];
    out.push_back(s);
  }
  return out;
}

bool overlap(const Span& a, const Span& b) { return a.start < b.end && b.start < a.end; }

}  // namespace

TEST_CASE("workflows: a stage's own walltime applies to that stage only", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "jobs:\n"
                  "  - name: short\n"
                  "    depends_on: []\n"
                  "    command: sleep 4\n"
                  "    local: {walltime: '0:01', kill_grace: 1}\n"
                  "  - name: long\n"
                  "    depends_on: []\n"
                  "    command: sleep 2\n");
  auto r = e.x({"run", f, "-j", "2"});
  CHECK(r.code == 1);
  auto s = spans(e, first_line(r.out));
  CHECK(s[0].state == "TIMEOUT");
  CHECK(s[0].reason.find("walltime of") != std::string::npos);
  CHECK(s[1].state == "SUCCEEDED");  // 2 s, over the other stage's walltime
}

TEST_CASE("workflows: independent stages run side by side, a dependent one after both", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "jobs:\n"
                  "  - name: a\n"
                  "    command: sleep 1\n"
                  "  - name: b\n"
                  "    depends_on: []\n"
                  "    command: sleep 1\n"
                  "  - name: report\n"
                  "    depends_on: [a, b]\n"
                  "    command: echo report\n");
  auto r = e.x({"run", f, "-j", "2"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto s = spans(e, first_line(r.out));
  CHECK(overlap(s[0], s[1]));
  CHECK(s[2].start >= s[0].end);
  CHECK(s[2].start >= s[1].end);
  // check prints the graph
  auto c = e.x({"check", f});
  CHECK(c.out.find("  a: starts at once\n") != std::string::npos);
  CHECK(c.out.find("  b: starts at once\n") != std::string::npos);
  CHECK(c.out.find("  report: after a (must succeed), b (must succeed)\n") != std::string::npos);
}

TEST_CASE("workflows: without depends_on the stages keep today's chain", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - command: sleep 0.5\n  - command: echo second\n");
  auto r = e.x({"run", f, "-j", "4"});
  REQUIRE(r.code == 0);
  auto s = spans(e, first_line(r.out));
  CHECK(s[1].start >= s[0].end);
}

TEST_CASE("workflows: per-task chaining starts a child when its own parent is done", "[cli][workflows]") {
  Env e;
  // sim x=1 ends at once, sim x=2 sleeps; analyse x=1 must start before sim x=2 ends. sim x=3
  // fails: only its own child is SKIPPED.
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 2, 3]\n"
                  "jobs:\n"
                  "  - name: sim\n"
                  "    command: 'if [ {x} = 2 ]; then sleep 2; fi; test {x} != 3'\n"
                  "  - name: analyse\n"
                  "    depends_on: [{stage: sim, per_task: true}]\n"
                  "    command: echo analyse {x}\n");
  auto r = e.x({"run", f, "-j", "3"});
  INFO(r.err);
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto s = spans(e, id);
  REQUIRE(s.size() == 6);
  CHECK(s[3].state == "SUCCEEDED");
  CHECK(s[3].start < s[1].end);  // before its slow sibling's parent ended
  CHECK(s[3].start >= s[0].end);  // after its own parent
  CHECK(s[4].state == "SUCCEEDED");
  CHECK(s[4].start >= s[1].end);
  CHECK(s[5].state == "SKIPPED");
  CHECK(s[5].reason == "task sim/2 did not succeed");
  CHECK(e.x({"logs", id, "analyse/0"}).out == "analyse 1\n");
  // The whole-stage form would have waited for all of sim (and skipped every analyse task).
  auto c = e.x({"check", f});
  CHECK(c.out.find("analyse: after sim (must succeed, per task)") != std::string::npos);
}

TEST_CASE("workflows: per-task chaining by the shared variables (a child of several parents)", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  product:\n    seed: [1, 2]\n    lr: [1, 2]\n"
                  "jobs:\n"
                  "  - name: train\n"
                  "    command: 'sleep 0.{seed}; echo {seed} {lr} > out-{seed}-{lr}'\n"
                  "  - name: merge\n"
                  "    depends_on: [{stage: train, per_task: true}]\n"
                  "    command: cat out-{seed}-1 out-{seed}-2\n");
  auto r = e.x({"run", f, "-j", "4"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  CHECK(e.x({"logs", id, "merge/0"}).out == "1 1\n1 2\n");
  CHECK(e.x({"logs", id, "merge/1"}).out == "2 1\n2 2\n");
}

TEST_CASE("workflows: resource ids are handed out per task, never shared at once", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  i: [1, 2, 3, 4, 5, 6, 7, 8]\n"
                  "local:\n  resources: {gpu: [0, 1, 2], licence: 2}\n"
                  "jobs:\n"
                  "  - name: train\n"
                  "    resources: {gpu: 1}\n"
                  "    command: 'echo \"$CUDA_VISIBLE_DEVICES $XRUN_RESOURCE_GPU $ROCR_VISIBLE_DEVICES $XRUN_SLOT\" {i}; sleep 0.4'\n"
                  "  - name: licensed\n"
                  "    depends_on: []\n"
                  "    resources: {licence: 1, gpu: 1}\n"
                  "    command: 'echo \"$CUDA_VISIBLE_DEVICES $XRUN_RESOURCE_LICENCE\" {i}; sleep 0.3'\n");
  auto r = e.x({"run", f, "-j", "6"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto s = spans(e, id);
  REQUIRE(s.size() == 16);
  std::vector<std::string> gpu(16);
  std::set<std::string> slots;
  for (size_t t = 0; t < 16; ++t) {
    auto out = util::trim(e.x({"logs", id, std::to_string(t)}).out);
    auto words = util::split(out, ' ');
    REQUIRE(words.size() >= 2);
    gpu[t] = words[0];
    CHECK((gpu[t] == "0" || gpu[t] == "1" || gpu[t] == "2"));
    if (t < 8) {
      REQUIRE(words.size() == 5);
      CHECK(words[1] == gpu[t]);  // XRUN_RESOURCE_GPU
      CHECK(words[2] == gpu[t]);  // ROCR_VISIBLE_DEVICES
      slots.insert(words[3]);
    } else {
      CHECK((words[1] == "0" || words[1] == "1"));  // a licence id
    }
  }
  for (const auto& sl : slots) CHECK((sl >= "1" && sl <= "6"));
  // Two tasks that ran at the same time never held the same GPU: at most 3 at once.
  for (size_t a = 0; a < 16; ++a)
    for (size_t b = a + 1; b < 16; ++b)
      if (overlap(s[a], s[b])) {
        INFO("tasks " << a << " and " << b);
        CHECK(gpu[a] != gpu[b]);
      }
  // --resources replaces the file's declaration: one GPU, so the tasks run one at a time.
  auto one = e.x({"run", f, "-j", "6", "--resources", "gpu=7"});
  REQUIRE(one.code == 0);
  std::string id2 = first_line(one.out);
  auto s2 = spans(e, id2);
  // "gpu=7" is a count: ids 0..6. A list with one id: gpu=7,
  CHECK(e.x({"logs", id2, "0"}).out.substr(0, 1) == "0");
  auto single = e.x({"run", f, "-j", "6", "--resources", "gpu=7,"});
  REQUIRE(single.code == 0);
  std::string id3 = first_line(single.out);
  auto s3 = spans(e, id3);
  for (size_t a = 0; a < 16; ++a) {
    CHECK(util::trim(e.x({"logs", id3, std::to_string(a)}).out).substr(0, 2) == "7 ");
    for (size_t b = a + 1; b < 16; ++b) CHECK_FALSE(overlap(s3[a], s3[b]));
  }
}

TEST_CASE("workflows: a stage's max_parallel and setup are its own", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  i: [1, 2, 3]\n"
                  "local:\n  setup: export WHO=top\n"
                  "jobs:\n"
                  "  - name: serial\n"
                  "    local: {max_parallel: 1, setup: export MORE=serial}\n"
                  "    command: 'echo $WHO $MORE {i}; sleep 0.4'\n"
                  "  - name: wide\n"
                  "    depends_on: []\n"
                  "    command: 'echo $WHO ${{MORE:-none}} {i}; sleep 0.4'\n");
  auto r = e.x({"run", f, "-j", "4"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto s = spans(e, id);
  for (size_t a = 0; a < 3; ++a)
    for (size_t b = a + 1; b < 3; ++b) CHECK_FALSE(overlap(s[a], s[b]));
  CHECK((overlap(s[3], s[4]) || overlap(s[3], s[5]) || overlap(s[4], s[5])));
  CHECK(e.x({"logs", id, "serial/0"}).out == "top serial 1\n");
  CHECK(e.x({"logs", id, "wide/0"}).out == "top none 1\n");
  auto c = e.x({"check", f});
  CHECK(c.out.find("max_parallel=1") != std::string::npos);
}

TEST_CASE("workflows: graph errors name the line and column", "[cli][workflows]") {
  Env e;
  auto cyc = e.file("cyc.yml",
                    "jobs:\n  - name: a\n    depends_on: [b]\n    command: echo a\n"
                    "  - name: b\n    depends_on: [a]\n    command: echo b\n");
  auto r = e.x({"check", cyc});
  CHECK(r.code == 2);
  CHECK(r.err.find("cyc.yml:6:18: error: the jobs' depends_on form a cycle (each waits for the next): a -> b -> a") !=
        std::string::npos);
  auto unknown = e.file("unknown.yml", "jobs:\n  - name: a\n    command: echo a\n  - name: b\n    depends_on: [{stage: aa, per_task: true}]\n    command: echo b\n");
  r = e.x({"run", unknown});
  CHECK(r.code == 2);
  CHECK(r.err.find("unknown.yml:5:18: error: job 'b' depends on 'aa', which no job is named") != std::string::npos);
  CHECK(r.err.find("did you mean 'a'?") != std::string::npos);
  auto undeclared = e.file("undeclared.yml", "jobs:\n  - name: a\n    resources: {gpu: 2}\n    command: echo a\n");
  r = e.x({"run", undeclared});
  CHECK(r.code == 2);
  CHECK(r.err.find("undeclared.yml:3:22: error: job 'a': the stage asks for resource 'gpu', which this machine does "
                   "not declare") != std::string::npos);
  r = e.x({"run", undeclared, "--resources", "gpu=1"});
  CHECK(r.code == 2);
  CHECK(r.err.find("asks for 2 'gpu' per task, and only 1 are declared") != std::string::npos);
  auto bad = e.file("bad.yml", "jobs:\n  - name: a\n    local: {walltime: soon}\n    command: echo a\n");
  r = e.x({"run", bad});
  CHECK(r.code == 2);
  CHECK(r.err.find("bad.yml:3:23: error: walltime 'soon' is not a duration") != std::string::npos);
  r = e.x({"run", unknown, "--resources", "gpu"});
  CHECK(r.code == 2);
}

TEST_CASE("workflows: resume honours the graph", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 2]\n"
                  "jobs:\n"
                  "  - name: sim\n"
                  "    command: 'test -e ok-{x} || test {x} = 1'\n"
                  "  - name: post\n"
                  "    depends_on: [{stage: sim, per_task: true}]\n"
                  "    command: 'echo post {x}; date +%s.%N > post-{x}'\n"
                  "  - name: report\n"
                  "    depends_on: [post]\n"
                  "    command: echo report\n");
  auto r = e.x({"run", f});
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto s = spans(e, id);
  CHECK(s[2].state == "SUCCEEDED");
  CHECK(s[3].state == "SKIPPED");
  CHECK(s[4].state == "SKIPPED");
  e.file("ok-2", "");
  auto again = e.x({"resume", id});
  INFO(again.err);
  REQUIRE(again.code == 0);
  auto s2 = spans(e, id);
  CHECK(s2[1].state == "SUCCEEDED");
  CHECK(s2[3].state == "SUCCEEDED");
  CHECK(s2[3].start >= s2[1].end);
  CHECK(s2[4].start >= s2[3].end);
  CHECK(s2[2].start == s[2].start);  // not run again
}

TEST_CASE("workflows: on schedulers each stage's script has its own options, gpu is the scheduler's request",
          "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 2]\n"
                  "scheduler:\n  walltime: '1:00:00'\n"
                  "jobs:\n"
                  "  - name: sim\n"
                  "    resources: {gpu: 1, licence: 1}\n"
                  "    command: echo {x}\n"
                  "  - name: post\n"
                  "    depends_on: [{stage: sim, per_task: true}]\n"
                  "    scheduler: {walltime: '0:05:00', cpus: 3}\n"
                  "    command: echo post {x}\n");
  auto slurm = e.x({"run", "--dry-run", "--backend", "slurm", f});
  INFO(slurm.err);
  REQUIRE(slurm.code == 0);
  auto second = slurm.out.find("stage2-0.sbatch ---");
  REQUIRE(second != std::string::npos);
  std::string first = slurm.out.substr(0, second), rest = slurm.out.substr(second);
  CHECK(first.find("#SBATCH --time=1:00:00") != std::string::npos);
  CHECK(first.find("#SBATCH --gres=gpu:1") != std::string::npos);
  CHECK(rest.find("#SBATCH --time=0:05:00") != std::string::npos);
  CHECK(rest.find("#SBATCH --cpus-per-task=3") != std::string::npos);
  CHECK(rest.find("--gres") == std::string::npos);
  CHECK(rest.find("--dependency=aftercorr:<job1>") != std::string::npos);
  CHECK(slurm.out.find("note: stage 'sim': resource 'licence' is counted by the local pool only") != std::string::npos);
  auto pbs = e.x({"run", "--dry-run", "--backend", "pbs", f});
  INFO(pbs.err);
  REQUIRE(pbs.code == 0);
  CHECK(pbs.out.find("ngpus=1") != std::string::npos);
  CHECK(pbs.out.find("walltime=0:05:00") != std::string::npos);
  CHECK(pbs.out.find("depend=afterok") != std::string::npos);
  CHECK(pbs.out.find("note: stage 'post' waits for all of stage 'sim' instead of task by task: PBS cannot chain array "
                     "elements one to one") != std::string::npos);
}

TEST_CASE("workflows: every example of docs/workflows.md runs on the local pool", "[cli][workflows][docs]") {
  Env e;
  size_t n = 0;
  for (const auto& block : test::yaml_blocks(test::read(test::source_dir() + "/docs/workflows.md"))) {
    ++n;
    auto f = e.file("wf" + std::to_string(n) + ".yml", block);
    INFO(block);
    auto r = e.x({"run", f, "-j", "3"});
    INFO(r.err);
    CHECK(r.code == 0);
    auto s = e.status(first_line(r.out));
    CHECK(s["state"] == "succeeded");
  }
  CHECK(n == 4);
}

// ---- faults found by review (each failed before its fix) ----

namespace {
std::string wait_id(const test::Background& b) {
  REQUIRE(test::eventually([&] { return !b.out().empty(); }));
  return first_line(b.out());
}
}  // namespace

TEST_CASE("workflows: a per-task child of a stage that never ran is SKIPPED, the run ends", "[cli][workflows]") {
  Env e;
  e.opts.timeout = 30;  // (it hung)
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 2]\n"
                  "jobs:\n"
                  "  - name: a\n    command: exit 1\n"
                  "  - name: b\n    depends_on: [a]\n    command: echo b {x}\n"
                  "  - name: c\n    depends_on: [{stage: b, per_task: true}]\n    command: echo c {x}\n");
  auto r = e.x({"run", f});
  CHECK(r.code == 1);
  auto s = spans(e, first_line(r.out));
  REQUIRE(s.size() == 5);
  CHECK(s[1].state == "SKIPPED");
  CHECK(s[3].state == "SKIPPED");
  CHECK(s[4].state == "SKIPPED");
}

TEST_CASE("workflows: a chain of stages moves on at once, not on the next tick", "[cli][workflows]") {
  Env e;
  std::string jobs = "jobs:\n";
  for (int k = 0; k < 10; ++k) jobs += "  - command: 'true'\n";
  auto f = e.file("exp.yml", jobs);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  auto s = spans(e, first_line(r.out));
  // Each stage waited a full second for the loop's tick before: 10 stages took over 9 s.
  CHECK(s[9].end - s[0].start < 6.0);
}

TEST_CASE("workflows: a stage's option wins over every top-level section, setup runs top first",
          "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "scheduler:\n  setup: echo top-scheduler\n"
                  "local:\n  walltime: '0:30'\n  kill_grace: 1\n  setup: echo top-local\n"
                  "jobs:\n"
                  "  - name: a\n"
                  "    scheduler: {walltime: '0:01', setup: echo stage}\n"
                  "    command: sleep 5\n");
  auto r = e.x({"run", f});
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto s = spans(e, id);
  CHECK(s[0].state == "TIMEOUT");
  CHECK(e.x({"logs", id, "0"}).out == "top-scheduler\ntop-local\nstage\n");
  auto c = e.x({"check", f});
  CHECK(c.out.find("walltime=0:01") != std::string::npos);
}

TEST_CASE("workflows: a stage's jobs caps it even when the top says max_parallel", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  i: [1, 2, 3]\n"
                  "local:\n  max_parallel: 4\n"
                  "jobs:\n  - name: a\n    local: {jobs: 1}\n    command: 'sleep 0.4 # {i}'\n");
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  auto s = spans(e, first_line(r.out));
  for (size_t a = 0; a < 3; ++a)
    for (size_t b = a + 1; b < 3; ++b) CHECK_FALSE(overlap(s[a], s[b]));
}

TEST_CASE("workflows: Ctrl-C leaves the children waiting for their parents CANCELLED", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 3]\n"
                  "jobs:\n"
                  "  - name: b\n    command: sleep {x}\n"
                  "  - name: c\n    depends_on: [{stage: b, per_task: true}]\n    command: echo c {x}\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 2) == "SUCCEEDED"; }));
  ::kill(b.pid, SIGINT);
  CHECK(b.wait() == 130);
  auto s = spans(e, id);
  CHECK(s[1].state == "CANCELLED");
  CHECK(s[3].state == "CANCELLED");
  CHECK(s[3].reason == "interrupted by SIGINT before it started");
}

TEST_CASE("workflows: a per-task child of a task left out by early stopping is SKIPPED", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 2, 3]\n"
                  "jobs:\n"
                  "  - name: train\n"
                  "    early_stopping: [{metric: acc, value: 0.5, optimization: maximize}]\n"
                  "    command: 'echo \"{{\\\"acc\\\": 0.9}}\" >> $XRUN_METRICS; echo {x} > out-{x}'\n"
                  "  - name: eval\n"
                  "    depends_on: [{stage: train, per_task: true}]\n"
                  "    command: cat out-{x}\n");
  auto r = e.x({"run", f, "-j", "1"});
  INFO(r.err);
  CHECK(r.code == 0);
  auto s = spans(e, first_line(r.out));
  REQUIRE(s.size() == 6);
  CHECK(s[0].state == "SUCCEEDED");
  CHECK(s[1].state == "SKIPPED");
  CHECK(s[3].state == "SUCCEEDED");
  CHECK(s[4].state == "SKIPPED");
  CHECK(s[4].reason == "task train/1 was left out by early stopping");
}

TEST_CASE("workflows: resources are declared for the whole file, check warns of an unmet demand", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - name: a\n    local: {resources: {gpu: 2}}\n    resources: {gpu: 1}\n    command: echo a\n");
  auto r = e.x({"run", f});
  CHECK(r.code == 2);
  CHECK(r.err.find("exp.yml:3:24: error: what the machine has ('resources') is declared for the whole file") !=
        std::string::npos);
  CHECK(e.x({"list"}).out.find("exp-") == std::string::npos);  // nothing created
  auto g = e.file("g.yml", "local:\n  resources: {gpu: 2}\njobs:\n  - name: a\n    resources: {gpu: 3}\n    command: echo a\n");
  auto c = e.x({"check", g});
  CHECK(c.code == 0);
  CHECK(c.err.find("g.yml:5:22: warning: job 'a': the stage asks for 3 'gpu' per task, and only 2 are declared") !=
        std::string::npos);
  auto d = e.file("d.yml", "docker:\n  image: busybox\njobs:\n  - name: a\n    resources: {gpu: 1}\n    command: echo a\n");
  r = e.x({"run", d});
  CHECK(r.code == 2);
  CHECK(r.err.find("declare it: `docker: {resources: {gpu: [0, 1]}}`") != std::string::npos);
}

TEST_CASE("workflows: after kill -9 of the runner, resume keeps the ids its adopted tasks hold", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  m: [1, 2, 3, 4, 5, 6]\n"
                  "local:\n  resources: {gpu: [0, 1]}\n"
                  "jobs:\n  - name: t\n    resources: {gpu: 1}\n    command: 'echo $CUDA_VISIBLE_DEVICES {m}; sleep 2'\n");
  auto b = e.bg({"run", f, "-j", "4", "--quiet"});
  std::string id = wait_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "RUNNING"; }));
  ::kill(b.pid, SIGKILL);
  b.wait();
  auto r = e.x({"resume", id, "-j", "4", "--quiet"});
  CHECK(r.code == 0);
  auto s = spans(e, id);
  std::vector<std::string> gpu;
  for (size_t t = 0; t < 6; ++t) gpu.push_back(util::trim(e.x({"logs", id, std::to_string(t)}).out).substr(0, 1));
  for (size_t a = 0; a < 6; ++a)
    for (size_t b2 = a + 1; b2 < 6; ++b2)
      if (overlap(s[a], s[b2])) {
        INFO("tasks " << a << " and " << b2);
        CHECK(gpu[a] != gpu[b2]);
      }
}

TEST_CASE("workflows: a stored plan whose stages wait for each other is refused, not run forever", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - name: a\n    command: exit 1\n  - name: b\n    command: echo b\n");
  auto r = e.x({"run", f});
  std::string id = first_line(r.out);
  std::string plan_path = e.exp_dir(id) + "/plan.json";
  auto plan = nlohmann::ordered_json::parse(test::read(plan_path));
  plan["stages"][0]["after"] = nlohmann::ordered_json::array({{{"stage", 1}, {"per_task", false}}});
  plan["stages"][1]["after"] = nlohmann::ordered_json::array({{{"stage", 0}, {"per_task", false}}});
  test::write_file(e.exp_dir(id), "plan.json", plan.dump());
  e.opts.timeout = 30;
  auto res = e.x({"resume", id});
  CHECK(res.code != 0);
  CHECK(res.code != -1);  // (not killed by the timeout)
  CHECK(res.err.find("waits for itself") != std::string::npos);
}

TEST_CASE("workflows: a job's own docker image is its stage's", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "docker:\n  image: busybox:latest\n"
                  "jobs:\n"
                  "  - name: a\n    command: echo a\n"
                  "  - name: b\n    docker: {image: 'alpine:3.19'}\n    command: echo b\n");
  auto r = e.x({"run", "--dry-run", f});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("of busybox:latest") != std::string::npos);
  CHECK(r.out.find("  stage 'b': each task in a docker container of alpine:3.19") != std::string::npos);
  CHECK(r.out.find("stage 'a':") == std::string::npos);
  auto c = e.x({"check", f});
  CHECK(c.out.find("image=alpine:3.19") != std::string::npos);
}

TEST_CASE("workflows: check --json gives the graph as data, whatever the jobs are named", "[cli][workflows]") {
  Env e;
  auto f = e.file("exp.yml",
                  "variables:\n  x: [1, 2]\n"
                  "jobs:\n"
                  "  - name: 'prep: x'\n    command: echo {x}\n"
                  "  - name: post\n    depends_on: [{stage: 'prep: x', per_task: true}]\n    on_failure: continue\n"
                  "    command: echo post {x}\n"
                  "  - name: report\n    depends_on: [post]\n    command: echo report\n");
  auto c = e.x({"check", f});
  REQUIRE(c.code == 0);
  CHECK(c.out.find("  prep: x: starts at once\n") != std::string::npos);
  auto j = e.x({"check", f, "--json"});
  REQUIRE(j.code == 0);
  auto doc = nlohmann::json::parse(j.out);
  REQUIRE(doc["graph"].size() == 3);
  CHECK(doc["graph"][0]["stage"] == "prep: x");
  CHECK(doc["graph"][0]["after"] == "starts at once");
  CHECK(doc["graph"][1]["depends_on"][0]["stage"] == "prep: x");
  CHECK(doc["graph"][1]["depends_on"][0]["per_task"] == true);
  CHECK(doc["graph"][1]["depends_on"][0]["must"] == "succeed");
  CHECK(doc["graph"][2]["depends_on"][0]["must"] == "end");  // post says on_failure: continue
}
