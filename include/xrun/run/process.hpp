// Child processes and signals, ninja-style: children start (clone with CLONE_VFORK, as
// posix_spawn does, with fewer system calls) in their own process group with the parent's
// original signal mask and default handlers; the parent keeps
// INT/TERM/HUP/CHLD blocked and waits for them with sigtimedwait, so no signal is ever lost.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xrun/util/result.hpp"

namespace xrun::run {

// Blocks the given signals for the lifetime of the object, then restores the old mask.
class SignalBlocker {
 public:
  explicit SignalBlocker(const std::vector<int>& signals);
  SignalBlocker(const SignalBlocker&) = delete;
  SignalBlocker& operator=(const SignalBlocker&) = delete;
  ~SignalBlocker();
  const sigset_t& old_mask() const { return old_; }
  const sigset_t& blocked() const { return set_; }
  // Wait up to `seconds` for one of the blocked signals; 0 when none came.
  int wait(double seconds) const;

 private:
  sigset_t set_{};
  sigset_t old_{};
};

// Install `handler` for `sig` (sigaction with `flags`). Handlers are installed only through this:
// a child of Child::spawn sets these signals back to their default before it unblocks any (it
// shares the parent's memory until it runs its program).
void set_handler(int sig, void (*handler)(int), int flags = 0);

// A child process that leads its own process group. Destroying a still-running Child kills
// its whole group and reaps it, so no process outlives its owner by accident.
class Child {
 public:
  struct Spawn {
    std::vector<std::string> argv;
    int stdin_fd = -1;        // becomes fd 0; -1 = /dev/null
    int stdout_fd = -1;       // becomes fd 1; -1 = stdout_path
    std::string stdout_path;  // appended to; empty = /dev/null
    std::string stderr_path;  // appended to; empty = same as stdout
    bool truncate = false;    // the paths are truncated and written from the start instead (`>`)
    const sigset_t* child_mask = nullptr;
    bool new_session = false;  // setsid instead of setpgid (detached runners)
    std::vector<std::string> env;  // "NAME=value" set for the child over this process's environment
    // Written by the child itself, at offset 0 of `record_fd`, before it runs its program:
    // record_before + its pid + record_after (a task's start, durable before its shell runs: a
    // parent killed meanwhile cannot leave a task running that its records do not name). The
    // child does not run its program when the record cannot be written, and writes blanks over
    // it when its exec fails (it ran nothing). -1: none. With `record_start_key` (e.g.
    // "\npid_start="), the record is record_before + pid + record_start_key + the child's start
    // time (process_start_ticks) + record_after: the pid and the process it names, together.
    int record_fd = -1;
    std::string record_before, record_after, record_start_key;
  };
  static Result<Child> spawn(const Spawn& s);

  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !reaped_; }
  // Signal the whole process group.
  void kill_group(int sig) const;
  // Record that waitpid() returned this child with `status`.
  void mark_reaped(int status);
  int wait_status() const { return status_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Run a program to completion and capture its output (scheduler commands: sbatch, squeue, ...).
struct Captured {
  int code = -1;  // exit code; 128+N when killed by signal N
  std::string out;
  std::string err;
};
Result<Captured> capture(const std::vector<std::string>& argv, double timeout_seconds = 120);

// Columns of the terminal on `fd` (TIOCGWINSZ), else $COLUMNS, else 80.
size_t terminal_width(int fd);

// The pid is alive on this host and its command line names `needle` (guards against pid reuse).
bool process_alive(long pid, const std::string& needle);
// When the process `pid` started, in clock ticks since boot (/proc/PID/stat's starttime): with
// the pid and the boot id it names one process for good, whatever pid reuse. nullopt when no
// such process runs (a zombie has ended).
std::optional<uint64_t> process_start_ticks(long pid);
// Seconds since boot, suspend included (CLOCK_BOOTTIME): the clock of process_start_ticks.
double boot_seconds();
// process_start_ticks as seconds since boot.
double ticks_to_seconds(uint64_t ticks);
// This boot's id (/proc/sys/kernel/random/boot_id), "" where there is none.
const std::string& boot_id();

// Full path of `program` found on PATH, or empty.
std::string find_on_path(const std::string& program);

}  // namespace xrun::run
