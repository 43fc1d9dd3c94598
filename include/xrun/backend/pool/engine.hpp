// The pool engine (ninja's design): a fixed number of slots, each running one task at a time
// through a Launcher; fill free slots, wait for one completion or a signal, enforce walltime
// (SIGTERM, grace, SIGKILL), gate stages through the stage graph, and on Ctrl-C/SIGTERM/SIGHUP
// stop every running task, adopted ones included, and record CANCELLED.
//
// A slot's tasks run in a long-lived worker (`bash wrapper.sh --worker`: the shared wrapper,
// one task at a time, each in its own process group, reporting "S <pgid> <dir>" when it starts
// one and "E <exit> <dir>" when it ended), or, without one, one wrapper process per task.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "xrun/backend/backend.hpp"

namespace xrun::backend::pool {

struct Settings {
  int jobs = 1;
  double walltime = 0;    // seconds; 0 = none
  double kill_grace = 5;  // seconds between SIGTERM and SIGKILL
  // What the machine has (`local: {resources: {gpu: [0, 1], licence: 2}}`, --resources): each
  // resource's ids, handed out per task (a count N is the ids 0..N-1).
  std::map<std::string, std::vector<std::string>> resources;
};
// From the merged options (`scheduler:` with the backend's section) and the run options.
Result<Settings> settings(const json& options, const RunOptions& opts);
// A stage's own settings: `jobs`/`max_parallel` there cap that stage's running tasks (within
// the pool's slots), its walltime and kill_grace are its tasks'.
struct StageSettings {
  int max_parallel = 0;  // 0: as many as the pool has slots
  double walltime = 0;
  double kill_grace = 5;
};
// `stage_options`: the stage's merged options; `own`: its own sections alone, merged.
Result<StageSettings> stage_settings(const json& stage_options, const json& own);
// Whether the declared resources can ever satisfy a stage's demand; the error names what is missing.
// `section`: where the file declares them (`local`, `docker`), for the hint.
Result<void> check_demand(const Settings& s, const std::vector<std::pair<std::string, int64_t>>& demand,
                          const std::string& section);

// Where a pool's tasks run: processes on this host (ProcessLauncher), containers
// (ContainerLauncher).
class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual std::string name() const = 0;  // the backend's name and its options section
  // Checks the launcher's own options (merged `scheduler:` and its section); an error names the key.
  virtual Result<void> check(const json& options) const = 0;
  // Checks that the options together have what the launcher requires.
  virtual Result<void> check_complete(const json& options) const { (void)options; return {}; }
  // Takes the options for what follows (launch, observe, cancel).
  virtual Result<void> configure(const json& options) = 0;
  // What can be known before any task starts (an engine that answers, an image that exists).
  virtual Result<void> preflight() const { return {}; }
  // One line for `run --dry-run`, or "".
  virtual std::string describe() const { return ""; }
  // argv of a slot's long-lived worker; empty when there is none (one process per task).
  // `shell`: the file's `shell:`.
  virtual std::vector<std::string> worker_argv(const store::Experiment& exp, const std::string& shell) const = 0;
  // argv that runs one task's wrapper when there is no worker. `env` ("NAME=value": XRUN_SLOT,
  // CUDA_VISIBLE_DEVICES, ...) is also set in the environment of the process started with it;
  // a launcher whose tasks do not inherit that environment (a container) passes it on itself.
  // `workdir`: where the task runs (its own when `workdir:` is a template; absolute).
  virtual std::vector<std::string> task_argv(const store::Experiment& exp, size_t task, const std::string& workdir,
                                             const std::vector<std::string>& env) const = 0;
  // A copy, to be configured with one stage's own options (`docker: {image: ...}` of a job).
  virtual std::unique_ptr<Launcher> clone() const = 0;
  // Deliver `sig` to a running task: its process group when known (`pgid` > 0), else the
  // process that runs it (`proc`: a worker forwards the signal to its task); a container
  // launcher signals the task's container.
  virtual void signal(const store::Experiment& exp, size_t task, long pgid, pid_t proc, int sig) const = 0;
  // The liveness of the tasks whose start is recorded (facts with a RUNNING record), at once.
  virtual void observe(const store::Experiment& exp, std::vector<store::TaskFacts>& facts) const = 0;
  // Whether this launcher can reach a task recorded on `host` (to stop it from `xrun cancel`).
  virtual bool reaches(const std::string& host) const = 0;
  // The tasks of `exp` that run on apart from the process the pool started for them (a
  // container whose `docker run` client has gone): a slot and its resources are free only once
  // its task is no longer among them. nullopt: it cannot tell now (the slot stays held). None
  // by default: a task run by a process ends with it.
  virtual std::optional<std::set<size_t>> running_apart(const store::Experiment& exp) const {
    (void)exp;
    return std::set<size_t>{};
  }
};

class PoolBackend : public Backend {
 public:
  explicit PoolBackend(std::unique_ptr<Launcher> l) : launcher_(std::move(l)) {}
  std::string name() const override { return launcher_->name(); }
  bool adopts() const override { return true; }
  Result<void> check_options(const json& options) const override;
  Result<void> check_complete(const json& options) const override;
  Result<void> check_demand(const json& options, const RunOptions& opts,
                            const std::vector<std::pair<std::string, int64_t>>& demand) const override;
  Result<void> preflight(const json& options) override;
  Result<int> launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                     const RunOptions& opts) override;
  Result<void> dry_run(std::ostream& os, const std::string& name, const json& sections, const plan::Plan& p,
                       const RunOptions& opts) override;
  Result<void> observe(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                       std::vector<store::TaskFacts>& facts) override;
  Result<void> cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                      const std::vector<store::TaskStatus>& tasks) override;
  const Launcher& launcher() const { return *launcher_; }

 private:
  // Runs in the calling process until the experiment ends; returns the exit code.
  int run_pool(const store::Experiment& exp, const plan::Plan& p, const json& meta, const RunOptions& opts,
               const Settings& s, std::vector<StageSettings> stages, std::vector<std::unique_ptr<Launcher>> launchers);
  std::unique_ptr<Launcher> launcher_;
};

}  // namespace xrun::backend::pool
