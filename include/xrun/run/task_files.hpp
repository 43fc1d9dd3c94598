// What every backend shares: the experiment folder's contents, the POSIX sh task wrapper, and
// each task's script. A backend only decides *where* `sh wrapper.sh TASK_DIR` runs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/plan.hpp"
#include "xrun/spec/spec.hpp"
#include "xrun/store/store.hpp"

namespace xrun::run {

using json = nlohmann::ordered_json;

// The wrapper: needs nothing but a POSIX sh (no bash, no xrun binary on the node).
// `shell`: the task shell (the file's `shell:`); empty = bash, falling back to sh.
std::string wrapper_script(const std::string& shell);

// The task's own script: XRUN_* and variables exported, cd to the working directory, the
// `setup:` lines, then the commands in order, stopping at the first failure.
std::string task_script(const store::Experiment& exp, const plan::Plan& p, size_t task, const std::string& workdir,
                        int attempt, const std::vector<std::string>& setup = {});

// Create the experiment folder: meta.json, experiment.yml, plan.json, wrapper.sh.
Result<store::Experiment> create_experiment(const store::Store& st, const spec::Spec& sp, const plan::Plan& p,
                                            const std::string& backend, const std::vector<std::string>& sets);

// Before a task (re)runs: archive the previous attempt, write `attempt` and `cmd.sh`.
// Returns the attempt number.
Result<int> prepare_task(const store::Experiment& exp, const plan::Plan& p, const json& meta, size_t task);

// argv that runs the wrapper for a task.
std::vector<std::string> wrapper_argv(const store::Experiment& exp, size_t task);

// Slurm-style durations: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS".
std::optional<double> parse_walltime(const std::string& text);

}  // namespace xrun::run
