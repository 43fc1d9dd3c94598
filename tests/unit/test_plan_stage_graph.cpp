#include <catch2/catch.hpp>

#include "xrun/plan/stage_graph.hpp"

using namespace xrun;

TEST_CASE("the stage graph: each stage waits for the earlier ones, a failed stop-stage blocks", "[plan]") {
  plan::Plan p;
  p.stages.resize(3);
  p.stages[0].name = "prep";
  p.stages[1].name = "sweep";
  p.stages[1].on_failure = spec::OnFailure::Continue;
  p.stages[2].name = "report";
  auto g = plan::StageGraph::of(p, false);
  REQUIRE(g.size() == 3);
  CHECK(g.needs(0).empty());
  REQUIRE(g.needs(2).size() == 2);
  CHECK(g.needs(2)[0].success);
  CHECK_FALSE(g.needs(2)[1].success);  // `on_failure: continue`: only its end is waited for
  CHECK(g.blocked(2, {false, true, false}).empty());
  CHECK(g.blocked(1, {true, false, false}) == "stage 'prep' did not succeed");
  auto keep = plan::StageGraph::of(p, true);  // --keep-going
  CHECK_FALSE(keep.needs(2)[0].success);
  CHECK(keep.blocked(2, {true, true, false}).empty());
}
