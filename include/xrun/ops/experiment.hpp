// What the commands do, without the command line: open an experiment with what every command
// needs to read it, load a file into an expander, cancel tasks. The cli module only parses
// arguments, calls these and prints.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/backend/backend.hpp"
#include "xrun/plan/expander.hpp"
#include "xrun/store/store.hpp"

namespace xrun::ops {

// The experiment-file inputs of plan, check and run.
struct SpecInputs {
  std::string file;               // positional FILE
  std::string file_flag;          // -f/--input-file FILE (experi's spelling)
  std::vector<std::string> sets;  // --set NAME=VALUE
  uint64_t max_combinations = plan::kDefaultMaxCombinations;
  uint64_t limit = 0;  // --limit N: every stage keeps its first N tasks (0: the file's max_tasks)
};
// Resolves the file (FILE, -f, else ./experiment.yml as experi does) into in.file, then loads it.
Result<plan::Expander> load_expander(SpecInputs& in);

// An experiment from the store with what every command needs to read it.
struct Opened {
  store::Store store;
  store::Experiment exp;
  nlohmann::ordered_json meta;
  plan::Plan plan;
  std::unique_ptr<backend::Backend> backend;
  // Decided states with the backend's view (one scheduler call); a backend that cannot be
  // asked is a warning in `warning`.
  std::vector<store::TaskStatus> statuses(std::optional<Error>* warning = nullptr) const;
  store::TaskStatus status_of(size_t task) const;
};
// `by_name`: `ref` may be an experiment's name (the latest run of it; `note` says which when the
// name has several): for commands that only read, resume and diff, never for rm and cancel.
Result<Opened> open_experiment(const std::string& store_root, const std::string& ref, bool by_name = false,
                               std::string* note = nullptr);

// Cancel these unfinished tasks: the request is recorded first (so no runner starts them),
// then the backend stops what runs. Returns the backend's error, if any.
Result<void> cancel_tasks(const Opened& o, const std::vector<store::TaskStatus>& targets);
// Waits up to `seconds` for the experiment's runner (if any) to end; true when none is alive.
// (`xrun rm --force` removes a cancelled experiment only once its runner has finished writing.)
bool wait_runner_gone(const store::Experiment& exp, double seconds);
// The tasks `xrun cancel` acts on: the given ones that are unfinished (every unfinished one
// when none is given).
std::vector<store::TaskStatus> cancel_targets(const std::vector<store::TaskStatus>& statuses,
                                              const std::vector<size_t>& wanted);

}  // namespace xrun::ops
