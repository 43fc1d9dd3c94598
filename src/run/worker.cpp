#include "xrun/run/worker.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "xrun/run/process.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/store/index.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::run {

namespace {

// The running task's process group, for the signal handlers (0: none).
volatile sig_atomic_t g_group = 0;
// A signal that came while no task ran but its id was already waiting on stdin (the runner
// handed it a task, then stopped it before it knew its group): passed on once the task starts.
volatile sig_atomic_t g_pending = 0;

extern "C" void forward_signal(int sig) {
  const int saved = errno;
  pid_t group = g_group;
  int queued = 0;
  if (group > 0) ::kill(-group, sig);
  else if (::ioctl(0, FIONREAD, &queued) == 0 && queued > 0) g_pending = sig;
  errno = saved;
}

// The room a record is written over: a line of blanks, which readers ignore (as the sh wrapper's
// `printf '%511s\n'`).
constexpr size_t kRoom = 512;
// A script length above this is not one (the runner hands over at most kMaxInlineScript).
constexpr long kMaxScript = 1 << 20;

// Open a record file and reserve its room, blank (this also clears an earlier record); invalid
// when it cannot be. A reused file is written over, not truncated: its block is kept.
util::Fd reserve(const std::string& path) {
  util::Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) return fd;
  std::string blanks(kRoom - 1, ' ');
  blanks += '\n';
  if (::pwrite(fd.get(), blanks.data(), blanks.size(), 0) != static_cast<ssize_t>(blanks.size())) return util::Fd();
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || (st.st_size > static_cast<off_t>(kRoom) && ::ftruncate(fd.get(), kRoom) != 0))
    return util::Fd();
  return fd;
}

// Write a record over its reserved room, in one write.
void put(const util::Fd& fd, const std::string& text) {
  if (fd.valid()) (void)!::pwrite(fd.get(), text.data(), text.size(), 0);
}

// TERM, INT and HUP, forwarded to the running task.
sigset_t forwarded_set() {
  sigset_t s;
  sigemptyset(&s);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&s, sig);
  return s;
}

// Before a task's end is said: the signals are blocked again, and those that came for this task
// after it ended (or for one that never started) are dropped, not kept for the next task.
void settle_signals() {
  const sigset_t set = forwarded_set();
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  const timespec none{0, 0};
  while (::sigtimedwait(&set, nullptr, &none) > 0) {
  }
  g_pending = 0;
}

// Lines for the runner, sent before the worker waits for anything (so that a task's end and the
// next one's start reach the runner together); a runner that is gone is no reason to stop
// recording tasks.
std::string g_said;
// The pipe to the runner: a close-on-exec copy of the descriptor the worker was started with as
// its stdout. A task's shell, between its clone and its exec, holds a copy of it: the runner sees
// the end of a killed worker only once each task it was starting has either run its exec (and
// recorded its start first) or ended without running anything. (On fd 1, the copy would close
// when the child opens the task's stdout, before it records the start.)
int g_runner = 1;
void say(const std::string& line) { g_said += line; }

// An errno that says the store has no room (space, inodes, quota) or cannot be written.
bool store_full(int err) { return err == ENOSPC || err == EDQUOT || err == EROFS; }
void flush() {
  (void)util::write_fully(g_runner, g_said);
  g_said.clear();
}

// Appends to a file of a task's folder (inside `tasks`), following no link.
void append_to(const std::string& tasks, const std::string& path, const std::string& text) {
  util::Fd fd = util::open_under(tasks, path, O_WRONLY | O_CREAT | O_APPEND);
  if (fd.valid()) (void)!::write(fd.get(), text.data(), text.size());
}

class Worker {
 public:
  Worker(std::string tasks, const std::string& shell) : tasks_(std::move(tasks)) {
    const char* h = std::getenv("XRUN_HOST");
    host_ = h && *h ? h : util::hostname();
    shell_name_ = shell.empty() ? "bash" : shell;
    shell_path_ = shell_name_.find('/') != std::string::npos ? shell_name_ : find_on_path(shell_name_);
    if (shell.empty() && shell_path_.empty()) {
      shell_name_ = "sh";
      shell_path_ = find_on_path("sh");
    }
    if (!shell_path_.empty() && ::access(shell_path_.c_str(), X_OK) != 0) shell_path_.clear();
  }

  // One task: says its start and its end to the runner. Called with TERM, INT and HUP blocked:
  // one sent (by the runner) while the task is being started is passed on once it has a group;
  // they are unblocked while it runs, and blocked again before its end is said.
  // `header`: "ID ATTEMPT LENGTH ENVLENGTH[<TAB>NAME=value ...]"; `script`: the task's script
  // (empty: TASK_DIR/cmd.sh); `vars`: its variables, each NAME=value ending in a NUL byte.
  void run(std::string_view header, const std::string& script, std::string_view vars) {
    std::string env_words;
    if (auto tab = header.find('\t'); tab != std::string_view::npos) {
      env_words = std::string(header.substr(tab + 1));
      header = header.substr(0, tab);
    }
    auto words = util::split(header, ' ');
    std::string id = words.empty() ? std::string() : words[0];
    const std::string dir = tasks_ + "/" + id;
    struct stat st {};
    // A task id is a number: never `..` or `.` (the experiment's or the tasks folder itself).
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos || ::lstat(dir.c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      settle_signals();
      say(fmt::format("E 2 {}\n", id));
      return;
    }
    // Both records' room is reserved before the task starts (this also clears an earlier final
    // record): a store that fills up while the task runs cannot lose its end. Without room the
    // task is not started and stays PENDING.
    util::Fd status = reserve(dir + "/status");
    util::Fd started = status.valid() ? reserve(dir + "/started") : util::Fd();
    if (!started.valid()) {
      settle_signals();
      say(fmt::format("E 75 {}\n", id));
      return;
    }
    store::WrapperRecord w;
    w.attempt = 1;
    if (auto v = words.size() > 1 ? util::parse_long(words[1]) : std::nullopt; v && *v > 0 && *v < INT_MAX)
      w.attempt = static_cast<int>(*v);
    w.host = host_;
    w.wrapper = pid_;
    w.wrapper_start = own_start_;
    w.boot = boot_id();
    w.resources = env_words;
    w.start = util::now_seconds();

    std::optional<Child> child;
    if (shell_path_.empty()) {
      append_to(tasks_, dir + "/stderr", fmt::format("xrun: task shell '{}' not found on {}\n", shell_name_, host_));
      append_to(tasks_, dir + "/stdout", "");
      w.exit_code = 127;
    } else {
      Child::Spawn sp;
      // The script as the shell's -c argument, $0 the path of the file it stands for (as when
      // the file is run): no file written, none read.
      const std::string file = dir + "/cmd.sh";
      sp.argv = script.empty() ? std::vector<std::string>{shell_path_, file}
                               : std::vector<std::string>{shell_path_, "-c", script, file};
      sp.stdout_path = dir + "/stdout";
      sp.stderr_path = dir + "/stderr";
      sp.truncate = true;
      sp.child_mask = &empty_mask_;
      sp.stdin_fd = devnull_.valid() ? devnull_.get() : -1;
      // The task's start is recorded by its shell's process before the shell runs (it names that
      // process): a worker killed at any point leaves no task running that its records miss.
      w.state = "RUNNING";
      w.pid = 0;
      sp.record_fd = started.get();
      std::tie(sp.record_before, sp.record_after) = store::started_record_around_pid(w);
      sp.record_start_key = "\npid_start=";
      for (auto& word : util::split(env_words, ' '))
        if (word.find('=') != std::string::npos) sp.env.push_back(std::move(word));
      const size_t own = sp.env.size();
      std::vector<std::string> task_vars;
      for (auto& v : util::split(vars, '\0'))
        if (v.find('=') != std::string::npos) task_vars.push_back(std::move(v));
      sp.env.insert(sp.env.end(), task_vars.begin(), task_vars.end());
      auto c = Child::spawn(sp);
      if (!c && !script.empty() && util::write_new_file(file, with_exports(script, task_vars))) {
        // Too long an argument list with this environment (E2BIG): the file, then, which exports
        // the task's variables itself.
        sp.argv = {shell_path_, file};
        sp.env.resize(own);
        c = Child::spawn(sp);
      }
      if (!c && store_full(c.error().os_errno)) {
        // Its output files could not be made (no space or no inode left, a read-only store): the
        // task did not start. Its reserved records stay blank: it is PENDING, and the runner
        // stops as on a full disk (its stop message is the reason: there may be no room left
        // for one of the task's own).
        settle_signals();
        say(fmt::format("E 75 {}\n", id));
        return;
      }
      if (c) {
        child = std::move(c.value());
      } else {
        append_to(tasks_, dir + "/stderr", fmt::format("xrun: {}\n", c.error().what));
        w.exit_code = 126;
      }
    }
    w.pid = child ? child->pid() : pid_;
    w.state = "RUNNING";
    if (!child) put(started, store::format_started_record(w));
    started.reset();
    if (child) g_group = child->pid();
    // A signal that came while the task was being started reaches its group now.
    ::sigprocmask(SIG_SETMASK, &empty_mask_, nullptr);
    if (child && g_pending) ::kill(-child->pid(), g_pending);
    g_pending = 0;
    if (child) {
      say(fmt::format("S {} {}\n", child->pid(), id));
      flush();
      // Its end is read without reaping it (WNOWAIT): the shell is reaped only once its status is
      // written, so that a worker killed in between leaves a zombie to the runner (its subreaper),
      // which records the real end, never a task whose end nobody knows.
      siginfo_t info{};
      int got = 0;
      while ((got = ::waitid(P_PID, static_cast<id_t>(child->pid()), &info, WEXITED | WNOWAIT)) < 0 && errno == EINTR) {
      }
      if (got == 0) {
        w.exit_code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
      } else {
        int ended = 0;  // (waitid refused: reaped at once instead)
        while (::waitpid(child->pid(), &ended, 0) < 0 && errno == EINTR) {
        }
        child->mark_reaped(ended);
        w.exit_code = WIFEXITED(ended) ? WEXITSTATUS(ended) : 128 + WTERMSIG(ended);
      }
      settle_signals();  // (none goes to a group that has ended)
      g_group = 0;
    }
    int rc = *w.exit_code;
    w.end = util::now_seconds();
    // As the sh wrapper: a code above 128 is a signal's.
    if (rc > 128 && rc < 193) w.signal = rc - 128;
    w.state = rc == 0 ? "SUCCEEDED" : "FAILED";
    if (!child) settle_signals();  // (else settled once it ended)
    put(status, store::format_wrapper_record(w));
    if (child && child->running()) {
      int reaped = 0;
      while (::waitpid(child->pid(), &reaped, 0) < 0 && errno == EINTR) {
      }
      child->mark_reaped(reaped);
    }
    say(fmt::format("E {} {}\n", rc, id));
  }

 private:
  std::string tasks_, host_, shell_name_, shell_path_;
  pid_t pid_ = ::getpid();
  uint64_t own_start_ = process_start_ticks(::getpid()).value_or(0);  // with pid_: this worker, for good
  util::Fd devnull_{::open("/dev/null", O_RDONLY | O_CLOEXEC)};  // every task's stdin
  sigset_t empty_mask_ = [] {
    sigset_t s;
    sigemptyset(&s);
    return s;
  }();
};

}  // namespace

int run_worker(const std::string& tasks_dir, const std::string& shell) {
  if (tasks_dir.empty()) return 2;
  // A vanished runner is an error code on write, not our death: the task we run is recorded.
  set_handler(SIGPIPE, SIG_IGN);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) set_handler(sig, forward_signal, SA_RESTART);
  // TERM, INT and HUP are blocked but while the worker waits for its next task (ppoll) or for
  // its task to end: none is lost in between, nor taken for the next task.
  sigset_t none;
  sigemptyset(&none);
  const sigset_t forwarded = forwarded_set();
  ::sigprocmask(SIG_SETMASK, &forwarded, nullptr);

  // Nothing the runner was given reaches a task: descriptors inherited from whoever started it
  // (a shell leaks some) close when a task's shell starts.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (const auto& name : util::list_dir("/proc/self/fd")) {
      int fd = std::atoi(name.c_str());
      if (fd > 2) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  // The runner's pipe moves off fd 1 to a close-on-exec descriptor (g_runner); fd 1 is /dev/null.
  if (int out = ::fcntl(1, F_DUPFD_CLOEXEC, 3); out >= 0) {
    g_runner = out;
    if (int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC); null >= 0) {
      ::dup3(null, 1, 0);
      ::close(null);
    }
  }
  Worker worker(tasks_dir, shell);
  std::string buf;
  bool ended = false;
  char chunk[4096];
  // Read what is there; with `wait`, block until something is (signals are let in only then).
  // Sets `ended` at the end of input.
  auto fill = [&](bool wait) {
    if (wait) flush();
    for (;;) {
      pollfd in{0, POLLIN, 0};
      int ready = wait ? ::ppoll(&in, 1, nullptr, &none) : ::poll(&in, 1, 0);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) return;
      ssize_t n = ready < 0 ? -1 : ::read(0, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ended = true;
        return;
      }
      buf.append(chunk, static_cast<size_t>(n));
      if (wait) return;
    }
  };
  // A message: its header line, then its script's LENGTH bytes and its variables' ENVLENGTH bytes
  // (the header's third and fourth words).
  auto complete = [&](size_t* header_end, size_t* script_end, size_t* total) {
    size_t nl = buf.find('\n');
    if (nl == std::string::npos) return false;
    auto words = util::split(std::string_view(buf).substr(0, std::min(nl, buf.find('\t'))), ' ');
    auto length = [&](size_t k) {
      auto len = words.size() > k ? util::parse_long(words[k]) : std::optional<long>(0);
      return len && *len > 0 && *len <= kMaxScript ? static_cast<size_t>(*len) : size_t{0};
    };
    const size_t n = length(2), v = length(3);
    if (buf.size() < nl + 1 + n + v) return false;
    *header_end = nl;
    *script_end = nl + 1 + n;
    *total = nl + 1 + n + v;
    return true;
  };
  while (!ended) {
    fill(true);
    size_t header_end = 0, script_end = 0, total = 0;
    while (complete(&header_end, &script_end, &total)) {
      // A task the runner queued is not started once the runner has closed our input (it is
      // being interrupted): the end of input that follows it says so.
      fill(false);
      if (ended) break;
      std::string header = buf.substr(0, header_end);
      std::string script = buf.substr(header_end + 1, script_end - header_end - 1);
      std::string vars = buf.substr(script_end, total - script_end);
      buf.erase(0, total);
      worker.run(header, script, vars);
    }
  }
  flush();
  return 0;
}

}  // namespace xrun::run
