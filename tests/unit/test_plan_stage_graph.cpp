#include <catch2/catch.hpp>

#include "xrun/plan/stage_graph.hpp"

using namespace xrun;

namespace {

plan::Stage stage(const std::string& name, std::vector<plan::After> after) {
  plan::Stage s;
  s.name = name;
  s.after = std::move(after);
  return s;
}

// Tasks of one stage, one per value set: {{"x", 1}, {"y", 2}} ...
void add_tasks(plan::Plan& p, size_t s, const std::vector<std::vector<std::pair<std::string, int64_t>>>& rows) {
  size_t base = 0;
  for (size_t k = 0; k < s; ++k) base += p.stages[k].tasks.size();
  for (const auto& row : rows) {
    plan::Task t;
    t.index = p.stages[s].tasks.size();
    t.id = base + t.index;
    for (const auto& [k, v] : row) t.variables.emplace_back(k, spec::Value::integer(v));
    p.stages[s].tasks.push_back(t);
  }
}

}  // namespace

TEST_CASE("the stage graph: by default each stage waits for the one before it", "[plan]") {
  plan::Plan p;
  p.stages = {stage("prep", plan::default_after(0)), stage("sweep", plan::default_after(1)),
              stage("report", plan::default_after(2))};
  p.stages[1].on_failure = spec::OnFailure::Continue;
  auto g = plan::StageGraph::of(p, false);
  REQUIRE(g.size() == 3);
  CHECK(g.needs(0).empty());
  REQUIRE(g.needs(2).size() == 1);
  CHECK(g.needs(2)[0].stage == 1);
  CHECK_FALSE(g.needs(2)[0].success);  // `on_failure: continue`: only its end is waited for
  CHECK(g.needs(1)[0].success);
  CHECK(g.blocked(2, {false, true, false}, {false, false, false}).empty());
  CHECK(g.blocked(1, {true, false, false}, {false, false, false}) == "stage 'prep' did not succeed");
  // A stage that never ran (its own dependency failed) stops the ones after it, even through
  // `on_failure: continue`: its tasks did not fail, they never ran.
  CHECK(g.blocked(2, {true, true, false}, {false, true, false}) == "stage 'sweep' did not run");
  auto keep = plan::StageGraph::of(p, true);  // --keep-going
  CHECK_FALSE(keep.needs(1)[0].success);
  CHECK(keep.blocked(1, {true, false, false}, {false, false, false}).empty());
  CHECK(g.order() == std::vector<size_t>{0, 1, 2});
}

TEST_CASE("the stage graph: named dependencies form a DAG, ordered after what each waits for", "[plan]") {
  plan::Plan p;
  // report waits for a and b; b is listed after report and waits for nothing.
  p.stages = {stage("a", {}), stage("report", {{0, false}, {2, false}}), stage("b", {})};
  auto g = plan::StageGraph::of(p, false);
  CHECK(g.order() == std::vector<size_t>{0, 2, 1});
  CHECK(g.needs(0).empty());
  CHECK(g.needs(2).empty());
  CHECK(g.blocked(1, {false, false, true}, {false, false, false}) == "stage 'b' did not succeed");
  auto lines = g.describe();
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "a: starts at once");
  CHECK(lines[2] == "report: after a (must succeed), b (must succeed)");
}

TEST_CASE("the stage graph: per-task needs pair tasks by the variables both stages use", "[plan]") {
  plan::Plan p;
  p.stages = {stage("sim", {}), stage("analyse", {{0, true}}), stage("summary", {{0, true}})};
  add_tasks(p, 0, {{{"seed", 1}, {"lr", 1}}, {{"seed", 1}, {"lr", 2}}, {{"seed", 2}, {"lr", 1}}, {{"seed", 2}, {"lr", 2}}});
  // analyse: one task per sim task (same seed and lr), listed in another order.
  add_tasks(p, 1, {{{"seed", 2}, {"lr", 2}}, {{"seed", 1}, {"lr", 1}}, {{"seed", 1}, {"lr", 2}}, {{"seed", 2}, {"lr", 1}}});
  // summary: per seed: waits for both lr of its seed.
  add_tasks(p, 2, {{{"seed", 1}}, {{"seed", 2}}});
  auto g = plan::StageGraph::of(p, false);
  REQUIRE(g.parents(4).size() == 1);
  CHECK(g.parents(4)[0].tasks == std::vector<size_t>{3});
  CHECK(g.parents(5)[0].tasks == std::vector<size_t>{0});
  CHECK(g.parents(8)[0].tasks == std::vector<size_t>{0, 1});
  CHECK(g.parents(9)[0].tasks == std::vector<size_t>{2, 3});
  CHECK(g.children(0) == std::vector<size_t>{5, 8});
  CHECK(g.one_to_one(1, 0));
  CHECK_FALSE(g.one_to_one(2, 0));
  CHECK(g.shared_variables(1, 0) == "seed, lr");
  CHECK(g.shared_variables(2, 0) == "seed");
  // A failed parent blocks only its own children.
  auto failed = [](size_t id) { return std::string(id == 3 ? "did not succeed" : ""); };
  CHECK(g.task_blocked(4, failed) == "task sim/3 did not succeed");
  CHECK(g.task_blocked(5, failed).empty());
  CHECK(g.task_blocked(9, failed) == "task sim/3 did not succeed");
  CHECK(g.task_blocked(8, failed).empty());
  // Per-task needs never block a whole stage.
  CHECK(g.blocked(1, {true, false, false}, {false, false, false}).empty());
}

TEST_CASE("the stage graph names tasks by their ids, which are not their positions", "[plan]") {
  plan::Plan p;
  p.stages = {stage("sim", {}), stage("analyse", {{0, true}})};
  add_tasks(p, 0, {{{"seed", 1}}, {{"seed", 2}}});
  add_tasks(p, 1, {{{"seed", 2}}, {{"seed", 1}}});
  // As a reload leaves them: sim's tasks 7 and 2, analyse's 0 and 9.
  p.stages[0].tasks[0].id = 7;
  p.stages[0].tasks[1].id = 2;
  p.stages[1].tasks[0].id = 0;
  p.stages[1].tasks[1].id = 9;
  REQUIRE(p.index_ids().ok());
  auto g = plan::StageGraph::of(p, false);
  CHECK(g.parents(0)[0].tasks == std::vector<size_t>{2});
  CHECK(g.parents(9)[0].tasks == std::vector<size_t>{7});
  CHECK(g.children(7) == std::vector<size_t>{9});
  CHECK(g.children(2) == std::vector<size_t>{0});
  CHECK(g.parents(7).empty());
  CHECK(g.parents(5).empty());  // no task has id 5
  CHECK(g.one_to_one(1, 0));
  auto failed = [](size_t id) { return std::string(id == 2 ? "did not succeed" : ""); };
  CHECK(g.task_blocked(0, failed) == "task sim/1 did not succeed");  // sim's task at index 1
  CHECK(g.task_blocked(9, failed).empty());
}

TEST_CASE("the stage graph: per-task with no shared variable waits for every task", "[plan]") {
  plan::Plan p;
  p.stages = {stage("a", {}), stage("b", {{0, true}})};
  add_tasks(p, 0, {{{"x", 1}}, {{"x", 2}}});
  add_tasks(p, 1, {{{"y", 1}}});
  auto g = plan::StageGraph::of(p, false);
  CHECK(g.parents(2)[0].tasks == std::vector<size_t>{0, 1});
  CHECK(g.shared_variables(1, 0).empty());
  CHECK_FALSE(g.one_to_one(1, 0));
}
