// The stage graph: which stages a stage waits for, whether it needs them to succeed or only to
// end, and, for `per_task` dependencies, which tasks of the other stage each task waits for.
// Every backend gates stages through it (the local pool before starting a stage or a task, the
// batch engine's job dependencies, the states of tasks a gate keeps from ever starting).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "xrun/plan/plan.hpp"

namespace xrun::plan {

class StageGraph {
 public:
  struct Need {
    size_t stage = 0;       // the stage waited for
    bool success = true;    // it must succeed (else: only end)
    bool per_task = false;  // each task waits only for its counterparts there (parents())
  };
  // From each stage's `after` (the file's depends_on; by default the previous stage). A stage
  // whose tasks fail stops its dependents unless it says `on_failure: continue` (or the run
  // keeps going, --keep-going).
  static StageGraph of(const Plan& p, bool keep_going);

  const std::vector<Need>& needs(size_t stage) const { return needs_.at(stage); }
  size_t size() const { return needs_.size(); }
  // The stages, each after every stage it waits for (file order among independent ones).
  const std::vector<size_t>& order() const { return order_; }
  // Why `stage` can never start, given which stages did not succeed and which were never run
  // because of their own dependencies ("" when it can). Per-task needs are decided per task.
  std::string blocked(size_t stage, const std::vector<bool>& failed, const std::vector<bool>& skipped) const;

  // For a task of a stage with per-task needs: the tasks (their ids) it waits for, by need.
  // Tasks are named by their ids throughout (Task::id), not by their positions.
  // A task waits for the tasks of the other stage whose values agree with its own on every
  // variable both stages use (all of that stage when they share none).
  struct Parents {
    size_t need = 0;  // index into needs(stage)
    std::vector<size_t> tasks;
  };
  const std::vector<Parents>& parents(size_t task) const;
  // Why `task` can never start because a task it waits for per task cannot be used
  // (`why_not(id)`: "did not succeed", ..., or ""), e.g. "task sim/3 did not succeed"; or "".
  std::string task_blocked(size_t task, const std::function<std::string(size_t)>& why_not) const;
  // The tasks that wait for `task` through a per-task need.
  const std::vector<size_t>& children(size_t task) const;
  // The variables a per-task need pairs tasks by ("" joined by ", "; empty: none shared).
  std::string shared_variables(size_t stage, size_t need) const;
  // Whether the pairing of a per-task need is one to one (each task has exactly one parent,
  // and no parent has two children): what a scheduler's index-for-index chaining needs.
  bool one_to_one(size_t stage, size_t need) const;

  const std::string& name(size_t stage) const { return names_.at(stage); }
  // What a stage waits for, in words: "starts at once", "after prep (must succeed)", ...
  std::string describe_needs(size_t stage) const;
  // The graph in words, one line per stage in order ("sim: after prep (must succeed)").
  std::vector<std::string> describe() const;

 private:
  bool keep_going_ = false;
  std::vector<std::vector<Need>> needs_;
  std::vector<std::string> names_;
  std::vector<size_t> order_;
  size_t slot(size_t task) const;  // the task's position across the stages (SIZE_MAX: none)
  std::vector<size_t> slot_of_;                      // by task id
  std::vector<std::pair<size_t, size_t>> where_;     // by slot: (stage, index)
  std::vector<std::vector<Parents>> parents_;  // by slot (empty for most)
  std::vector<std::vector<size_t>> children_;  // by slot
  std::vector<std::vector<std::vector<std::string>>> shared_;  // [stage][need] variable names
  std::vector<std::vector<bool>> one_to_one_;                  // [stage][need]
};

}  // namespace xrun::plan
