// The local pool's launcher: tasks run as processes on this host, each in its own process group.
#pragma once

#include "xrun/backend/pool/engine.hpp"

namespace xrun::backend::pool {

class ProcessLauncher : public Launcher {
 public:
  std::string name() const override { return "local"; }
  std::vector<std::string> worker_argv(const store::Experiment& exp) const override;
  std::vector<std::string> task_argv(const store::Experiment& exp, size_t task) const override;
  void signal(long pgid, pid_t proc, int sig) const override;
  store::Liveness liveness(const store::Experiment& exp, const store::WrapperRecord& w) const override;
  bool reaches(const std::string& host) const override;
};

}  // namespace xrun::backend::pool
