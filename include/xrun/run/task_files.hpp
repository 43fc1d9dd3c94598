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
// The signals the task wrapper passes on to the task's process group, by name (HUP, INT, QUIT,
// USR1, USR2, ALRM, TERM): the wrapper's traps are made from this list.
const std::vector<std::string>& forwarded_signals();

// The task's own script: XRUN_* and variables exported, cd to the working directory, the
// `setup:` lines, then the commands in order, stopping at the first failure.
// With `env`, the variables that mean nothing to a shell or to the C library at a process's start
// (env_passable) are not exported by the script but put in `env` (NAME=value), for a caller that
// starts the shell with them in its environment (the local worker: a shell reads its environment
// at once, an `export` line costs it more): the same variables reach the same commands.
std::string task_script(const store::Experiment& exp, const plan::Plan& p, size_t task, const std::string& workdir,
                        int attempt, const std::vector<std::string>& setup = {},
                        std::vector<std::string>* env = nullptr);
// True when variable `name` with `value` may reach a task's shell through its environment rather
// than an `export` line, with the same effect: xrun's own XRUN_* variables, and names holding a
// lowercase letter (the shells' and the C library's special variables are all in capitals; the
// two lowercase ones of bash, auto_resume and histchars, are excepted), with no NUL in the value.
bool env_passable(const std::string& name, const std::string& value);
// True for the task shells whose special variables are all in capitals (bash, sh, dash; `shell`
// as the file's `shell:`, empty = bash): only those are given variables through the environment.
bool env_shell(const std::string& shell);
// `export NAME='value'`, the line a task script exports a variable with.
std::string export_line(const std::string& name, const std::string& value);
// `script` (a task_script() made with `env`) with the variables of `env` exported by the script
// itself again, after its first line: for a shell that cannot be given them in its environment.
std::string with_exports(const std::string& script, const std::vector<std::string>& env);

// A task made ready to start: its attempt number and, when it is handed to a local worker with
// the task (not written to `cmd.sh`), its script and the variables it does not export itself.
struct PreparedTask {
  int attempt = 1;
  std::string script;            // empty: the script is the task folder's `cmd.sh`
  std::vector<std::string> env;  // NAME=value, for the shell's environment (task_script's `env`)
};
// The largest script given to a local worker inline (`SHELL -c SCRIPT`), counted with its
// variables; a larger one, or one holding a NUL byte, is written to `cmd.sh` whole (one argument
// may hold at most 128 KiB).
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
// `begun`, when given, gets (task, attempt) of each task whose earlier attempt was archived for
// it (Experiment::restore_attempt takes that back when the array is never submitted).
Result<void> write_task_scripts(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                const std::vector<size_t>& tasks, const std::string& path,
                                std::vector<std::pair<size_t, int>>* begun = nullptr);

// argv that runs the wrapper for one task: `sh wrapper.sh TASK_DIR`.
std::vector<std::string> wrapper_argv(const store::Experiment& exp, size_t task);
// argv of a long-lived local worker (`xrun _worker TASKS_DIR SHELL`, run/worker.hpp): this very
// binary (/proc/self/exe, whatever happens to the file meanwhile). `shell`: the file's `shell:`.
std::vector<std::string> worker_argv(const store::Experiment& exp, const std::string& shell);


}  // namespace xrun::run
