// `xrun run`'s first steps: which backend runs the file, its options checked as the backend
// will read them, and the experiment's folder created in the store.
#pragma once

#include <string>
#include <vector>

#include "xrun/backend/backend.hpp"
#include "xrun/plan/plan.hpp"
#include "xrun/spec/spec.hpp"
#include "xrun/store/store.hpp"

namespace xrun::ops {

// The backend `run` uses: --backend (`shell` is experi's name for local), else the one
// backend section the file has, else local (`shell: True` asks for it, as in experi).
Result<std::string> choose_backend(const std::string& flag, const spec::Spec& sp);
// Every option the backend reads from the file, checked as `run` would read it; an error
// names the option's line and column.
Result<void> validate_options(const spec::Spec& sp, const std::string& backend);
// What each stage asks for (`resources:`) can be had on `backend` (with --resources): an error
// at the stage's entry otherwise.
Result<void> validate_demands(const spec::Spec& sp, const std::string& backend, const backend::RunOptions& opts);
// The stage graph in words and each stage's effective options on `backend`, for `xrun check`:
// one entry per stage, in the order they can run.
struct StageOutline {
  std::string name;
  std::string after;  // "starts at once", "after prep (must succeed)", ...
  struct Need {
    std::string stage;
    bool success = true;  // must succeed (else: end)
    bool per_task = false;
  };
  std::vector<Need> needs;
  nlohmann::ordered_json options;  // merged for the backend
  std::vector<std::pair<std::string, int64_t>> resources;
};
std::vector<StageOutline> outline_stages(const spec::Spec& sp, const std::string& backend);
// A stage's options on `backend`: the file's sections with the stage's own over them.
nlohmann::ordered_json stage_options(const spec::Spec& sp, const spec::StageSpec& st, const std::string& backend);

// Warnings about the options `backend` will not use: keys of another scheduler's section that
// have no equivalent (a `pbs:` section's `cputime` on Slurm), at their line and column.
std::vector<spec::Warning> option_warnings(const spec::Spec& sp, const std::string& backend);

// Create the experiment folder: meta.json, experiment.yml, plan.json, wrapper.sh (meta.json
// last: a half-made experiment is never listed, and a failure removes the folder).
// `limit`: the run's --limit (0: none), kept so that `resume --reload` expands the same way.
Result<store::Experiment> create_experiment(const store::Store& st, const spec::Spec& sp, const plan::Plan& p,
                                            const std::string& backend, const std::vector<std::string>& sets,
                                            uint64_t limit = 0);

}  // namespace xrun::ops
