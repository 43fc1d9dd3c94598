// Slurm as a batch dialect: #SBATCH headers, `sbatch --parsable --array`, --dependency
// afterok/afterany, `squeue -r` (one line per element), scancel of arrays or elements.
#pragma once

#include <string>
#include <vector>

#include "xrun/backend/batch/dialect.hpp"

namespace xrun::backend::batch {

class SlurmDialect : public Dialect {
 public:
  bool chains_elements() const override { return true; }
  std::string name() const override { return "slurm"; }
  std::string display() const override { return "Slurm"; }
  std::vector<std::string> programs() const override { return {"sbatch", "squeue"}; }
  std::string missing_hint() const override {
    return "run xrun on a Slurm login node (or load the Slurm module), or use --backend local";
  }
  Result<Settings> settings(const json& options) const override;
  size_t max_array_size(bool ask) const override;
  std::string script_suffix() const override { return "sbatch"; }
  std::string header(const Settings& s, const std::string& job_name, const std::string& log_pattern,
                     const std::string& workdir) const override;
  std::string index_expression() const override { return "${SLURM_ARRAY_TASK_ID:-0}"; }
  std::string log_pattern(const std::string& logs_dir) const override;
  std::string log_path(const std::string& logs_dir, const std::string& script, const std::string& job,
                       size_t index) const override;
  std::vector<std::string> submit_argv(const std::string& script, const std::string& array, const Settings& s,
                                       const std::vector<After>& after) const override;
  std::optional<std::string> job_id(const run::Captured& r) const override;
  Result<std::vector<QueueEntry>> query(const std::set<std::string>& jobs) const override;
  store::SchedulerView classify(const QueueEntry& e) const override;
  std::vector<std::string> cancel_argv(const std::vector<std::string>& targets) const override;
  bool cancel_error_is_benign(const std::string& err) const override;
  std::string element(const std::string& job, size_t index) const override;
  store::SchedulerView::EndedAs ended_in_log(const std::string& log_text, double since) const override;
};

// The value of Slurm's `--signal=[{R|B}:]SIG[@TIME]` as xrun submits it: always with `B:` (xrun
// runs no job steps, and without `B:` Slurm signals only steps: the task would get nothing); the
// task wrapper passes the signal on to the task's process group. `added` says `B:` was added. An
// input error for a signal the wrapper does not pass on (it would stop the wrapper, or never
// reach the task) or a value Slurm would refuse.
struct BatchSignal {
  std::string value;
  bool added = false;
};
Result<BatchSignal> batch_signal(const std::string& value);

// Lines of `squeue -h -r -t all -o '%i|%T|%r'`; an index list squeue abbreviated or that cannot
// be read stands for the whole job (it is still there).
std::vector<QueueEntry> parse_squeue(const std::string& out);
// MaxArraySize from `scontrol show config` output (1001, Slurm's default, when absent).
size_t parse_max_array_size(const std::string& scontrol_out);

}  // namespace xrun::backend::batch
