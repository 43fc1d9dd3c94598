// The plan: stages of unique tasks, as expanded from the experiment file and stored in the
// run store (plan.json). The model only: no YAML, no expansion (see expander.hpp), so the
// store and the backends compile without yaml-cpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/spec/on_failure.hpp"
#include "xrun/spec/value.hpp"
#include "xrun/util/result.hpp"

namespace xrun::plan {

using spec::Value;
using json = nlohmann::ordered_json;

struct Task {
  size_t id = 0;     // the task's id: its folder, index line, cancel record (explicit in plan.json);
                     // unique in the plan, kept for life, not a position (see Plan::find)
  size_t index = 0;  // within its stage
  std::vector<std::string> commands;
  std::optional<std::string> creates;
  std::optional<std::string> requires_;
  std::vector<std::pair<std::string, Value>> variables;  // the ones its commands use
  // Where it runs, when `workdir:` is a template (absolute, rendered for this task); empty: the
  // experiment's working directory.
  std::string workdir;
  json to_json() const;
};

// `early_stopping:` one condition: the stage stops starting tasks once a finished task's last
// metrics meet it (`metric` >= `value` when maximizing, <= when minimizing).
struct EarlyStop {
  std::string metric;
  double value = 0;
  bool maximize = true;
  bool met_by(const json& metrics) const;
  std::string describe() const;  // "accuracy >= 0.9"
};

// A stage this one waits for: all of it, or (`per_task`) for each task only its counterpart
// there (the tasks with the same values of the variables both use).
struct After {
  size_t stage = 0;
  bool per_task = false;
  bool operator==(const After& o) const { return stage == o.stage && per_task == o.per_task; }
};

struct Stage {
  std::string name;
  std::vector<After> after;  // default: the previous stage
  // The stage's own backend sections (`slurm: {walltime: ...}`), merged over the top-level
  // ones (meta.json "options") for this stage only; see run::stage_options.
  json options = json::object();
  // What each task takes from the pool's declared resources (`resources: {gpu: 1}`).
  std::vector<std::pair<std::string, int64_t>> resources;
  spec::OnFailure on_failure = spec::OnFailure::Stop;
  std::vector<EarlyStop> early_stopping;
  std::vector<Task> tasks;
};

// What a stage waits for when the file does not say: the stage before it.
std::vector<After> default_after(size_t stage);

// A task a `resume --reload` retired: its key left the file. Kept (its id, its folder and
// records stay in the store), listed, never run, counted nowhere; a later reload whose file has
// its key again brings it back with its id and what it did.
struct RetiredTask {
  std::string stage;  // the name of its stage when it was retired
  std::string key;    // its content key then (plan/task_key.hpp)
  Task task;
};

struct Plan {
  std::string name;
  std::vector<Stage> stages;
  std::vector<RetiredTask> retired;  // in plan.json's "retired" (absent when none)
  // Seeds drawn for `sample:` blocks that gave none: (line of the block, seed).
  std::vector<std::pair<int, uint64_t>> sample_seeds;
  size_t task_count() const;
  // Where the task with this id is, or nullopt. `slot` is its position across the stages
  // (stage by stage, in order), which vectors of a plan's tasks are ordered by.
  struct Where {
    size_t stage = 0, index = 0, slot = 0;
  };
  std::optional<Where> find(size_t id) const;
  // One more than the largest id, retired tasks' too (0 without tasks): new tasks take ids
  // from here on.
  size_t id_end() const;
  // Makes find() a lookup (after the tasks are set; without it, or after a change, find()
  // still answers, by scanning). Fails when two tasks have the same id.
  Result<void> index_ids();
  json to_json() const;
  static Result<Plan> from_json(const json& j);
  // Every `after` names a stage and no stage waits for itself through its dependencies.
  Result<void> check_stages() const;
  // plan.json's text, streamed (no whole document in memory).
  static Result<Plan> parse(const std::string& text);

 private:
  std::vector<Where> where_;  // by id; slot == SIZE_MAX where no task has the id
};

}  // namespace xrun::plan
