// What a reload of an experiment's file changes, by task identity (content keys,
// plan/task_key.hpp), never by position: the old tasks whose key is still in the file keep their
// ids (those that succeeded are kept, the others run again); keys new to the file are new tasks,
// with ids after every id the experiment ever gave; old tasks whose key left the file are
// retired. A pure function: `xrun diff` prints it, `xrun resume --reload` acts on it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace xrun::plan {

// A task the experiment has: one of its plan's, or one retired before.
struct OldTask {
  size_t id = 0;
  std::string key;
  bool succeeded = false;  // it did its work (SUCCEEDED, or skipped as done): never run again
  bool active = false;     // a scheduler still queues or runs it, or a runner runs it
  bool retired = false;    // retired by an earlier reload
};

struct PlanDiff {
  // Per task of the new plan, in its order (stage by stage): its id.
  std::vector<size_t> ids;
  std::vector<size_t> added;    // ids of the new tasks
  std::vector<size_t> rerun;    // ids of kept tasks that did not succeed (and nothing runs)
  std::vector<size_t> kept;     // ids of tasks that succeeded, or that still queue or run
  std::vector<size_t> retired;  // ids of tasks this reload retires (their key left the file)
  std::vector<size_t> revived;  // ids of tasks retired before whose key is back (also in kept or rerun)
  // Tasks that would be retired while a scheduler or a runner still has them: a reload refuses.
  std::vector<size_t> blocking;
  bool changes() const { return !added.empty() || !retired.empty() || !revived.empty(); }
  // "+12 new, 3 to rerun, 4 retired, 81 kept" (and ", 2 back from retirement").
  std::string summary() const;
};

// `fresh`: the keys of the new plan's tasks, in its order; `id_end`: one more than the largest
// id the experiment ever gave (Plan::id_end). A key twice among the old tasks matches once.
PlanDiff diff_tasks(const std::vector<OldTask>& old, const std::vector<std::string>& fresh, size_t id_end);

}  // namespace xrun::plan
