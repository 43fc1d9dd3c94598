// The local process pool (ninja's design): fill free slots, wait for one completion or signal,
// enforce walltime (SIGTERM, grace, SIGKILL), and on Ctrl-C/SIGTERM/SIGHUP kill every running
// task's process group and record CANCELLED.
#pragma once

#include "xrun/backend/backend.hpp"

namespace xrun::backend {

struct LocalSettings {
  int jobs = 1;
  double walltime = 0;    // seconds; 0 = none
  double kill_grace = 5;  // seconds between SIGTERM and SIGKILL
};

// Settings from meta.options (`scheduler:` merged with `local:`) and the run options.
Result<LocalSettings> local_settings(const json& options, const RunOptions& opts);

class LocalBackend : public Backend {
 public:
  std::string name() const override { return "local"; }
  Result<int> launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                     const RunOptions& opts) override;
  Result<void> dry_run(std::ostream& os, const spec::Spec& sp, const plan::Plan& p, const RunOptions& opts) override;
  Result<void> cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                      const std::vector<store::TaskStatus>& tasks) override;
};

// Runs in the calling process until the experiment ends; returns the exit code.
int run_local_pool(const store::Experiment& exp, const plan::Plan& p, const json& meta, const RunOptions& opts,
                   const LocalSettings& settings);

}  // namespace xrun::backend
