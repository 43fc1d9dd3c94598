#include "xrun/backend/pool/process_launcher.hpp"

#include <signal.h>

#include "xrun/run/process.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::backend::pool {

std::vector<std::string> ProcessLauncher::worker_argv(const store::Experiment& exp, const std::string& shell) const {
  return run::worker_argv(exp, shell);
}

std::vector<std::string> ProcessLauncher::task_argv(const store::Experiment& exp, size_t task, const std::string&,
                                                   const std::vector<std::string>&) const {
  return run::wrapper_argv(exp, task);
}

void ProcessLauncher::signal(const store::Experiment&, size_t, long pgid, pid_t proc, int sig) const {
  if (pgid > 0) ::kill(static_cast<pid_t>(-pgid), sig);
  else if (proc > 0) ::kill(proc, sig);
}

namespace {
bool reaches_host(const std::string& host) {
  static const std::string here = util::hostname();
  return host.empty() || host == here;
}
}  // namespace

void ProcessLauncher::observe(const store::Experiment& exp, std::vector<store::TaskFacts>& facts) const {
  for (auto& f : facts)
    if (f.record && f.record->state == "RUNNING") f.liveness = liveness(exp, *f.record);
}

store::Liveness ProcessLauncher::liveness(const store::Experiment& exp, const store::WrapperRecord& w) {
  if (!reaches_host(w.host)) return store::Liveness::Unknown;
  // The wrapper (its command line names the experiment's folder), or the task's own shell, the
  // leader of its process group (its command line names the task's cmd.sh).
  // Matched on the experiment's own part of the path, whatever spelling of the store's root
  // (a trailing '/', a symbolic link) started it.
  // A record that names its processes' start times and the boot (every xrun since they were
  // recorded) is matched on them: a pid given meanwhile to another process (a new runner's
  // worker, a `tail -f` of the task's log) is not the task's, whatever its command line.
  if (!w.boot.empty() && !run::boot_id().empty() && w.boot != run::boot_id()) return store::Liveness::Gone;
  const std::string needle = "/experiments/" + exp.id() + "/";
  auto is = [&](long pid, uint64_t start) {
    if (start == 0 || w.boot.empty()) return run::process_alive(pid, needle);  // (an older record)
    return run::process_start_ticks(pid) == std::optional<uint64_t>(start);
  };
  const uint64_t wrapper_start = w.wrapper_start > 0 ? w.wrapper_start : w.wrapper == w.pid ? w.pid_start : 0;
  if (is(w.wrapper, wrapper_start)) return store::Liveness::Alive;
  if (w.pid > 0 && w.pid != w.wrapper && is(w.pid, w.pid_start)) return store::Liveness::Alive;
  return store::Liveness::Gone;
}

bool ProcessLauncher::reaches(const std::string& host) const { return reaches_host(host); }

}  // namespace xrun::backend::pool
