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

// A task made ready to start: its attempt number and, when it is handed to a local worker with
// the task (not written to `cmd.sh`), its script.
struct PreparedTask {
  int attempt = 1;
  std::string script;  // empty: the script is the task folder's `cmd.sh`
};
// The largest script given to a local worker inline (`SHELL -c SCRIPT`); a larger one, or one
// holding a NUL byte, is written to `cmd.sh` (one argument may hold at most 128 KiB).
constexpr size_t kMaxInlineScript = 64 * 1024;

// Before a task (re)runs: archive the previous attempt, write `attempt` and `cmd.sh` (with
// `inline_script`, the script is returned instead when it fits an argument: kMaxInlineScript).
// `spares`: as for Experiment::begin_attempt; `setup`: the task's stage's setup_lines(), when
// the caller has them.
Result<PreparedTask> prepare_task(const store::Experiment& exp, const plan::Plan& p, const json& meta, size_t task,
                                  std::vector<std::string>* spares = nullptr,
                                  const std::vector<std::string>* setup = nullptr, bool inline_script = false);
// A stage's `setup:` lines (the file's, then the stage's own).
std::vector<std::string> setup_lines(const json& meta, const plan::Plan& p, size_t stage);
// The scripts of many tasks in one file (a batch array's), for `sh wrapper.sh TASK_DIR FILE`: the
// wrapper creates the task's folder and cuts its script out when the task starts, so that
// submitting N tasks writes one file, not N folders. A task that already has a folder (a
// resume) has its earlier attempt archived first. Each block is
//   #xrun-<token> task <id> <attempt>
//   <the task's script>
//   #xrun-<token> end <id>
// with a random token per file (never a line of a command).
Result<void> write_task_scripts(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                const std::vector<size_t>& tasks, const std::string& path);

// argv that runs the wrapper for one task: `sh wrapper.sh TASK_DIR`.
std::vector<std::string> wrapper_argv(const store::Experiment& exp, size_t task);
// argv of a long-lived local worker (`xrun _worker TASKS_DIR SHELL`, run/worker.hpp): this very
// binary (/proc/self/exe, whatever happens to the file meanwhile). `shell`: the file's `shell:`.
std::vector<std::string> worker_argv(const store::Experiment& exp, const std::string& shell);


}  // namespace xrun::run
