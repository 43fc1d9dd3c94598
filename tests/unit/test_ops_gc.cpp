#include <catch2/catch.hpp>

#include "xrun/ops/experiment.hpp"
#include "xrun/ops/gc.hpp"

using namespace xrun;

TEST_CASE("gc ages: units, bare days, bad input", "[ops]") {
  CHECK(ops::parse_age("30d").value() == 30 * 86400);
  CHECK(ops::parse_age("12h").value() == 12 * 3600);
  CHECK(ops::parse_age("90m").value() == 90 * 60);
  CHECK(ops::parse_age("2w").value() == 14 * 86400);
  CHECK(ops::parse_age("3600s").value() == 3600);
  CHECK(ops::parse_age("2").value() == 2 * 86400);
  for (const char* bad : {"", "d", "-1d", "abc", "1y"}) CHECK_FALSE(ops::parse_age(bad).ok());
}

TEST_CASE("cancel targets: the given unfinished tasks, or every unfinished one", "[ops]") {
  std::vector<store::TaskStatus> st(4);
  for (size_t i = 0; i < st.size(); ++i) st[i].id = i;
  st[0].state = store::State::Succeeded;
  st[1].state = store::State::Running;
  st[2].state = store::State::Pending;
  st[3].state = store::State::Failed;
  auto all = ops::cancel_targets(st, {});
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == 1);
  CHECK(all[1].id == 2);
  auto some = ops::cancel_targets(st, {0, 2});
  REQUIRE(some.size() == 1);
  CHECK(some[0].id == 2);
}
