// From the experiment file to stages of unique tasks. Expansion streams: tasks are rendered
// one combination at a time and de-duplicated per stage with a hash set of their commands.
// The result is a plan::Plan (plan.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/plan.hpp"
#include "xrun/plan/task_key.hpp"
#include "xrun/spec/pyformat.hpp"
#include "xrun/spec/spec.hpp"
#include "xrun/vars/engine.hpp"

namespace xrun::plan {

using spec::Value;
using json = nlohmann::ordered_json;

// A task while it streams by; valid only inside the callback.
struct TaskRef {
  size_t index;
  const std::vector<std::string>& commands;
  const std::string* creates;
  const std::string* requires_;
  const std::vector<std::pair<const std::string*, const Value*>>& variables;
  const std::string* workdir = nullptr;  // rendered, when `workdir:` is a template
  // `keys`: with the task's content key last ("key").
  json to_json(KeyContext* keys = nullptr) const;
};

struct StageSummary {
  std::string name;
  spec::OnFailure on_failure;
  uint64_t combinations = 0;
  uint64_t tasks = 0;
  uint64_t duplicates = 0;
  std::optional<spec::TaskCap> cap;  // tasks is after the cap
};

struct CheckReport {
  std::string name;
  std::vector<StageSummary> stages;
  std::vector<vars::VariableInfo> variables;
  std::vector<vars::Warning> warnings;
  uint64_t total_tasks = 0;
  json options;
  json to_json(const std::string& file) const;
};

constexpr uint64_t kDefaultMaxCombinations = 10000000;
constexpr uint64_t kLargeSweepWarning = 10000;

class Expander {
 public:
  static Result<Expander> create(spec::Spec spec, const vars::Overrides& overrides = {},
                                 uint64_t max_combinations = kDefaultMaxCombinations);
  const spec::Spec& spec() const { return spec_; }
  // What the file does that is probably a mistake (also part of check()'s report).
  const std::vector<vars::Warning>& warnings() const { return warnings_; }
  size_t stage_count() const { return stages_.size(); }
  // Every unique task of a stage, in order (the stage's cap applied).
  Result<void> for_each_task(size_t stage, const std::function<void(const TaskRef&)>& fn);
  // `--limit N`: every stage keeps its first N tasks (over the file's `max_tasks`).
  void set_limit(uint64_t n) { limit_ = n; }
  // The cap a stage has (--limit, else its own `max_tasks`, else the top-level one).
  std::optional<spec::TaskCap> cap_of(size_t stage) const;
  Result<Plan> materialize();
  Result<CheckReport> check();
  // `xrun plan --json`: {"name", "stages": [{"name", "on_failure", "tasks": [...]}]}, streamed;
  // each task with its content key as it would have on `backend` (plan/task_key.hpp).
  Result<void> write_json(std::ostream& os, const std::string& backend);
  // The stage's part of its tasks' content keys on `backend`, as run::key_stage gives it from
  // the plan.json and meta.json of an experiment made from this file.
  KeyStage key_stage(size_t stage, const std::string& backend) const;

 private:
  struct CompiledStage {
    std::vector<spec::Template> commands;
    std::optional<spec::Template> creates;
    std::optional<spec::Template> requires_;
    std::optional<spec::Template> workdir;  // `workdir:` when it is a template
    std::vector<int> used_slots;  // sorted, real variables only
    // The stage's tags by name (sorted), with their slots; `uses_tags`: a template has {tags}
    // or {tagspath} (then the tagged variables are the tasks' variables too).
    std::vector<std::pair<std::string, int>> tags;
    bool uses_tags = false;
    // A template formats {creates}, {requires}, {tags} or {tagspath} with a spec: their values
    // change in place from task to task, so formatted fields cannot be remembered by address.
    bool formats_special = false;
  };
  // Every unique task of a stage, before any cap.
  Result<void> walk(size_t stage, const std::function<void(const TaskRef&)>& fn);
  spec::Spec spec_;
  uint64_t limit_ = 0;
  vars::Sweep sweep_;
  std::vector<CompiledStage> stages_;
  std::vector<vars::Warning> warnings_;
};

}  // namespace xrun::plan
