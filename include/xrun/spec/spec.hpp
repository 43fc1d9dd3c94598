// The experiment file: loaded, validated and kept with the source positions for messages.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "xrun/spec/on_failure.hpp"
#include "xrun/spec/options.hpp"
#include "xrun/spec/value.hpp"
#include "xrun/util/result.hpp"

namespace xrun::spec {

struct Loc {
  int line = 0;  // 1-based
  int col = 0;   // 1-based
};


// Something the file does that experi accepts silently but that is probably a mistake.
struct Warning {
  Loc loc;
  std::string what;
};

struct CommandText {
  std::string text;  // template, trailing newlines removed
  Loc loc;
};

// `max_tasks`: keep the first `n` unique tasks of a stage, or, with a seed, `n` of them drawn
// at random (reproducibly), in their order.
struct TaskCap {
  uint64_t n = 0;
  std::optional<uint64_t> seed;
  Loc loc;
};

// One `early_stopping:` condition (see plan::EarlyStop).
struct EarlyStopSpec {
  std::string metric;
  double value = 0;
  bool maximize = true;
  Loc loc;
};

// One entry of a job's `depends_on:`: the stage it waits for (resolved to its index), and
// whether each task waits only for its own counterpart there (`per_task: true`).
struct DependSpec {
  std::string name;
  size_t stage = 0;
  bool per_task = false;
  Loc loc;
};

// One name of `tags:`: a variable that identifies a task to a person ({tags}, {tagspath}).
struct TagSpec {
  std::string name;
  Loc loc;
};

struct StageSpec {
  // `depends_on:`; without it, the stage waits for the previous one (the first for none).
  std::vector<DependSpec> depends_on;
  bool has_depends_on = false;
  // The stage's own backend sections (`scheduler:`, `local:`, `slurm:`, `pbs:`, `docker:`),
  // merged over the top-level ones for this stage only.
  nlohmann::ordered_json sections = nlohmann::ordered_json::object();
  // `resources:` what each task of the stage takes from the pool's declared resources.
  std::vector<std::pair<std::string, int64_t>> resources;
  std::optional<TaskCap> cap;  // the stage's own `max_tasks`
  std::optional<std::vector<EarlyStopSpec>> early_stopping;  // the stage's own
  std::string name;
  OnFailure on_failure = OnFailure::Stop;
  std::vector<CommandText> commands;  // run in order in one shell
  std::optional<CommandText> creates;
  std::optional<CommandText> requires_;
  std::optional<std::vector<TagSpec>> tags;  // the stage's own `tags:`
  std::optional<bool> reuse;                 // the stage's own `reuse:`
  Loc loc;
};

struct Spec {
  std::string path;     // as given
  std::string dir;      // absolute directory of the file
  std::string name;     // `name:` or the file's stem
  std::string source;   // the file's text
  std::vector<StageSpec> stages;
  YAML::Node variables;  // null when absent
  Loc variables_loc;
  // Backend sections: "scheduler", "local", "slurm", "pbs", "docker" -> object of options
  // (scalars kept as their text). `slurm: True` gives an empty object; `False` leaves it out.
  nlohmann::ordered_json sections = nlohmann::ordered_json::object();
  // Where each backend option's value stands: "slurm.walltime" -> line and column; a stage's
  // own as "jobs.<k>.slurm.walltime" (k from 1), its `resources:` entries as "jobs.<k>.resources.gpu".
  std::map<std::string, Loc> option_locs;
  std::string workdir;  // absolute; the file's directory unless `workdir:` says otherwise
  // `workdir:` as written when it holds braces: a template rendered per task (`workdir` is then
  // its absolute text, which names it in the tasks' content keys).
  std::optional<CommandText> workdir_template;
  // The folder every task's working directory lies under (`workdir` itself without a template).
  std::string workdir_base;
  std::string shell;    // `shell:`; empty = bash, falling back to sh
  bool shell_scheduler = false;  // `shell: True` (experi: run on the shell scheduler = local backend)
  std::optional<TaskCap> cap;     // top-level `max_tasks`: every stage's, unless it has its own
  std::vector<EarlyStopSpec> early_stopping;  // top-level: every stage's, unless it has its own
  std::vector<TagSpec> tags;  // top-level `tags:`: every stage's, unless it has its own
  std::optional<bool> reuse;  // top-level `reuse:` (a stage's own wins, then `run --reuse`, then this)
  // Whether stage `s` reuses finished work: its own `reuse:`, else `flag` (`run --reuse`) when
  // set, else the top-level `reuse:`.
  bool reuses(size_t s, bool flag) const;
  std::vector<Warning> warnings;  // from loading (duplicate keys, unknown keys, ...)

  // Options for one backend: `scheduler:` merged with the backend's own section.
  nlohmann::ordered_json options_for(const std::string& backend) const;
  bool has_section(const std::string& backend) const { return sections.contains(backend); }
};

// Error at a YAML node of `file`.
Error error_at(const std::string& file, const YAML::Mark& mark, std::string what, std::string hint = {});
Error error_at(const std::string& file, Loc loc, std::string what, std::string hint = {});
Loc loc_of(const YAML::Node& n);
// "a scalar", "a list", "a mapping", "nothing": for messages.
std::string type_word(const YAML::Node& n);

// A scalar typed as PyYAML types it (plain scalars resolved as YAML 1.1, quoted ones strings).
Value scalar_value(const YAML::Node& n);

Result<Spec> load_spec(const std::string& path);
Result<Spec> parse_spec(const std::string& text, const std::string& path);

// Top-level keys the format knows.
const std::vector<std::string>& known_top_level_keys();

}  // namespace xrun::spec
