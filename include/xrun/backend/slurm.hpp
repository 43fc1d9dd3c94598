// Slurm: one array job per stage (split when a stage exceeds MaxArraySize), stages chained with
// --dependency, the same task wrapper writing status and logs into the store from the compute
// nodes, one squeue call per status refresh for the whole experiment.
#pragma once

#include <string>
#include <vector>

#include "xrun/backend/backend.hpp"

namespace xrun::backend {

struct SlurmSettings {
  std::vector<std::string> directives;  // #SBATCH lines, e.g. "--time=1:00:00"
  std::string throttle;                 // "%N" from max_parallel / concurrency, or ""
  std::string job_name;                 // from `name:`, or "" for <experiment>.<stage>
  double poll = 5;                      // seconds between refreshes with --wait
};
// From `scheduler:` merged with `slurm:`.
Result<SlurmSettings> slurm_settings(const json& options);

// "0-4,7,9-10" for sorted, distinct indices.
std::string array_spec(const std::vector<size_t>& sorted);
// "2-5%2", "1,3", "7" -> indices (any throttle suffix ignored); nullopt when malformed.
std::optional<std::vector<size_t>> parse_array_spec(const std::string& spec);

// One line of `squeue -h -t all -o '%i|%T|%r'`.
struct QueueRecord {
  std::string job;              // the array's job id
  std::vector<size_t> indices;  // array indices the line covers; empty = the whole job
  std::string state;            // PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, ...
  std::string reason;           // Priority, Resources, Dependency, DependencyNeverSatisfied, ...
};
std::vector<QueueRecord> parse_squeue(const std::string& out);

// MaxArraySize from `scontrol show config` output (1001, Slurm's default, when absent).
size_t parse_max_array_size(const std::string& scontrol_out);

class SlurmBackend : public Backend {
 public:
  std::string name() const override { return "slurm"; }
  Result<int> launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                     const RunOptions& opts) override;
  Result<void> dry_run(std::ostream& os, const spec::Spec& sp, const plan::Plan& p, const RunOptions& opts) override;
  Result<void> refresh(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                       std::vector<store::TaskStatus>& tasks) override;
  std::string scheduler_log(const store::Experiment& exp, size_t task) override;
  Result<void> cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                      const std::vector<store::TaskStatus>& tasks) override;
};

}  // namespace xrun::backend
