// Options and helpers shared by several subcommands.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "xrun/cli/app.hpp"
#include "xrun/backend/backend.hpp"
#include "xrun/plan/expander.hpp"
#include "xrun/store/store.hpp"

namespace xrun::cli {

// The experiment-file inputs common to plan, check and run.
struct SpecInputs {
  std::string file;       // positional FILE
  std::string file_flag;  // -f/--input-file FILE (experi's spelling)
  std::vector<std::string> sets;  // --set NAME=VALUE
  uint64_t max_combinations = plan::kDefaultMaxCombinations;
};

void add_spec_options(CLI::App* sub, SpecInputs& in, bool with_set);
// The options `run` and `resume` share: -j, --detach, --keep-going, --skip-existing, --quiet, --wait.
void add_run_options(CLI::App* sub, backend::RunOptions& opts);
// Resolves the file (FILE, -f, else ./experiment.yml as experi does) into in.file, then loads it.
Result<plan::Expander> load_expander(SpecInputs& in);
// "FILE:LINE:COL: warning: ..." lines on stderr.
void print_warnings(const std::string& file, const std::vector<vars::Warning>& warnings);
// An experiment from the store with what every command needs to read it.
struct Opened {
  store::Store store;
  store::Experiment exp;
  nlohmann::ordered_json meta;
  plan::Plan plan;
  std::unique_ptr<backend::Backend> backend;
  // Resolved statuses, refreshed with the backend's view (one scheduler call).
  std::vector<store::TaskStatus> statuses() const;
  store::TaskStatus status_of(size_t task) const;
};
Result<Opened> open_experiment(const Context& ctx, const std::string& ref);

// Cancel these unfinished tasks: the request is recorded first (so no runner starts them),
// then the backend stops what runs. Returns the backend's error, if any.
Result<void> cancel_tasks(const Opened& o, const std::vector<store::TaskStatus>& targets);

// The human-readable numbered task list (plan, run --dry-run).
// `keep`, when given, decides which tasks are listed (run --dry-run --skip-existing).
Result<void> print_plan_text(plan::Expander& ex, std::ostream& os,
                             const std::function<bool(size_t stage, const plan::TaskRef&)>& keep = {});

}  // namespace xrun::cli
