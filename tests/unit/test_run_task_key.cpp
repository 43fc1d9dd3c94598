// run::task_key (src/run/task_key.cpp): a task's key from what plan.json and meta.json hold.
#include <catch2/catch.hpp>

#include "xrun/plan/plan.hpp"
#include "xrun/run/task_key.hpp"

using namespace xrun;

namespace {
using json = nlohmann::ordered_json;

plan::Plan two_stages() {
  plan::Plan p;
  p.name = "study";
  plan::Stage s;
  s.name = "train";
  plan::Task t;
  t.commands = {"python train.py --lr 0.1"};
  t.variables = {{"lr", spec::Value::floating(0.1)}};
  s.tasks.push_back(t);
  t.id = 1;
  t.index = 1;
  t.commands = {"python train.py --lr 0.2"};
  t.variables = {{"lr", spec::Value::floating(0.2)}};
  s.tasks.push_back(t);
  p.stages.push_back(s);
  return p;
}
json meta_of(const std::string& backend, json options = json::object()) {
  return json{{"workdir", "/home/u/study"}, {"backend", backend}, {"options", options}};
}
}  // namespace

TEST_CASE("run::task_key: what a task does, not where it sits or what it is given", "[run][task_key]") {
  auto p = two_stages();
  const auto meta = meta_of("local");
  const auto k0 = run::task_key(meta, p, 0, p.stages[0].tasks[0]);
  const auto k1 = run::task_key(meta, p, 0, p.stages[0].tasks[1]);
  CHECK(k0 != k1);
  // Its position, id and index do not count: the same task elsewhere has the same key.
  auto moved = p;
  std::swap(moved.stages[0].tasks[0], moved.stages[0].tasks[1]);
  moved.stages[0].tasks[0].id = 0;
  moved.stages[0].tasks[0].index = 0;
  CHECK(run::task_key(meta, moved, 0, moved.stages[0].tasks[0]) == k1);
  // Resources do not count: more time or memory is not new work.
  auto more = meta_of("local", json{{"local", {{"walltime", "2:00:00"}, {"jobs", 4}}}});
  CHECK(run::task_key(more, p, 0, p.stages[0].tasks[0]) == k0);
  // Setup lines, the working directory and a container's image do.
  auto setup = meta_of("local", json{{"local", {{"setup", "source venv/bin/activate"}}}});
  CHECK(run::task_key(setup, p, 0, p.stages[0].tasks[0]) != k0);
  auto elsewhere = meta;
  elsewhere["workdir"] = "/scratch/u/study";
  CHECK(run::task_key(elsewhere, p, 0, p.stages[0].tasks[0]) != k0);
  auto py311 = meta_of("docker", json{{"docker", {{"image", "python:3.11"}}}});
  auto py312 = meta_of("docker", json{{"docker", {{"image", "python:3.12"}}}});
  CHECK(run::task_key(py311, p, 0, p.stages[0].tasks[0]) != run::task_key(py312, p, 0, p.stages[0].tasks[0]));
  // A stage of another name is other work.
  auto renamed = p;
  renamed.stages[0].name = "train2";
  CHECK(run::task_key(meta, renamed, 0, renamed.stages[0].tasks[0]) != k0);
}

TEST_CASE("run::task_key: the variables as plan.json stores them (1 and 1.0 and \"1\" differ)", "[run][task_key]") {
  auto p = two_stages();
  const auto meta = meta_of("local");
  auto in = run::key_inputs(meta, p, 0, p.stages[0].tasks[0]);
  REQUIRE(in.variables.size() == 1);
  CHECK(in.variables[0] == std::make_pair(std::string("lr"), std::string("0.1")));
  auto with = [&](const spec::Value& v) {
    auto q = p;
    q.stages[0].tasks[0].variables = {{"lr", v}};
    return run::task_key(meta, q, 0, q.stages[0].tasks[0]);
  };
  CHECK(with(spec::Value::integer(1)) != with(spec::Value::string("1")));
  CHECK(with(spec::Value::integer(1)) != with(spec::Value::floating(1.0)));
}

TEST_CASE("run::plan_keys: every task's task_key, in the plan's order", "[run][task_key]") {
  auto p = two_stages();
  for (const auto& meta : {meta_of("local"), meta_of("docker", json{{"docker", {{"image", "alpine"}, {"setup", "x"}}}})}) {
    auto keys = run::plan_keys(meta, p);
    std::vector<std::string> want;
    for (size_t s = 0; s < p.stages.size(); ++s)
      for (const auto& t : p.stages[s].tasks) want.push_back(run::task_key(meta, p, s, t));
    CHECK(keys == want);
  }
}
