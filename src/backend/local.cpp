#include "xrun/backend/local.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <iostream>
#include <list>
#include <optional>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xrun/run/process.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend {

using store::ControlRecord;
using store::State;

Result<LocalSettings> local_settings(const json& options, const RunOptions& opts) {
  LocalSettings s;
  unsigned hw = std::thread::hardware_concurrency();
  s.jobs = hw > 0 ? static_cast<int>(hw) : 1;
  auto as_text = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  for (const auto& key : {"jobs", "max_parallel", "concurrency"}) {
    if (!options.contains(key)) continue;
    std::string t = as_text(options[key]);
    char* end = nullptr;
    long v = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || v < 1 || v > 100000)
      return make_error(fmt::format("local option '{}' must be a whole number from 1, got '{}'", key, t),
                        "e.g. `local: {jobs: 4}`");
    s.jobs = static_cast<int>(v);
  }
  if (options.contains("walltime")) {
    std::string t = as_text(options["walltime"]);
    auto w = run::parse_walltime(t);
    if (!w || *w <= 0)
      return make_error(fmt::format("walltime '{}' is not a duration", t),
                        "use Slurm's forms: MINUTES, MM:SS, HH:MM:SS or D-HH:MM:SS (e.g. walltime: '1:30:00')");
    s.walltime = *w;
  }
  if (options.contains("kill_grace")) {
    std::string t = as_text(options["kill_grace"]);
    char* end = nullptr;
    double v = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || v < 0 || v > 3600)
      return make_error(fmt::format("kill_grace '{}' must be seconds between 0 and 3600", t));
    s.kill_grace = v;
  }
  if (opts.jobs > 0) s.jobs = opts.jobs;
  return s;
}

namespace {

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
  }
}

class Pool {
 public:
  Pool(const store::Experiment& exp, const plan::Plan& p, const json& meta, const RunOptions& opts,
       const LocalSettings& s, const run::SignalBlocker& sigs)
      : exp_(exp), plan_(p), meta_(meta), opts_(opts), set_(s), sigs_(sigs), offsets_(store::stage_offsets(p)) {
    workdir_ = meta.value("workdir", std::string("."));
    tty_ = !opts.quiet && ::isatty(2);
    worker_argv_ = run::worker_argv(exp_);
    slots_.resize(static_cast<size_t>(std::max(1, set_.jobs)));
    sigfd_.reset(::signalfd(-1, &sigs_.blocked(), SFD_CLOEXEC | SFD_NONBLOCK));
  }

  // Runs the whole experiment; returns the exit code.
  int run() {
    start_ = util::now_seconds();
    bool blocked = false;
    std::string blocked_reason;
    for (size_t s = 0; s < plan_.stages.size(); ++s) {
      std::vector<size_t> ids = stage_ids(s);
      if (blocked) {
        refresh_cancel(true);
        for (size_t id : ids)
          if (!cancelled_.count(id)) decide(id, {"SKIPPED", blocked_reason});
        continue;
      }
      if (!ids.empty() && !run_stage(s, ids)) return interrupted();
      clear_progress();
      if (store_error_) break;
      // Gate the next stage on this one.
      size_t bad = 0;
      for (size_t i = 0; i < plan_.stages[s].tasks.size(); ++i)
        if (!run::satisfied(exp_.status_of(offsets_[s] + i))) ++bad;
      if (bad > 0 && plan_.stages[s].on_failure == spec::OnFailure::Stop && !opts_.keep_going) {
        blocked = true;
        spdlog::debug("stage '{}': {} task(s) did not succeed; later stages are skipped", plan_.stages[s].name, bad);
        blocked_reason = fmt::format("stage '{}' did not succeed ({} of {} tasks)", plan_.stages[s].name, bad,
                                     plan_.stages[s].tasks.size());
      }
    }
    settle_doomed();
    stop_workers(1.0);
    if (store_error_) {
      std::cerr << fmt::format("xrun: error: the run store cannot be written: {}\n  hint: {}; tasks not started stay "
                               "PENDING: free space (or fix the store) and run `xrun resume {}`",
                               store_error_->what, store_error_->hint.empty() ? "check the store" : store_error_->hint,
                               exp_.id())
                << std::endl;
      finish("store-error");
      return 1;
    }
    return finish("finished");
  }

 private:
  // A pool slot: a long-lived worker (`bash wrapper.sh --worker`) that runs one task at a time,
  // or, without bash, one `sh wrapper.sh TASK_DIR` process per task.
  struct Slot {
    run::Child worker;
    util::Fd to, from;  // task directories in; "S <pgid> <dir>" / "E <exit> <dir>" out
    std::string buf;
    run::Child oneshot;
    std::optional<size_t> task;
    long pgid = 0;
    double start = 0, term_at = 0;
    bool cancel_sent = false;
    bool busy() const { return task.has_value(); }
  };

  std::vector<size_t> stage_ids(size_t s) const {
    std::vector<size_t> ids;
    for (size_t i = 0; i < plan_.stages[s].tasks.size(); ++i)
      if (opts_.to_run.count(offsets_[s] + i)) ids.push_back(offsets_[s] + i);
    return ids;
  }

  void write_control(size_t id, const ControlRecord& c) {
    if (auto r = exp_.write_control(id, c); !r) store_failed(r.error());
  }

  // The store cannot be written (full disk, lost mount): start nothing more, let the running
  // tasks end, and say it once, with what to do.
  void store_failed(const Error& e) {
    if (!store_error_) store_error_ = e;
  }

  // A decision about a task that will not start now: it is a new attempt of its own, so an
  // earlier attempt's files (resume) are archived first and never mixed with it.
  void decide(size_t id, const ControlRecord& c) {
    spdlog::debug("task {}: {} ({})", id, c.state, c.reason);
    if (auto r = exp_.archive_attempt(id); !r) store_failed(r.error());
    write_control(id, c);
  }

  // Re-read cancel requests when the cancel folder changed (one stat per loop).
  void refresh_cancel(bool force = false) {
    struct stat st {};
    long long stamp = 0;
    if (::stat(exp_.path("cancel").c_str(), &st) == 0)
      stamp = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    if (!force && stamp == cancel_stamp_) return;
    cancel_stamp_ = stamp;
    cancelled_ = exp_.cancelled();
  }

  // A task cancelled after it was handed to a worker but before its wrapper recorded the start
  // (so `xrun cancel` saw it PENDING): stop it here. Cancelling one the wrapper already recorded
  // is `xrun cancel`'s own job; signalling twice is harmless.
  void stop_cancelled() {
    for (auto& s : slots_)
      if (s.busy() && !s.cancel_sent && cancelled_.count(*s.task)) {
        signal_task(s, SIGTERM);
        s.cancel_sent = true;
      }
  }

  size_t busy() const {
    size_t n = adopted_.size();
    for (const auto& s : slots_) n += s.busy();
    return n;
  }

  // Returns false when interrupted.
  bool run_stage(size_t s, const std::vector<size_t>& ids) {
    stage_ = s;
    stage_start_ = util::now_seconds();
    std::deque<size_t> queue(ids.begin(), ids.end());
    stage_total_ = ids.size();
    done_ = failed_ = 0;
    for (;;) {
      refresh_cancel();
      stop_cancelled();
      if (store_error_) queue.clear();  // start nothing more
      for (auto& slot : slots_) {
        while (!slot.busy() && !queue.empty() && busy() < slots_.size() && !store_error_) {
          size_t id = queue.front();
          queue.pop_front();
          start_task(slot, id);
        }
      }
      if (queue.empty() && busy() == 0) return true;
      prepare_ahead(queue);
      int sig = wait_events(next_wakeup());
      if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
        interrupt_signal_ = sig;
        pending_after_interrupt_ = std::vector<size_t>(queue.begin(), queue.end());
        return false;
      }
      enforce_walltime();
      kill_doomed(false);
      poll_adopted();
      progress();
    }
  }

  // Write the scripts of the next queued tasks while the workers are busy, so that handing a
  // task to a worker that just finished is a single write.
  void prepare_ahead(const std::deque<size_t>& queue) {
    size_t want = slots_.size();
    for (size_t k = 0; k < queue.size() && prepared_.size() < want; ++k) {
      size_t id = queue[k];
      if (prepared_.count(id) || cancelled_.count(id)) continue;
      auto [s, i] = store::locate(plan_, id);
      const auto& task = plan_.stages[s].tasks[i];
      if (opts_.resume || (opts_.skip_existing && (task.creates || task.requires_))) break;  // decided at start time
      auto r = run::prepare_task(exp_, plan_, meta_, id);
      if (!r) {
        store_failed(r.error());
        break;
      }
      prepared_.insert(id);
    }
  }

  bool spawn_worker(Slot& slot) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return false;
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return false;
    }
    util::Fd in_r(in[0]), out_w(out[1]);
    slot.to.reset(in[1]);
    slot.from.reset(out[0]);
    ::fcntl(slot.from.get(), F_SETFL, O_NONBLOCK);
    run::Child::Spawn sp;
    sp.argv = worker_argv_;
    sp.stdin_fd = in_r.get();
    sp.stdout_fd = out_w.get();
    sp.stderr_path = exp_.path("workers.log");
    sp.child_mask = &sigs_.old_mask();
    auto c = run::Child::spawn(sp);
    if (!c) {
      spdlog::error("{}", c.error().what);
      slot.to.reset();
      slot.from.reset();
      return false;
    }
    slot.worker = std::move(c.value());
    slot.buf.clear();
    return true;
  }

  void start_task(Slot& slot, size_t id) {
    if (cancelled_.count(id)) {
      count_done(id);
      return;
    }
    auto [s, i] = store::locate(plan_, id);
    const auto& task = plan_.stages[s].tasks[i];
    // A wrapper from an earlier runner may still be running it (resume after a crash): adopt it.
    if (opts_.resume) {
      store::TaskStatus cur = exp_.status_of(id);
      if (cur.state == State::Running && cur.wrapper_alive) {
        spdlog::debug("task {}: adopted (its wrapper from an earlier runner still runs it)", id);
        adopted_.push_back(id);
        return;
      }
    }
    if (opts_.skip_existing && task.creates && util::exists(util::join(workdir_, *task.creates))) {
      decide(id, {"SKIPPED", fmt::format("{} {}", run::kCreatesExists, *task.creates)});
      count_done(id);
      return;
    }
    // `requires` is informational, as in experi, unless --skip-existing/--use-dependencies.
    if (opts_.skip_existing && task.requires_ && !util::exists(util::join(workdir_, *task.requires_))) {
      decide(id, {"SKIPPED", fmt::format("required file {} does not exist", *task.requires_)});
      count_done(id);
      return;
    }
    if (!prepared_.erase(id)) {
      auto attempt = run::prepare_task(exp_, plan_, meta_, id);
      if (!attempt) {
        store_failed(attempt.error());
        return;  // not started: it stays PENDING for `xrun resume`
      }
    }
    slot.start = util::now_seconds();
    slot.term_at = 0;
    slot.pgid = 0;
    slot.cancel_sent = false;
    spdlog::debug("task {}: start ({}/{}) in slot {}", id, plan_.stages[s].name, i, &slot - slots_.data());
    if (!worker_argv_.empty()) {
      std::string line = exp_.task_dir(id) + "\n";
      for (int tries = 0; tries < 2; ++tries) {
        if (!slot.worker.running() && !spawn_worker(slot)) break;
        if (::write(slot.to.get(), line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
          slot.task = id;
          return;
        }
        slot.to.reset();  // the worker is gone: start another one
        slot.from.reset();
        slot.worker.kill_group(SIGKILL);
        slot.worker = run::Child();
      }
      write_control(id, {"LOST", "could not start a local worker process"});
      count_done(id);
      return;
    }
    run::Child::Spawn sp;
    sp.argv = run::wrapper_argv(exp_, id);
    sp.stdout_path = exp_.task_dir(id) + "/wrapper.log";
    sp.child_mask = &sigs_.old_mask();
    auto child = run::Child::spawn(sp);
    if (!child) {
      spdlog::error("task {}: {}", id, child.error().what);
      write_control(id, {"LOST", child.error().what});
      count_done(id);
      return;
    }
    slot.oneshot = std::move(child.value());
    slot.pgid = slot.oneshot.pid();
    slot.task = id;
  }

  // `rc`: the exit code the worker reported, when it did.
  void task_ended(Slot& slot, std::optional<int> rc = std::nullopt) {
    if (!slot.task) return;
    size_t id = *slot.task;
    slot.task.reset();
    slot.pgid = 0;
    spdlog::trace("task {}: ended{}", id, rc ? fmt::format(" with exit code {}", *rc) : std::string(" (worker gone)"));
    durations_ += util::now_seconds() - slot.start;
    ++timed_;
    if (rc && *rc == 0 && slot.term_at == 0) {
      ++done_;  // succeeded: nothing to read back
      return;
    }
    count_done(id);
  }

  // Wait for worker output or a signal; returns a terminating signal number, else 0.
  int wait_events(double seconds) {
    std::vector<pollfd> fds;
    fds.push_back({sigfd_.get(), POLLIN, 0});
    std::vector<Slot*> owners{nullptr};
    for (auto& slot : slots_)
      if (slot.from.valid()) {
        fds.push_back({slot.from.get(), POLLIN, 0});
        owners.push_back(&slot);
      }
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(seconds * 1000) + 1);
    if (n <= 0) return 0;
    int term = 0;
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si{};
      while (::read(sigfd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGCHLD) reap();
        else term = sig;
      }
    }
    for (size_t k = 1; k < fds.size(); ++k)
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) read_worker(*owners[k]);
    return term;
  }

  void read_worker(Slot& slot) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(slot.from.get(), buf, sizeof buf);
      if (n > 0) {
        slot.buf.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      // EOF: the worker is gone. Whatever it was running is resolved from the store.
      slot.from.reset();
      slot.to.reset();
      task_ended(slot);
      break;
    }
    size_t nl;
    while ((nl = slot.buf.find('\n')) != std::string::npos) {
      std::string line = slot.buf.substr(0, nl);
      slot.buf.erase(0, nl + 1);
      if (line.size() > 2 && line[0] == 'S') slot.pgid = std::atol(line.c_str() + 2);
      else if (line.size() > 2 && line[0] == 'E') task_ended(slot, std::atoi(line.c_str() + 2));
    }
  }

  void reap() {
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      for (auto& slot : slots_) {
        if (slot.worker.pid() == pid) slot.worker.mark_reaped(status);
        if (slot.oneshot.pid() == pid) {
          slot.oneshot.mark_reaped(status);
          task_ended(slot);
        }
      }
    }
  }

  // Signal a slot's task: its process group once known, else the worker (which forwards it).
  void signal_task(Slot& slot, int sig) {
    long group = slot.oneshot.running() ? slot.oneshot.pid() : slot.pgid;
    if (slot.oneshot.running()) slot.oneshot.kill_group(sig);
    else if (slot.pgid > 0) ::kill(static_cast<pid_t>(-slot.pgid), sig);
    else if (slot.worker.running()) ::kill(slot.worker.pid(), sig);
    // A group asked to stop gets SIGKILL once the grace is over, even if its leader has
    // already exited: a member that ignores SIGTERM must not survive its task.
    if (sig != SIGKILL && group > 0) doomed_.push_back({group, util::now_seconds() + set_.kill_grace});
  }

  // SIGKILL the groups whose grace is over (all of them with `now_all`); forget the gone ones.
  void kill_doomed(bool now_all) {
    double now = util::now_seconds();
    for (auto it = doomed_.begin(); it != doomed_.end();) {
      if (::kill(static_cast<pid_t>(-it->first), 0) != 0 && errno == ESRCH) {
        it = doomed_.erase(it);
      } else if (now_all || now >= it->second) {
        ::kill(static_cast<pid_t>(-it->first), SIGKILL);
        it = doomed_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Before the runner ends: the groups still in their grace are waited for, then killed.
  void settle_doomed() {
    while (!doomed_.empty()) {
      double next = doomed_.front().second;
      for (const auto& d : doomed_) next = std::min(next, d.second);
      wait_events(std::max(0.01, std::min(0.2, next - util::now_seconds())));
      kill_doomed(false);
    }
  }

  double next_wakeup() const {
    double wake = adopted_.empty() ? 1.0 : 0.2;
    for (const auto& d : doomed_) wake = std::min(wake, std::max(0.01, d.second - util::now_seconds()));
    if (set_.walltime > 0) {
      double now = util::now_seconds();
      for (const auto& s : slots_) {
        if (!s.busy()) continue;
        double due = s.term_at > 0 ? s.term_at + set_.kill_grace : s.start + set_.walltime;
        wake = std::min(wake, std::max(0.01, due - now));
      }
    }
    return wake;
  }

  void enforce_walltime() {
    if (set_.walltime <= 0) return;
    double now = util::now_seconds();
    for (auto& s : slots_) {
      if (!s.busy()) continue;
      if (s.term_at == 0 && now - s.start >= set_.walltime) {
        write_control(*s.task, {"TIMEOUT", fmt::format("walltime of {} exceeded", util::human_duration(set_.walltime))});
        signal_task(s, SIGTERM);
        s.term_at = now;
      } else if (s.term_at > 0 && now - s.term_at >= set_.kill_grace) {
        signal_task(s, SIGKILL);
      }
    }
  }

  void poll_adopted() {
    for (auto it = adopted_.begin(); it != adopted_.end();) {
      store::TaskStatus t = exp_.status_of(*it);
      if (t.state == State::Running && t.wrapper_alive) {
        ++it;
        continue;
      }
      count_done(*it);
      it = adopted_.erase(it);
    }
  }

  void count_done(size_t id) {
    ++done_;
    store::TaskStatus t = exp_.status_of(id, cancelled_.count(id) > 0);
    if (!run::satisfied(t)) ++failed_;
  }

  void progress() {
    if (opts_.quiet) return;
    double now = util::now_seconds();
    if (!tty_ && now - last_line_ < 5) return;
    if (tty_ && now - last_line_ < 0.2) return;
    last_line_ = now;
    // ETA from the durations of the tasks that ran: the ones not started yet go through the
    // slots in waves of the mean duration, after what the running ones still need.
    std::string eta = "-";
    if (timed_ > 0 && done_ < stage_total_) {
      double mean = durations_ / static_cast<double>(timed_);
      size_t running = busy();
      size_t queued = stage_total_ > done_ + running ? stage_total_ - done_ - running : 0;
      double left = 0;
      for (const auto& s : slots_)
        if (s.busy()) left = std::max(left, mean - (now - s.start));
      double waves = std::ceil(static_cast<double>(queued) / static_cast<double>(slots_.size()));
      eta = util::human_duration(std::max(0.0, left) + waves * mean);
    }
    std::string line = fmt::format("[stage {}/{} {}] {}/{} done, {} failed, {} running, elapsed {}, ETA {}", stage_ + 1,
                                   plan_.stages.size(), plan_.stages[stage_].name, done_, stage_total_, failed_, busy(),
                                   util::human_duration(now - start_), eta);
    if (tty_) {
      // Never wrap: a wrapped line cannot be redrawn in place.
      size_t width = run::terminal_width(2);
      if (line.size() >= width) line.resize(width > 1 ? width - 1 : 0);
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      progress_shown_ = true;
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  }

  void clear_progress() {
    if (tty_ && progress_shown_) {
      std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
      progress_shown_ = false;
    }
  }

  // Close the workers' input (they exit once idle) and wait a little for them.
  void stop_workers(double seconds) {
    for (auto& s : slots_) s.to.reset();
    double until = util::now_seconds() + seconds;
    auto any = [&] {
      for (auto& s : slots_)
        if (s.worker.running() || s.oneshot.running()) return true;
      return false;
    };
    while (any() && util::now_seconds() < until) wait_events(0.05);
  }

  int interrupted() {
    clear_progress();
    int sig = interrupt_signal_;
    std::string why = fmt::format("interrupted by {}", signal_name(sig));
    if (!opts_.quiet) std::fprintf(stderr, "xrun: %s: stopping %zu running task(s)\n", why.c_str(), busy());
    for (auto& s : slots_) {
      if (!s.busy()) continue;
      write_control(*s.task, {"CANCELLED", why});
      signal_task(s, SIGTERM);
    }
    // Tasks that will now never start.
    std::vector<size_t> never = pending_after_interrupt_;
    for (size_t s = stage_ + 1; s < plan_.stages.size(); ++s)
      for (size_t id : stage_ids(s)) never.push_back(id);
    for (size_t id : never)
      if (!cancelled_.count(id)) decide(id, {"CANCELLED", why + " before it started"});
    // Grace, then SIGKILL. A second signal cuts the grace short.
    for (auto& s : slots_) s.to.reset();
    double until = util::now_seconds() + set_.kill_grace;
    while (busy() > adopted_.size() && util::now_seconds() < until) {
      int again = wait_events(0.1);
      if (again == SIGINT || again == SIGTERM || again == SIGHUP) break;
    }
    for (auto& s : slots_)
      if (s.busy()) signal_task(s, SIGKILL);
    kill_doomed(true);
    stop_workers(2.0);
    finish("interrupted");
    return 130;
  }

  int finish(const std::string& state) {
    clear_progress();
    auto statuses = exp_.statuses(plan_);
    bool all_ok = std::all_of(statuses.begin(), statuses.end(), [](const store::TaskStatus& t) { return run::satisfied(t); });
    run::write_summary(exp_, plan_, statuses);
    json r = exp_.runner().value_or(json::object());
    r["state"] = state;
    r["ended"] = util::now_seconds();
    r["exit_code"] = state == "interrupted" ? 130 : (all_ok ? 0 : 1);
    (void)exp_.write_runner(r);  // a full store was reported already
    if (!opts_.quiet) run::print_summary(std::cerr, exp_, plan_, statuses, util::now_seconds() - start_);
    return state == "interrupted" ? 130 : (all_ok ? 0 : 1);
  }

  const store::Experiment& exp_;
  const plan::Plan& plan_;
  const json& meta_;
  const RunOptions& opts_;
  const LocalSettings& set_;
  const run::SignalBlocker& sigs_;
  std::vector<size_t> offsets_;
  std::string workdir_;
  std::vector<std::string> worker_argv_;
  std::vector<Slot> slots_;
  util::Fd sigfd_;
  std::list<size_t> adopted_;
  std::vector<std::pair<long, double>> doomed_;  // (process group, when to SIGKILL it)
  std::set<size_t> prepared_;
  std::optional<Error> store_error_;
  std::set<size_t> cancelled_;
  long long cancel_stamp_ = -1;
  std::vector<size_t> pending_after_interrupt_;
  int interrupt_signal_ = 0;
  size_t stage_ = 0, stage_total_ = 0, done_ = 0, failed_ = 0, timed_ = 0;
  double durations_ = 0;  // summed durations of the tasks this runner saw end
  double start_ = 0, stage_start_ = 0, last_line_ = 0;
  bool tty_ = false, progress_shown_ = false;
};

}  // namespace

int run_local_pool(const store::Experiment& exp, const plan::Plan& p, const json& meta, const RunOptions& opts,
                   const LocalSettings& settings) {
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP, SIGCHLD});
  // Orphaned grandchildren of tasks are re-parented to us and reaped by the pool's waitpid,
  // even where PID 1 does not reap (containers).
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::setenv("XRUN_HOST", util::hostname().c_str(), 1);  // the wrappers need not ask uname
  ::signal(SIGPIPE, SIG_IGN);  // a vanished worker is an error code, not our death
  auto lock = store::RunnerLock::acquire(exp);
  if (!lock) {
    std::cerr << "xrun: error: " << lock.error().what << "\n  hint: " << lock.error().hint << std::endl;
    return 2;
  }
  json r{{"backend", "local"},
         {"pid", ::getpid()},
         {"host", util::hostname()},
         {"started", util::now_seconds()},
         {"state", "running"},
         {"jobs", settings.jobs},
         {"detached", opts.detach},
         {"resume", opts.resume}};
  if (auto w = exp.write_runner(r); !w) {
    std::cerr << "xrun: error: " << w.error().what << std::endl;
    return 1;
  }
  Pool pool(exp, p, meta, opts, settings, sigs);
  return pool.run();
}

Result<int> LocalBackend::launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                 const RunOptions& opts) {
  auto settings = local_settings(run::merged_options(meta, "local"), opts);
  if (!settings) return settings.error();
  if (!opts.detach) return run_local_pool(exp, p, meta, opts, settings.value());

  // Detached: a child in its own session runs the pool; its output goes to runner.log.
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) return make_error(fmt::format("cannot start a background runner: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setsid();
    // Only 0, 1 and 2 stay open (dup2 clears close-on-exec on them): nothing leaks into tasks.
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log = ::open(exp.path("runner.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      if (devnull > 2) ::close(devnull);
    }
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
      if (log > 2) ::close(log);
    }
    RunOptions o = opts;
    o.quiet = false;  // the log gets plain progress lines and the summary
    int code = run_local_pool(exp, p, meta, o, settings.value());
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(code);
  }
  // Wait until the background runner holds the lock, so `status` right after sees it alive.
  for (int i = 0; i < 100 && !exp.runner_alive(); ++i) ::usleep(10000);
  return 0;
}

Result<void> LocalBackend::dry_run(std::ostream& os, const spec::Spec& sp, const plan::Plan& p, const RunOptions& opts) {
  json merged = sp.options_for("local");
  auto settings = local_settings(merged, opts);
  if (!settings) return settings.error();
  os << fmt::format("backend local: {} parallel task(s){}\n", settings->jobs,
                    settings->walltime > 0 ? fmt::format(", walltime {}", util::human_duration(settings->walltime)) : "");
  return {};
}

Result<void> LocalBackend::cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                  const std::vector<store::TaskStatus>& tasks) {
  static const std::string here = util::hostname();
  std::vector<long> groups;
  std::vector<std::string> elsewhere;
  for (const auto& t : tasks) {
    if (t.state != State::Running || t.pid <= 0) continue;
    if (!t.host.empty() && t.host != here) {
      elsewhere.push_back(fmt::format("{} on {}", t.id, t.host));
      continue;
    }
    if (::kill(static_cast<pid_t>(-t.pid), SIGTERM) == 0) groups.push_back(t.pid);
  }
  double grace = 5;
  if (auto s = local_settings(run::merged_options(meta, "local"), RunOptions{})) grace = s->kill_grace;
  // Wait until each wrapper has recorded its end (or is gone), then SIGKILL whatever is left
  // of the groups: children that ignored SIGTERM. Zombies are not waited for.
  double until = util::now_seconds() + grace;
  auto finished = [&](long pg) {
    for (const auto& t : tasks)
      if (t.pid == pg) {
        auto now = exp.status_of(t.id);
        return now.state != State::Running;
      }
    return true;
  };
  std::vector<long> waiting = groups;
  while (!waiting.empty() && util::now_seconds() < until) {
    waiting.erase(std::remove_if(waiting.begin(), waiting.end(), finished), waiting.end());
    if (!waiting.empty()) ::usleep(20000);
  }
  for (long pg : groups) ::kill(static_cast<pid_t>(-pg), SIGKILL);
  if (!elsewhere.empty())
    return make_error(fmt::format("cannot stop tasks running on other hosts: {}", fmt::join(elsewhere, ", ")),
                      "run `xrun cancel` on those hosts; the tasks are marked cancelled and will not be rerun");
  return {};
}

}  // namespace xrun::backend
