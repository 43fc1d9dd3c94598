// What every backend shares: the experiment folder's contents, the POSIX sh task wrapper, and
// each task's script. A backend only decides *where* `sh wrapper.sh TASK_DIR` runs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/plan.hpp"
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

// Before a task (re)runs: archive the previous attempt, write `attempt` and `cmd.sh`.
// Returns the attempt number.
Result<int> prepare_task(const store::Experiment& exp, const plan::Plan& p, const json& meta, size_t task);

// argv that runs the wrapper for one task: `sh wrapper.sh TASK_DIR`.
std::vector<std::string> wrapper_argv(const store::Experiment& exp, size_t task);
// argv of a long-lived local worker (`bash wrapper.sh --worker`); empty when bash is missing
// (job control, which gives each task its own process group, needs bash).
std::vector<std::string> worker_argv(const store::Experiment& exp);


}  // namespace xrun::run
