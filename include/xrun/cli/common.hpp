// Options and helpers shared by several subcommands.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "xrun/cli/app.hpp"
#include "xrun/backend/backend.hpp"
#include "xrun/plan/expander.hpp"
#include "xrun/ops/experiment.hpp"
#include "xrun/store/store.hpp"

namespace xrun::cli {

using ops::Opened;
using ops::SpecInputs;
using ops::load_expander;
using ops::cancel_tasks;
using ops::wait_runner_gone;

void add_spec_options(CLI::App* sub, SpecInputs& in, bool with_set);
// The options `run` and `resume` share: -j, --detach, --keep-going, --skip-existing, --quiet, --wait.
void add_run_options(CLI::App* sub, backend::RunOptions& opts);
// "FILE:LINE:COL: warning: ..." lines on stderr.
void print_warnings(const std::string& file, const std::vector<vars::Warning>& warnings);
// An experiment from the store (--store, else $XRUN_HOME, else ~/.xrun).
inline Result<Opened> open_experiment(const Context& ctx, const std::string& ref) {
  return ops::open_experiment(ctx.store, ref);
}
// The same, `ref` also an experiment's name (its latest run, said on stderr when it has several):
// for status, logs, resume and diff; rm and cancel take ids only, so that a typo acts on nothing.
Result<Opened> open_experiment_by_name(const Context& ctx, const std::string& ref);

// A Slurm/PBS experiment's lock, for a command that must not act while a submission is under way
// (resume, cancel): waits up to `seconds` for the process holding it, saying once on stderr that
// it waits; the error says that it waited, and how long.
Result<store::RunnerLock> wait_for_submission(const Opened& o, double seconds);
// `--lock-timeout S` (default in `seconds`), for resume and cancel.
void add_lock_timeout_option(CLI::App* sub, double& seconds);
// --state FAILED,LOST (or repeated, case-insensitive): the task states named.
Result<std::set<store::State>> parse_states(const std::vector<std::string>& args);

// The human-readable numbered task list (plan, run --dry-run).
// `keep`, when given, decides which tasks are listed (run --dry-run --skip-existing).
Result<void> print_plan_text(plan::Expander& ex, std::ostream& os,
                             const std::function<bool(size_t stage, const plan::TaskRef&)>& keep = {});

}  // namespace xrun::cli
