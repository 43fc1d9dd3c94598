// PBS as a batch dialect, in three flavours:
//   pro     PBS Pro / OpenPBS: `#PBS -J a-b` (no index lists: sparse sets go through a task map;
//           a one-task stage is a plain job), ids `123[].server`, elements `123[4].server`,
//           `PBS_ARRAY_INDEX`, status from `qstat -x -f -F json -t`
//   torque  Torque: `-t 0-5%K` (index lists allowed), `PBS_ARRAYID`, `qstat -f -t` text
//   slurm   Slurm's qsub/qdel wrappers (slurm-wlm-torque): bare ids, `SLURM_ARRAY_TASK_ID` in the
//           job; their qstat has one record per array and no pending reasons, so states come from
//           Slurm itself (one `squeue -r` call, as the Slurm dialect reads it)
// From `pbs: {flavor: ...}`, else detected from `qstat --version`.
#pragma once

#include <string>
#include <vector>

#include "xrun/backend/batch/dialect.hpp"

namespace xrun::backend::batch {

class PbsDialect : public Dialect {
 public:
  enum class Flavor { Unknown, Pro, Torque, Slurm };
  explicit PbsDialect(Flavor f = Flavor::Unknown) : flavor_(f) {}

  std::string name() const override { return "pbs"; }
  std::string display() const override { return "PBS"; }
  std::vector<std::string> programs() const override { return {"qsub", "qstat"}; }
  std::string missing_hint() const override {
    return "run xrun on a PBS login node (or load the PBS module), or run the file locally with --backend local";
  }
  Result<Settings> settings(const json& options) const override;
  void configure(const json& options) override;
  json identity() const override;
  void restore(const json& identity) override;
  size_t max_array_size(bool ask) const override;
  std::string script_suffix() const override { return "pbs"; }
  std::string header(const Settings& s, const std::string& job_name, const std::string& log_pattern,
                     const std::string& workdir) const override;
  std::string index_expression() const override;
  bool index_lists() const override;
  bool single_as_plain_job() const override { return flavor() != Flavor::Slurm; }
  std::string log_pattern(const std::string&) const override { return ""; }
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
  std::optional<double> default_walltime() const override { return 60; }  // `-l walltime=1:00`

  // The flavour: the file's `flavor`, else what `qstat --version` says (asked once).
  Flavor flavor() const;

 private:
  mutable Flavor flavor_;
  mutable size_t max_array_ = 0;
};

// `qstat -x -f -F json` (PBS Pro) -> entries; elements keyed by their array index.
std::vector<QueueEntry> parse_qstat_json(const std::string& out);
// `qstat -f [-t]` text (Torque, Slurm's wrappers): "Job Id: ID" blocks of "key = value" lines.
std::vector<QueueEntry> parse_qstat_text(const std::string& out);
// The flavour `qstat --version` output names.
PbsDialect::Flavor flavor_from_version(const std::string& out, int code);

}  // namespace xrun::backend::batch
