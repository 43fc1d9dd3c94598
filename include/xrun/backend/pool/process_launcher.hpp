// The local pool's launcher: tasks run as processes on this host, each in its own process group.
#pragma once

#include "xrun/backend/pool/engine.hpp"

namespace xrun::backend::pool {

class ProcessLauncher : public Launcher {
 public:
  std::string name() const override { return "local"; }
  Result<void> check(const json&) const override { return {}; }
  Result<void> configure(const json&) override { return {}; }
  std::vector<std::string> worker_argv(const store::Experiment& exp, const std::string& shell) const override;
  std::vector<std::string> task_argv(const store::Experiment& exp, size_t task, const std::string& workdir,
                                     const std::vector<std::string>& env) const override;
  std::unique_ptr<Launcher> clone() const override { return std::make_unique<ProcessLauncher>(*this); }
  void signal(const store::Experiment& exp, size_t task, long pgid, pid_t proc, int sig) const override;
  void observe(const store::Experiment& exp, std::vector<store::TaskFacts>& facts) const override;
  bool reaches(const std::string& host) const override;
  // The wrapper, or the task's own shell once the wrapper is gone, alive on this host.
  static store::Liveness liveness(const store::Experiment& exp, const store::WrapperRecord& w);
};

}  // namespace xrun::backend::pool
