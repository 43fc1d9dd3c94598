#include "xrun/run/process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <memory>
#include <ctime>
#include <string_view>

#include <fmt/format.h>

#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

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

namespace {

// The signals that have a handler in this process (set_handler): a child sets them back to their
// default, and those of kChildDefaults too (ignored or not).
sigset_t g_handled = [] {
  sigset_t s;
  sigemptyset(&s);
  return s;
}();
constexpr int kChildDefaults[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE, SIGQUIT};

// What the child of Child::spawn needs, prepared by the parent (the child shares its memory and
// allocates nothing).
struct SpawnArgs {
  const char* file = nullptr;  // with a '/': run as it is; else looked up on PATH
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  bool new_session = false;
  int stdin_fd = -1;
  int stdout_fd = -1;
  const char* stdout_path = nullptr;  // nullptr: /dev/null
  const char* stderr_path = nullptr;  // nullptr: fd 1
  int open_flags = 0;
  sigset_t mask{};
  sigset_t reset{};  // the signals set back to SIG_DFL
  int record_fd = -1;          // the start record the child writes before exec (Spawn::record_fd)
  const char* record_before = nullptr;
  size_t record_before_len = 0;
  const char* record_after = nullptr;
  size_t record_after_len = 0;
  char* record = nullptr;      // room for the whole record, filled by the child
  size_t record_len = 0;       // what the child wrote of it
  const char* record_start_key = nullptr;  // "\npid_start=" (or null: no start time)
  size_t record_start_key_len = 0;
  int err = 0;       // the child's errno when it could not start the program
};

// The calling process's start time in clock ticks since boot, as decimal digits into `out`
// (at most 20): field 22 of /proc/self/stat, counted after the command's closing ')'. System
// calls only (it runs in the spawned child before exec). 0 digits when it cannot be read.
size_t own_start_digits(char* out) {
  char buf[1024];
  int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  ssize_t close_paren = -1;
  for (ssize_t i = 0; i < n; ++i)
    if (buf[i] == ')') close_paren = i;
  if (close_paren < 0) return 0;
  // ") S ppid ...": after the ')', field 3 (state) is the 1st; starttime (22) the 20th.
  int field = 0;
  ssize_t i = close_paren + 1;
  while (i < n) {
    while (i < n && buf[i] == ' ') ++i;
    if (++field == 20) break;
    while (i < n && buf[i] != ' ') ++i;
  }
  size_t len = 0;
  while (i < n && len < 20 && buf[i] >= '0' && buf[i] <= '9') out[len++] = buf[i++];
  return len;
}

// The child's start record, written in one pwrite at offset 0: before + its pid + after.
bool write_start_record(SpawnArgs* a) {
  char digits[24];
  size_t n = 0;
  for (unsigned long pid = static_cast<unsigned long>(::getpid()); pid > 0 || n == 0; pid /= 10)
    digits[n++] = static_cast<char>('0' + pid % 10);
  char* out = a->record;
  std::memcpy(out, a->record_before, a->record_before_len);
  out += a->record_before_len;
  while (n > 0) *out++ = digits[--n];
  if (a->record_start_key) {
    char start[20];
    const size_t len = own_start_digits(start);
    if (len > 0) {
      std::memcpy(out, a->record_start_key, a->record_start_key_len);
      out += a->record_start_key_len;
      std::memcpy(out, start, len);
      out += len;
    }
  }
  std::memcpy(out, a->record_after, a->record_after_len);
  out += a->record_after_len;
  const ssize_t len = out - a->record;
  a->record_len = static_cast<size_t>(len);
  ssize_t w;
  while ((w = ::pwrite(a->record_fd, a->record, static_cast<size_t>(len), 0)) < 0 && errno == EINTR) {
  }
  if (w >= 0 && w != len) errno = ENOSPC;
  return w == len;
}

// The start record taken back by a child whose exec failed: blanks over it, as the room was.
void blank_start_record(SpawnArgs* a) {
  std::memset(a->record, ' ', a->record_len);
  (void)!::pwrite(a->record_fd, a->record, a->record_len, 0);
}

// `path` opened with `flags` as descriptor `target` (not close-on-exec). `target` is closed
// first: the lower ones being open, the file gets it at once (no dup2, no second close).
bool open_as(const char* path, int flags, int target) {
  ::close(target);
  int fd = ::open(path, flags, 0644);
  if (fd < 0) return false;
  if (fd == target) return true;
  bool ok = ::dup2(fd, target) == target;
  ::close(fd);
  return ok;
}

// `fd` as descriptor `target`, open across exec. dup2 onto itself would leave close-on-exec set
// (a parent started with fd 0 closed gets a pipe there): as posix_spawn's adddup2, it is cleared.
bool move_to(int fd, int target) {
  if (fd == target) return ::fcntl(fd, F_SETFD, 0) == 0;
  return ::dup2(fd, target) == target;
}

// The child, between clone and exec (posix_spawn's steps, in its order): it runs on its own stack
// in the parent's memory while the parent waits (CLONE_VFORK), so it only makes system calls.
// Unlike glibc's posix_spawn, it does not ask every one of the 64 signals for its handler (116
// system calls per task, ~25 us here): the process's handlers are known (set_handler).
int spawn_child(void* p) {
  auto* a = static_cast<SpawnArgs*>(p);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sigismember(&a->reset, sig) == 1) ::sigaction(sig, &dfl, nullptr);
  if (a->new_session ? ::setsid() < 0 : ::setpgid(0, 0) != 0) {
    a->err = errno;
    ::_exit(127);
  }
  bool ok = a->stdin_fd >= 0 ? move_to(a->stdin_fd, 0) : open_as("/dev/null", O_RDONLY, 0);
  if (ok && a->stdout_fd >= 0) ok = move_to(a->stdout_fd, 1);
  else if (ok) ok = open_as(a->stdout_path ? a->stdout_path : "/dev/null", a->stdout_path ? a->open_flags : O_WRONLY, 1);
  if (ok) ok = a->stderr_path ? open_as(a->stderr_path, a->open_flags, 2) : ::dup2(1, 2) == 2;
  if (!ok) {
    a->err = errno;
    ::_exit(127);
  }
  if (a->record_fd >= 0 && !write_start_record(a)) {
    a->err = errno;
    blank_start_record(a);  // (a part of it may have been written)
    ::_exit(127);
  }
  ::sigprocmask(SIG_SETMASK, &a->mask, nullptr);
  if (std::strchr(a->file, '/')) ::execve(a->file, a->argv, a->envp);
  else ::execvpe(a->file, a->argv, a->envp);
  a->err = errno;
  if (a->record_fd >= 0) blank_start_record(a);  // it ran nothing: no start to name
  ::_exit(127);
}

}  // namespace

void set_handler(int sig, void (*handler)(int), int flags) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = flags;
  // (An ignored signal stays ignored in a child, as with posix_spawn, unless kChildDefaults has it.)
  if (handler == SIG_DFL || handler == SIG_IGN) {
    ::sigaction(sig, &sa, nullptr);
    sigdelset(&g_handled, sig);
  } else {
    sigaddset(&g_handled, sig);
    ::sigaction(sig, &sa, nullptr);
  }
}

Result<Child> Child::spawn(const Spawn& s) {
  if (s.argv.empty()) return runtime_error("cannot start a program: no command", "this is a bug in xrun");
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

  SpawnArgs a;
  a.file = argv[0];
  a.argv = argv.data();
  a.envp = s.env.empty() ? environ : envp.data();
  a.new_session = s.new_session;
  a.stdin_fd = s.stdin_fd;
  a.stdout_fd = s.stdout_fd;
  a.stdout_path = s.stdout_path.empty() ? nullptr : s.stdout_path.c_str();
  a.stderr_path = s.stderr_path.empty() ? nullptr : s.stderr_path.c_str();
  // O_NOFOLLOW: a link planted at the output file is refused, never truncated through (the child
  // cannot allocate, so not util::open_under; the task's folder and tasks/ were checked by
  // Experiment::check_task_dir, which refuses links, before the spawn).
  a.open_flags = O_WRONLY | O_CREAT | O_NOFOLLOW | (s.truncate ? O_TRUNC : O_APPEND);
  if (s.child_mask) a.mask = *s.child_mask;
  else sigemptyset(&a.mask);
  a.reset = g_handled;
  for (int sig : kChildDefaults) sigaddset(&a.reset, sig);
  std::string record_room;
  if (s.record_fd >= 0) {
    record_room.resize(s.record_before.size() + s.record_after.size() + s.record_start_key.size() + 48);
    a.record_fd = s.record_fd;
    a.record_before = s.record_before.data();
    a.record_before_len = s.record_before.size();
    a.record_after = s.record_after.data();
    a.record_after_len = s.record_after.size();
    a.record = record_room.data();
    if (!s.record_start_key.empty()) {
      a.record_start_key = s.record_start_key.data();
      a.record_start_key_len = s.record_start_key.size();
    }
  }

  // The child's stack: this thread's, reused (its pages stay mapped from one task to the next).
  // (execvpe may copy the argument list onto it, to run a script without #! through sh: a
  // longer list than it holds gets a stack of its own.)
  constexpr size_t kStack = 256 * 1024;
  thread_local std::unique_ptr<char[]> reused(new char[kStack]);
  const size_t need = (argv.size() + 2) * sizeof(char*) + 64 * 1024;
  std::unique_ptr<char[]> own(need > kStack ? new char[need] : nullptr);
  char* stack = own ? own.get() : reused.get();
  const size_t stack_size = own ? need : kStack;
  // No handler may run in the child before it has reset them: every signal is blocked around
  // the clone (the child sets its own mask last).
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  void* top = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(stack + stack_size)) & ~uintptr_t{15});
  pid_t pid = ::clone(spawn_child, top, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  const int clone_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  int err = pid < 0 ? clone_err : a.err;
  if (pid > 0 && a.err != 0) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  if (err != 0) {
    Error e = runtime_error(fmt::format("cannot start '{}': {}", s.argv[0], std::strerror(err)),
                            "check that the program exists and the system has free process slots");
    e.os_errno = err;
    return e;
  }
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
  // Its own process group: a Ctrl-C on the terminal reaches xrun, which decides, never a
  // scheduler command half-way (an sbatch killed after the controller accepted the job would
  // leave a job the store does not know).
  Child::Spawn sp;
  sp.argv = argv;
  sp.stdout_path = out;
  sp.stderr_path = err;
  sp.truncate = true;
  auto child = Child::spawn(sp);
  if (!child) return child.error();
  const pid_t pid = child->pid();
  double waited = 0;
  int st = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return runtime_error(fmt::format("waiting for '{}' failed", argv[0]));
    if (waited > timeout_seconds) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      child->mark_reaped(st);
      return runtime_error(fmt::format("'{}' did not answer within {:.0f} s", argv[0], timeout_seconds),
                        "the scheduler may be overloaded or down; try again");
    }
    ::usleep(2000);
    waited += 0.002;
  }
  child->mark_reaped(st);
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

std::optional<uint64_t> process_start_ticks(long pid) {
  if (pid <= 0) return std::nullopt;
  auto stat = util::try_read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat) return std::nullopt;
  auto close_paren = stat->rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  auto fields = util::split(util::trim(stat->substr(close_paren + 1)), ' ');
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return std::nullopt;  // ended
  auto v = util::parse_long(fields[19]);
  if (!v || *v < 0) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

double boot_seconds() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double ticks_to_seconds(uint64_t ticks) {
  static const long hz = ::sysconf(_SC_CLK_TCK);
  return static_cast<double>(ticks) / static_cast<double>(hz > 0 ? hz : 100);
}

const std::string& boot_id() {
  static const std::string id = util::trim(util::try_read_file("/proc/sys/kernel/random/boot_id").value_or(""));
  return id;
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
