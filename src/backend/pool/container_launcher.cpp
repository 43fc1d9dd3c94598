#include "xrun/backend/pool/container_launcher.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "xrun/backend/options.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend::pool {

namespace {

const char* signal_word(int sig) {
  switch (sig) {
    case SIGTERM: return "TERM";
    case SIGKILL: return "KILL";
    case SIGINT: return "INT";
    case SIGHUP: return "HUP";
    default: return "TERM";
  }
}

std::string daemon_address() {
  const char* h = std::getenv("DOCKER_HOST");
  return h && *h ? h : "unix:///var/run/docker.sock";
}

}  // namespace

Result<ContainerSettings> container_settings(const json& o, bool complete) {
  ContainerSettings s;
  auto scalar = [&](const char* key, std::string& out) -> Result<void> {
    if (!o.contains(key)) return {};
    XRUN_TRY(options::require_scalar("docker", key, o[key]));
    out = options::text(o[key]);
    return {};
  };
  XRUN_TRY(scalar("image", s.image));
  if (s.image.empty() && complete)
    return make_error("the docker backend needs an image", "write `docker: {image: NAME}` (an image present here, or pullable)");
  XRUN_TRY(scalar("cli", s.cli));
  if (s.cli != "docker" && s.cli != "podman")
    return make_error(fmt::format("docker option 'cli' must be docker or podman, got '{}'", s.cli));
  XRUN_TRY(scalar("network", s.network));
  XRUN_TRY(scalar("gpus", s.gpus));
  XRUN_TRY(scalar("user", s.user));
  XRUN_TRY(scalar("pull", s.pull));
  if (s.pull != "never" && s.pull != "missing" && s.pull != "always")
    return make_error(fmt::format("docker option 'pull' must be never, missing or always, got '{}'", s.pull));
  XRUN_TRY(scalar("cpus", s.cpus));
  XRUN_TRY(scalar("mem", s.memory));
  if (s.user.empty()) s.user = fmt::format("{}:{}", ::getuid(), ::getgid());
  auto list = [&](const char* key, std::vector<std::string>& out) -> Result<void> {
    if (!o.contains(key)) return {};
    const auto& v = o[key];
    if (v.is_string()) {
      out.push_back(v.get<std::string>());
      return {};
    }
    if (!v.is_array()) return make_error(fmt::format("docker option '{}' must be a string or a list of strings", key));
    for (const auto& x : v) {
      if (!x.is_string()) return make_error(fmt::format("docker option '{}' must be a list of strings", key));
      out.push_back(x.get<std::string>());
    }
    return {};
  };
  XRUN_TRY(list("volumes", s.volumes));
  if (o.contains("extra_args")) {
    if (o["extra_args"].is_string()) {
      for (const auto& w : util::split(o["extra_args"].get<std::string>(), ' '))
        if (!w.empty()) s.extra_args.push_back(w);
    } else {
      XRUN_TRY(list("extra_args", s.extra_args));
    }
  }
  if (o.contains("env")) {
    const auto& e = o["env"];
    if (!e.is_object()) return make_error("docker option 'env' must be a mapping of NAME: value");
    for (const auto& [k, v] : e.items()) s.env.emplace_back(k, options::text(v));
  }
  return s;
}

Result<void> ContainerLauncher::check(const json& options) const {
  auto s = container_settings(options, false);
  if (!s) return s.error();
  return {};
}

Result<void> ContainerLauncher::check_complete(const json& options) const {
  auto s = container_settings(options, true);
  if (!s) return s.error();
  return {};
}

Result<void> ContainerLauncher::configure(const json& options) {
  auto s = container_settings(options, true);
  if (!s) return s.error();
  s_ = std::move(s.value());
  return {};
}

std::string ContainerLauncher::describe() const { return fmt::format("each task in a {} container of {}", s_.cli, s_.image); }

Result<void> ContainerLauncher::preflight() const {
  if (run::find_on_path(s_.cli).empty())
    return runtime_error(fmt::format("the docker backend needs '{}', which is not on PATH", s_.cli),
                         fmt::format("install it (Debian: {}), or use --backend local", s_.cli == "podman" ? "podman" : "docker.io"));
  if (s_.cli == "docker") {
    auto v = run::capture({s_.cli, "version", "--format", "{{.Server.Version}}"}, 30);
    if (!v || v->code != 0)
      return runtime_error(fmt::format("the docker daemon at {} does not answer: {}", daemon_address(),
                                       v ? util::trim(v->err) : v.error().what),
                           "start it (dockerd), or point DOCKER_HOST at a running one");
  }
  auto has = run::capture({s_.cli, "image", "inspect", "--format", "{{.Id}}", s_.image}, 60);
  bool present = has && has->code == 0;
  if (s_.pull == "always" || (!present && s_.pull == "missing")) {
    auto pulled = run::capture({s_.cli, "pull", s_.image}, 600);
    if (!pulled || pulled->code != 0) {
      if (!present)
        return runtime_error(fmt::format("image '{}' is not here and cannot be pulled: {}", s_.image,
                                         pulled ? util::trim(pulled->err) : pulled.error().what),
                             "build or load it first (docker build / docker load / docker import)");
      spdlog::warn("image '{}' could not be pulled; using the one here", s_.image);
    }
  } else if (!present) {
    return runtime_error(fmt::format("image '{}' is not here, and `pull: never` forbids pulling it", s_.image),
                         "build or load it first, or set `pull: missing`");
  }
  return {};
}

std::string ContainerLauncher::container_name(const store::Experiment& exp, size_t task) {
  return fmt::format("xrun-{}-{}", exp.id(), task);
}

std::vector<std::string> ContainerLauncher::task_argv(const store::Experiment& exp, size_t task,
                                                     const std::string& workdir, const std::vector<std::string>& env) const {
  static const std::string cli_path = run::find_on_path(s_.cli);
  std::vector<std::string> argv{cli_path.empty() ? s_.cli : cli_path, "run", "--rm", "-i=false"};
  argv.push_back("--name=" + container_name(exp, task));
  argv.push_back("--label=xrun.experiment=" + exp.id());
  argv.push_back(fmt::format("--label=xrun.task={}", task));
  argv.push_back("--pull=never");  // pulled (or not) once, before the run
  argv.push_back("--user=" + s_.user);
  // The experiment's folder and the working directory at their own paths: the wrapper and the
  // commands see the same files as on the host (--mount: a ':' in a path is fine there).
  auto bind = [](const std::string& path) {
    auto csv = [](const std::string& f) {  // --mount is read as CSV
      if (f.find_first_of(",\"") == std::string::npos) return f;
      std::string q = "\"";
      for (char c : f) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      return q + "\"";
    };
    return "--mount=type=bind," + csv("source=" + path) + "," + csv("target=" + path);
  };
  argv.push_back(bind(exp.dir()));
  // The task's own working directory (made here first, by this user: an engine would make a
  // missing bind source as root) is the one bound: with `workdir: runs/{lr}` a task sees its
  // own folder, not its siblings'.
  (void)util::make_dirs(workdir);
  if (workdir != exp.dir()) argv.push_back(bind(workdir));
  argv.push_back("--workdir=" + workdir);
  for (const auto& v : s_.volumes) argv.push_back("--volume=" + v);
  argv.push_back("--env=XRUN_HOST=" + util::hostname());
  for (const auto& [k, v] : s_.env) argv.push_back(fmt::format("--env={}={}", k, v));
  for (const auto& e : env) argv.push_back("--env=" + e);  // the pool's: slot, resource ids
  if (!s_.network.empty()) argv.push_back("--network=" + s_.network);
  if (!s_.gpus.empty()) argv.push_back("--gpus=" + s_.gpus);
  if (!s_.cpus.empty()) argv.push_back("--cpus=" + s_.cpus);
  if (!s_.memory.empty()) argv.push_back("--memory=" + s_.memory);
  argv.insert(argv.end(), s_.extra_args.begin(), s_.extra_args.end());
  argv.push_back(s_.image);
  argv.push_back("sh");
  argv.push_back(exp.path("wrapper.sh"));
  argv.push_back(exp.task_dir(task));
  return argv;
}

void ContainerLauncher::signal(const store::Experiment& exp, size_t task, long pgid, pid_t proc, int sig) const {
  // The container itself: killing only the client would leave it running.
  auto r = run::capture({s_.cli, "kill", std::string("--signal=") + signal_word(sig), container_name(exp, task)}, 30);
  if (!r || r->code != 0) spdlog::debug("task {}: {} kill: {}", task, s_.cli, r ? util::trim(r->err) : r.error().what);
  (void)pgid;
  (void)proc;
}

std::optional<std::set<size_t>> ContainerLauncher::running_apart(const store::Experiment& exp) const {
  // One call for the whole experiment.
  // docker's template language has .Label; podman's has only the .Labels map.
  const std::string format = s_.cli == "podman" ? "{{index .Labels \"xrun.task\"}}" : "{{.Label \"xrun.task\"}}";
  auto r = run::capture({s_.cli, "ps", "--filter", "label=xrun.experiment=" + exp.id(), "--format", format}, 30);
  if (!r || r->code != 0) {
    spdlog::warn("cannot ask {} about the experiment's containers: {}", s_.cli, r ? util::trim(r->err) : r.error().what);
    return std::nullopt;
  }
  std::set<size_t> running;
  for (const auto& line : util::split(r->out, '\n'))
    if (auto id = util::parse_long(util::trim(line)); id && *id >= 0) running.insert(static_cast<size_t>(*id));
  return running;
}

void ContainerLauncher::observe(const store::Experiment& exp, std::vector<store::TaskFacts>& facts) const {
  bool any = false;
  for (const auto& f : facts) any = any || !f.record || f.record->state == "RUNNING";
  if (!any) return;
  auto running = running_apart(exp);
  if (!running) return;  // unknown: the records stand
  for (auto& f : facts) {
    const bool up = running->count(f.id) > 0;
    if (f.record && f.record->state == "RUNNING") f.liveness = up ? store::Liveness::Alive : store::Liveness::Gone;
    // Started, but its wrapper has not recorded it yet (e.g. the runner died meanwhile).
    else if (!f.record && up) f.liveness = store::Liveness::Alive;
  }
}

bool ContainerLauncher::reaches(const std::string& host) const {
  static const std::string here = util::hostname();
  return host.empty() || host == here;
}

}  // namespace xrun::backend::pool
