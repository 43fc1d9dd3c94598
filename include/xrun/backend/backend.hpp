// Backends behind one interface, registered by name. A backend decides where the task wrapper
// runs (a local process pool, a Slurm array job, ...); the wrapper and the store are shared.
#pragma once

#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/plan.hpp"
#include "xrun/store/store.hpp"

namespace xrun::backend {

using json = nlohmann::ordered_json;

struct RunOptions {
  int jobs = 0;               // local: parallel tasks (0 = `local: {jobs}` or the CPU count)
  bool keep_going = false;    // later stages run even when a stage failed
  bool skip_existing = false; // skip tasks whose `creates` file exists
  bool quiet = false;         // no progress line, no summary
  bool detach = false;        // return at once; the work goes on in the background
  bool wait = false;          // schedulers: follow the experiment to its end
  bool resume = false;        // a resume of an existing experiment
  std::set<size_t> to_run;    // global task ids to run; the others are kept as they are
  // --resources NAME=IDS|COUNT: what the machine has, over the file's `local: {resources}`.
  std::map<std::string, std::vector<std::string>> resources;
  // The experiment's lock, taken already by the caller (a resume on a batch backend decides
  // under it what to submit); launch keeps it until the submission is recorded.
  std::shared_ptr<store::RunnerLock> lock;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // A runner of this backend takes over tasks an earlier runner left running (the pool
  // engines); a scheduler's jobs are left alone instead.
  virtual bool adopts() const { return false; }
  // Checks options as launch would read them (`scheduler:` merged with the backend's section).
  virtual Result<void> check_options(const json& options) const = 0;
  // What can be checked before anything is created (an engine that answers, an image that
  // exists); `options` as for dry_run.
  virtual Result<void> preflight(const json& options) { (void)options; return {}; }
  // The programs it needs on this host (a scheduler's client commands): an error naming the
  // first one missing from PATH. Cheap (no program is run): `check` says it as a warning,
  // `run` refuses before anything is created (through preflight).
  virtual Result<void> check_programs(const json& options) const { (void)options; return {}; }
  // Whether what a stage asks for (`resources: {gpu: 1}`) can be given: the pool needs the
  // resources declared; a scheduler maps `gpu` to its own request. `options`: the stage's.
  virtual Result<void> check_demand(const json& options, const RunOptions& opts,
                                    const std::vector<std::pair<std::string, int64_t>>& demand) const {
    (void)options;
    (void)opts;
    (void)demand;
    return {};
  }
  // Checks that the options, all together, have what the backend requires (e.g. an image).
  virtual Result<void> check_complete(const json& options) const { (void)options; return {}; }
  // Run or submit opts.to_run. Returns the exit code (0 all succeeded, 1 not, 130 interrupted).
  virtual Result<int> launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                             const RunOptions& opts) = 0;
  // What launch would do, without doing it (`xrun run --dry-run`).
  // `sections`: the file's backend sections as written (each stage's own are in the plan);
  // `name`: the experiment's.
  virtual Result<void> dry_run(std::ostream& os, const std::string& name, const json& sections, const plan::Plan& p,
                               const RunOptions& opts) = 0;
  // What this backend knows about these tasks, added to the facts the store read: the
  // liveness of the wrappers it started (a pid on this host, a container), a scheduler's view
  // of their jobs (one scheduler call for all of them). States are decided from the facts by
  // store::decide(), through observe_tasks() (observe.hpp), never here. An error leaves the
  // facts as the store has them.
  virtual Result<void> observe(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                               std::vector<store::TaskFacts>& facts) = 0;
  // The scheduler's own log of a task (for one that left no output of its own), or "".
  virtual std::string scheduler_log(const store::Experiment& exp, size_t task) { return ""; }
  // Stop these unfinished tasks (their cancel request is already recorded in the store).
  virtual Result<void> cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                              const std::vector<store::TaskStatus>& tasks) = 0;
};

std::vector<std::string> names();
Result<std::unique_ptr<Backend>> make(const std::string& name);

}  // namespace xrun::backend
