// plan::diff_tasks (src/plan/diff.cpp): what a reload changes, by task identity.
#include <catch2/catch.hpp>

#include "xrun/plan/diff.hpp"

using namespace xrun;
using V = std::vector<size_t>;

namespace {
plan::OldTask old_task(size_t id, std::string key, bool succeeded, bool active = false, bool retired = false) {
  return plan::OldTask{id, std::move(key), succeeded, active, retired};
}
}  // namespace

TEST_CASE("diff: a reordered file keeps every id, reruns exactly what did not succeed", "[plan][diff]") {
  // Old: a(0) ok, b(1) failed, c(2) ok, d(3) failed. New order: d c b a.
  std::vector<plan::OldTask> old{old_task(0, "a", true), old_task(1, "b", false), old_task(2, "c", true),
                                 old_task(3, "d", false)};
  auto d = plan::diff_tasks(old, {"d", "c", "b", "a"}, 4);
  CHECK(d.ids == V{3, 2, 1, 0});
  CHECK(d.rerun == V{3, 1});
  CHECK(d.kept == V{2, 0});
  CHECK(d.added.empty());
  CHECK(d.retired.empty());
  CHECK_FALSE(d.changes());
  CHECK(d.summary() == "+0 new, 2 to rerun, 0 retired, 2 kept");
}

TEST_CASE("diff: added keys are new tasks after the largest id, keys that left are retired", "[plan][diff]") {
  // id_end 7: ids up to 6 were given (one retired earlier, say): new ones start at 7.
  std::vector<plan::OldTask> old{old_task(0, "a", true), old_task(1, "b", true), old_task(6, "z", true, false, true)};
  auto d = plan::diff_tasks(old, {"a", "x", "y"}, 7);
  CHECK(d.ids == V{0, 7, 8});
  CHECK(d.added == V{7, 8});
  CHECK(d.retired == V{1});
  CHECK(d.kept == V{0});
  CHECK(d.rerun.empty());
  CHECK(d.blocking.empty());
  CHECK(d.changes());
  CHECK(d.summary() == "+2 new, 0 to rerun, 1 retired, 1 kept");
}

TEST_CASE("diff: a retired key back in the file is its old task again, with what it did", "[plan][diff]") {
  std::vector<plan::OldTask> old{old_task(0, "a", true), old_task(4, "b", true, false, true),
                                 old_task(5, "c", false, false, true)};
  auto d = plan::diff_tasks(old, {"b", "a", "c"}, 6);
  CHECK(d.ids == V{4, 0, 5});
  CHECK(d.revived == V{4, 5});
  CHECK(d.kept == V{4, 0});
  CHECK(d.rerun == V{5});
  CHECK(d.retired.empty());  // still-retired tasks are not retired again
  CHECK(d.summary() == "+0 new, 1 to rerun, 0 retired, 2 kept, 2 back from retirement");
}

TEST_CASE("diff: a task still queued or running is kept, and retiring it blocks the reload", "[plan][diff]") {
  std::vector<plan::OldTask> old{old_task(0, "a", false, true), old_task(1, "b", false, true), old_task(2, "c", false)};
  auto d = plan::diff_tasks(old, {"a", "c"}, 3);
  CHECK(d.kept == V{0});  // queued: left alone, not rerun
  CHECK(d.rerun == V{2});
  CHECK(d.retired == V{1});
  CHECK(d.blocking == V{1});
}

TEST_CASE("diff: a key twice among the old tasks matches once, nothing matches twice", "[plan][diff]") {
  std::vector<plan::OldTask> old{old_task(0, "a", true), old_task(1, "a", false)};
  auto d = plan::diff_tasks(old, {"a", "a", "a"}, 2);
  CHECK(d.ids == V{0, 1, 2});
  CHECK(d.added == V{2});
  CHECK(d.kept == V{0});
  CHECK(d.rerun == V{1});
  auto none = plan::diff_tasks({}, {}, 0);
  CHECK(none.ids.empty());
  CHECK(none.summary() == "+0 new, 0 to rerun, 0 retired, 0 kept");
}
