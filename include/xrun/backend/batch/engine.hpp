// The batch engine: runs an experiment on a batch scheduler through its Dialect. One array job
// per stage (split where a stage exceeds the scheduler's largest array), stages chained with
// job dependencies from the stage graph, each submission recorded in the store the moment the
// scheduler accepts it (signals blocked around it), a sparse array of just the tasks to rerun on
// resume, one batched queue query per status, cancel of single elements or whole arrays.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "xrun/backend/backend.hpp"
#include "xrun/backend/batch/dialect.hpp"

namespace xrun::backend::batch {

class BatchBackend : public Backend {
 public:
  explicit BatchBackend(std::unique_ptr<Dialect> d) : d_(std::move(d)) {}
  std::string name() const override { return d_->name(); }
  Result<void> check_options(const json& options) const override;
  Result<void> preflight(const json& options) override { return check_programs(options); }
  Result<void> check_programs(const json& options) const override;
  Result<int> launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                     const RunOptions& opts) override;
  Result<void> dry_run(std::ostream& os, const std::string& name, const json& sections, const plan::Plan& p,
                       const RunOptions& opts) override;
  Result<void> observe(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                       std::vector<store::TaskFacts>& facts) override;
  std::string scheduler_log(const store::Experiment& exp, size_t task) override;
  Result<void> cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                      const std::vector<store::TaskStatus>& tasks) override;

  const Dialect& dialect() const { return *d_; }

 private:
  std::unique_ptr<Dialect> d_;
};

// task id -> (job id, array index), from every submission recorded for the experiment (the
// latest wins); `dir` is the dialect's folder in the experiment (backend/<name>).
// `scripts`, when given, gets each job's batch script.
std::map<size_t, std::pair<std::string, size_t>> load_task_jobs(const std::string& dir,
                                                                std::map<std::string, std::string>* scripts = nullptr);

}  // namespace xrun::backend::batch
