// The Docker/Podman launcher: each task in its own container on the local pool. The container
// runs the same POSIX sh task wrapper (`sh wrapper.sh TASK_DIR`) with the experiment's folder
// and the working directory mounted at their own paths, named xrun-<experiment>-<task> and
// labelled xrun.experiment / xrun.task. Liveness is the container's (one `ps` call for the whole
// experiment); signals go to the container (`kill --signal`), never only to the client.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "xrun/backend/pool/engine.hpp"

namespace xrun::backend::pool {

struct ContainerSettings {
  std::string image;                  // required
  std::string cli = "docker";         // docker | podman
  std::vector<std::string> volumes;   // HOST:CONTAINER[:ro]
  std::vector<std::pair<std::string, std::string>> env;
  std::string network, gpus, user;    // user: default the caller's uid:gid
  std::string pull = "missing";       // never | missing | always
  std::string cpus, memory;
  std::vector<std::string> extra_args;
};
// `complete`: the options are all there is (an image is required); else a part of them is checked.
Result<ContainerSettings> container_settings(const json& options, bool complete);

class ContainerLauncher : public Launcher {
 public:
  std::string name() const override { return "docker"; }
  Result<void> check(const json& options) const override;
  Result<void> check_complete(const json& options) const override;
  Result<void> configure(const json& options) override;
  Result<void> preflight() const override;
  std::string describe() const override;
  std::vector<std::string> worker_argv(const store::Experiment&, const std::string&) const override { return {}; }
  std::vector<std::string> task_argv(const store::Experiment& exp, size_t task, const std::string& workdir,
                                     const std::vector<std::string>& env) const override;
  std::unique_ptr<Launcher> clone() const override { return std::make_unique<ContainerLauncher>(*this); }
  void signal(const store::Experiment& exp, size_t task, long pgid, pid_t proc, int sig) const override;
  void observe(const store::Experiment& exp, std::vector<store::TaskFacts>& facts) const override;
  bool reaches(const std::string& host) const override;
  std::optional<std::set<size_t>> running_apart(const store::Experiment& exp) const override;

  // The container of a task: xrun-<experiment id>-<task>.
  static std::string container_name(const store::Experiment& exp, size_t task);

 private:
  ContainerSettings s_;
};

}  // namespace xrun::backend::pool
