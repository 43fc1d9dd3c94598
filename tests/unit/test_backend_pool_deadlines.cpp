// The pool's deadlines, driven with numbers (no process, no sleep): walltime, grace, doomed groups.
#include <catch2/catch.hpp>

#include "xrun/backend/pool/deadlines.hpp"

using namespace xrun::backend::pool;
using Step = Deadline::Step;

TEST_CASE("deadlines: SIGTERM once the walltime is over, SIGKILL once the grace after it is", "[backend][pool]") {
  Deadline d;
  d.started(100);
  CHECK(d.due(100, 0, 5) == Step::None);  // no walltime: never
  CHECK(d.next(0, 5) < 0);
  CHECK(d.due(109.9, 10, 5) == Step::None);
  CHECK(d.next(10, 5) == 110);
  CHECK(d.due(110, 10, 5) == Step::Term);
  CHECK(d.due(500, 10, 5) == Step::Term);  // late: still a Term first
  d.terminate(111);
  CHECK(d.terminated());
  CHECK(d.next(10, 5) == 116);
  CHECK(d.due(115.9, 10, 5) == Step::None);
  CHECK(d.due(116, 10, 5) == Step::Kill);
  CHECK(d.due(116, 10, 0) == Step::Kill);
  // A new task in the slot starts over.
  d.started(200);
  CHECK_FALSE(d.terminated());
  CHECK(d.due(205, 10, 5) == Step::None);
}

TEST_CASE("deadlines: doomed groups are killed when their grace is over, gone ones are dropped", "[backend][pool]") {
  Doomed doomed;
  CHECK(doomed.empty());
  CHECK(doomed.next() < 0);
  doomed.add({1, 101, 10, 0});
  doomed.add({2, 102, 5, 0});
  doomed.add({3, 103, 7, 42});
  CHECK(doomed.next() == 5);
  auto none_gone = [](const Doomed::Group&) { return false; };
  CHECK(doomed.take_due(4.9, false, none_gone).empty());
  auto due = doomed.take_due(7, false, none_gone);
  REQUIRE(due.size() == 2);
  CHECK(due[0].task == 2);
  CHECK(due[1].group == 103);
  CHECK(due[1].leader_start == 42);
  CHECK(doomed.next() == 10);
  // A group gone before its deadline is dropped, not killed.
  doomed.add({4, 104, 20, 0});
  auto gone = doomed.take_due(11, false, [](const Doomed::Group& g) { return g.group == 101; });
  CHECK(gone.empty());
  CHECK(doomed.next() == 20);
  // All of them at once (the runner ends).
  auto all = doomed.take_due(0, true, none_gone);
  REQUIRE(all.size() == 1);
  CHECK(all[0].task == 4);
  CHECK(doomed.empty());
}
