#include "xrun/run/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <ctime>
#include <string_view>

#include <fmt/format.h>

#include "xrun/util/fs.hpp"

extern char** environ;

namespace xrun::run {

SignalBlocker::SignalBlocker(const std::vector<int>& signals) {
  sigemptyset(&set_);
  for (int s : signals) sigaddset(&set_, s);
  sigprocmask(SIG_BLOCK, &set_, &old_);
}

SignalBlocker::~SignalBlocker() {
  // Drain what arrived while blocked so it is not delivered with default action on unblock.
  struct timespec zero {};
  while (sigtimedwait(&set_, nullptr, &zero) > 0) {
  }
  sigprocmask(SIG_SETMASK, &old_, nullptr);
}

int SignalBlocker::wait(double seconds) const {
  if (seconds < 0) seconds = 0;
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - std::floor(seconds)) * 1e9);
  for (;;) {
    int s = sigtimedwait(&set_, nullptr, &ts);
    if (s > 0) return s;
    if (errno == EINTR) continue;
    return 0;
  }
}

Result<Child> Child::spawn(const Spawn& s) {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_init(&fa);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#ifdef POSIX_SPAWN_SETSID
  if (s.new_session) flags |= POSIX_SPAWN_SETSID;
  else flags |= POSIX_SPAWN_SETPGROUP;
#else
  flags |= POSIX_SPAWN_SETPGROUP;
#endif
  posix_spawnattr_setflags(&attr, flags);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, s.child_mask ? s.child_mask : &empty);
  if (s.stdin_fd >= 0) posix_spawn_file_actions_adddup2(&fa, s.stdin_fd, 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const int mode = O_WRONLY | O_CREAT | (s.truncate ? O_TRUNC : O_APPEND);
  if (s.stdout_fd >= 0) posix_spawn_file_actions_adddup2(&fa, s.stdout_fd, 1);
  else if (s.stdout_path.empty()) posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  else posix_spawn_file_actions_addopen(&fa, 1, s.stdout_path.c_str(), mode, 0644);
  if (s.stderr_path.empty()) posix_spawn_file_actions_adddup2(&fa, 1, 2);
  else posix_spawn_file_actions_addopen(&fa, 2, s.stderr_path.c_str(), mode, 0644);

  std::vector<char*> argv;
  for (const auto& a : s.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The environment: this process's, with s.env over it.
  std::vector<std::string> extra = s.env;
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto name = entry.substr(0, entry.find('='));
    bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      return x.size() > name.size() && x.compare(0, name.size(), name) == 0 && x[name.size()] == '=';
    });
    if (!replaced) envp.push_back(*e);
  }
  for (auto& x : extra) envp.push_back(x.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), s.env.empty() ? environ : envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return runtime_error(fmt::format("cannot start '{}': {}", s.argv.empty() ? "" : s.argv[0], std::strerror(rc)),
                      "check that the program exists and the system has free process slots");
  Child c;
  c.pid_ = pid;
  return c;
}

Child::Child(Child&& o) noexcept : pid_(o.pid_), reaped_(o.reaped_), status_(o.status_) { o.pid_ = -1; }

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    this->~Child();
    pid_ = o.pid_;
    reaped_ = o.reaped_;
    status_ = o.status_;
    o.pid_ = -1;
  }
  return *this;
}

Child::~Child() {
  if (running()) {
    ::kill(-pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

void Child::kill_group(int sig) const {
  if (running()) ::kill(-pid_, sig);
}

void Child::mark_reaped(int status) {
  reaped_ = true;
  status_ = status;
}

Result<Captured> capture(const std::vector<std::string>& argv, double timeout_seconds) {
  util::TempDir tmp("xrun-cmd-");
  if (tmp.path().empty()) return runtime_error("cannot create a temporary directory", "check $TMPDIR");
  std::string out = tmp.path() + "/out", err = tmp.path() + "/err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: a Ctrl-C on the terminal reaches xrun, which decides, never a
  // scheduler command half-way (an sbatch killed after the controller accepted the job would
  // leave a job the store does not know).
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<char*> a;
  for (const auto& x : argv) a.push_back(const_cast<char*>(x.c_str()));
  a.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, a[0], &fa, &attr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return runtime_error(fmt::format("cannot run '{}': {}", argv[0], std::strerror(rc)));
  double waited = 0;
  int st = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return runtime_error(fmt::format("waiting for '{}' failed", argv[0]));
    if (waited > timeout_seconds) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return runtime_error(fmt::format("'{}' did not answer within {:.0f} s", argv[0], timeout_seconds),
                        "the scheduler may be overloaded or down; try again");
    }
    ::usleep(2000);
    waited += 0.002;
  }
  Captured c;
  c.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  c.out = util::try_read_file(out).value_or("");
  c.err = util::try_read_file(err).value_or("");
  return c;
}

std::string find_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0 ? program : "";
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  for (;;) {
    size_t colon = p.find(':', start);
    std::string dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    std::string full = dir + "/" + program;
    if (::access(full.c_str(), X_OK) == 0) return full;
    if (colon == std::string::npos) return "";
    start = colon + 1;
  }
}

size_t terminal_width(int fd) {
  struct winsize ws {};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    long v = std::strtol(c, nullptr, 10);
    if (v > 0 && v < 10000) return static_cast<size_t>(v);
  }
  return 80;
}

bool process_alive(long pid, const std::string& needle) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  auto cmdline = util::try_read_file(fmt::format("/proc/{}/cmdline", pid));
  if (!cmdline) return util::exists(fmt::format("/proc/{}", pid));
  std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
  // A zombie has an empty cmdline: it is not running any more.
  if (cmdline->empty()) return false;
  return needle.empty() || cmdline->find(needle) != std::string::npos;
}

}  // namespace xrun::run
