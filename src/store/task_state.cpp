#include "xrun/store/task_state.hpp"

#include <signal.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "xrun/util/text.hpp"

namespace xrun::store {

namespace {

const std::vector<std::pair<State, const char*>> kStateNames = {
    {State::Pending, "PENDING"},   {State::Running, "RUNNING"},     {State::Succeeded, "SUCCEEDED"},
    {State::Failed, "FAILED"},     {State::Timeout, "TIMEOUT"},     {State::Cancelled, "CANCELLED"},
    {State::Skipped, "SKIPPED"},   {State::Lost, "LOST"},           {State::OutOfMemory, "OUT_OF_MEMORY"}};

// key=value lines -> map (tolerant: unknown keys and junk lines are ignored)
std::map<std::string, std::string> parse_kv(const std::string& text) {
  std::map<std::string, std::string> kv;
  for (const auto& line : util::split(text, '\n')) {
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

using util::parse_long;

double to_double(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  return end == s.c_str() ? 0 : v;
}

using Phase = SchedulerView::Phase;

bool active(const Boxed<SchedulerView>& v) {
  return v && (v->phase == Phase::Queued || v->phase == Phase::Running);
}

// The scheduler's state and reason as `status` shows them.
std::string scheduler_words(const SchedulerView& v) {
  return v.reason.empty() || v.reason == "None" ? v.state : fmt::format("{} ({})", v.state, v.reason);
}

// The scheduler ended the job as TIMEOUT or CANCELLED: its verdict.
std::optional<ControlRecord> scheduler_verdict(const TaskFacts& f) {
  if (!f.scheduler || f.scheduler->phase != Phase::Ended) return std::nullopt;
  const auto& v = *f.scheduler;
  if (v.ended_as == SchedulerView::EndedAs::Timeout)
    return ControlRecord{"TIMEOUT", fmt::format("{}'s time limit was reached", v.name)};
  if (v.ended_as == SchedulerView::EndedAs::OutOfMemory)
    return ControlRecord{"OUT_OF_MEMORY", fmt::format("{} killed it for using more memory than its job asked for", v.name)};
  if (v.ended_as == SchedulerView::EndedAs::Cancelled && !f.cancel_requested)
    return ControlRecord{"CANCELLED", fmt::format("cancelled in {} (outside xrun)", v.name)};
  return std::nullopt;
}

}  // namespace

const char* to_string(State s) {
  for (const auto& [st, name] : kStateNames)
    if (st == s) return name;
  return "?";
}

std::optional<State> parse_state(const std::string& s) {
  for (const auto& [st, name] : kStateNames)
    if (s == name) return st;
  return std::nullopt;
}

const std::vector<State>& all_states() {
  static const std::vector<State> v = {State::Pending,   State::Running,   State::Succeeded,
                                       State::Failed,    State::Timeout,   State::Cancelled,
                                       State::Skipped,   State::Lost,      State::OutOfMemory};
  return v;
}

bool is_final(State s) { return s != State::Pending && s != State::Running; }

bool is_failure(State s) {
  return s == State::Failed || s == State::Timeout || s == State::Lost || s == State::OutOfMemory;
}

std::optional<WrapperRecord> parse_wrapper_record(const std::string& text) {
  auto kv = parse_kv(text);
  // A record counts only once complete: the wrapper ends each with `written=1`.
  if (!kv.count("state") || kv["written"] != "1") return std::nullopt;
  WrapperRecord w;
  w.state = kv["state"];
  if (auto v = parse_long(kv["exit"])) w.exit_code = static_cast<int>(*v);
  if (auto v = parse_long(kv["signal"]); v && *v > 0) w.signal = static_cast<int>(*v);
  w.start = to_double(kv["start"]);
  w.end = to_double(kv["end"]);
  w.host = kv["host"];
  w.pid = parse_long(kv["pid"]).value_or(0);
  w.wrapper = parse_long(kv["wrapper"]).value_or(w.pid);
  w.attempt = static_cast<int>(parse_long(kv["attempt"]).value_or(1));
  if (auto v = parse_long(kv["pid_start"]); v && *v > 0) w.pid_start = static_cast<uint64_t>(*v);
  if (auto v = parse_long(kv["wrapper_start"]); v && *v > 0) w.wrapper_start = static_cast<uint64_t>(*v);
  w.boot = kv["boot"];
  w.got = kv["got"];
  w.resources = kv["resources"];
  return w;
}

std::optional<ControlRecord> parse_control_record(const std::string& text) {
  auto kv = parse_kv(text);
  if (!kv.count("state")) return std::nullopt;
  return ControlRecord{kv["state"], kv["reason"]};
}

std::optional<ReuseSource> parse_reused_reason(const std::string& reason) {
  if (!util::starts_with(reason, kReusedFrom)) return std::nullopt;
  std::string rest = reason.substr(std::string(kReusedFrom).size());
  size_t slash = rest.rfind('/');
  if (slash == std::string::npos || slash == 0) return std::nullopt;
  ReuseSource s;
  s.exp = rest.substr(0, slash);
  auto num = std::string_view(rest).substr(slash + 1);
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), s.task);
  if (ec != std::errc() || end != num.data() + num.size()) return std::nullopt;
  return s;
}

std::string format_control_record(const ControlRecord& c) {
  std::string reason = c.reason;
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  return fmt::format("state={}\nreason={}\n", c.state, reason);
}

bool needs_reread(const TaskFacts& f) {
  if (f.record && f.record->final()) return false;
  if (f.liveness == Liveness::Gone) return true;
  return f.scheduler && (f.scheduler->phase == Phase::Ended || f.scheduler->phase == Phase::Gone);
}

Decision decide(const TaskFacts& f) {
  Decision d;
  TaskStatus& t = d.status;
  t.id = f.id;
  t.stage = f.stage;
  t.index = f.index;
  const auto& w = f.record;
  const std::string cstate = f.control ? f.control->state : "";
  if (w) {
    t.exit_code = w->exit_code;
    t.signal = w->signal;
    t.start = w->start;
    t.end = w->end;
    t.host = w->host;
    t.pid = w->pid;
    t.attempt = w->attempt;
  }
  if (active(f.scheduler)) t.backend_state = scheduler_words(*f.scheduler);
  auto set = [&](State s, std::string reason) {
    t.state = s;
    t.reason = std::move(reason);
  };
  // The scheduler's verdict, persisted at once; it is also the state.
  auto take_verdict = [&](const ControlRecord& v) {
    d.verdict = v;
    set(v.state == "TIMEOUT"         ? State::Timeout
        : v.state == "CANCELLED"     ? State::Cancelled
        : v.state == "OUT_OF_MEMORY" ? State::OutOfMemory
                                     : State::Lost,
        v.reason);
  };
  // A task that was stopped: the recorded reason (walltime, cancel), else `fallback`.
  auto stopped_as = [&](State fallback, const std::string& fallback_reason) {
    if (cstate == "TIMEOUT") set(State::Timeout, f.control->reason.empty() ? "walltime exceeded" : f.control->reason);
    else if (cstate == "OUT_OF_MEMORY") set(State::OutOfMemory, f.control->reason);
    else if (f.cancel_requested || cstate == "CANCELLED")
      set(State::Cancelled, cstate == "CANCELLED" && !f.control->reason.empty() ? f.control->reason : "cancelled");
    else set(fallback, fallback_reason);
  };
  const bool requeued = f.scheduler && f.scheduler->phase == Phase::Queued;

  // 1. The wrapper recorded the task's end.
  if (w && w->final()) {
    const bool killed = w->killed();
    // Stopped at its time limit, it trapped the signal and ended with its own code (a
    // checkpoint, then exit 0 or 3): TIMEOUT wins, its code in the reason. Known from the
    // runner's decision made before it sent the signal (local walltime), or from the scheduler
    // when the wrapper got a stopping signal (Slurm's time limit).
    if (!killed) {
      const std::string own = fmt::format(" (the task then ended with its own exit code {})", w->exit_code.value_or(-1));
      if (cstate == "TIMEOUT" && !f.cancel_requested) {
        const std::string& why = f.control->reason;
        set(State::Timeout, (why.empty() ? "walltime exceeded" : why) +
                                (why.find("its own exit code") == std::string::npos ? own : ""));
        return d;
      }
      if (!w->got.empty() && cstate.empty())
        if (auto v = scheduler_verdict(f); v && v->state == "TIMEOUT") {
          v->reason += own;
          take_verdict(*v);
          return d;
        }
    }
    if (w->state == "SUCCEEDED") {
      t.state = State::Succeeded;
      if (cstate == "REUSED") t.reason = f.control->reason;  // "reused from EXP/TASK": it never ran here
      return d;
    }
    // Killed, and the scheduler queues the job again (requeued after a node failure or a
    // preemption): it will run again; the killed run is not its end.
    if (killed && requeued && !f.cancel_requested && cstate.empty()) {
      set(State::Pending, fmt::format("requeued by {}", f.scheduler->name));
      return d;
    }
    // ... or already runs it again, before the new run's wrapper replaced the record.
    if (killed && f.scheduler && f.scheduler->phase == Phase::Running && f.scheduler->state == "RUNNING" &&
        !f.cancel_requested && cstate.empty()) {
      set(State::Running, fmt::format("requeued by {}", f.scheduler->name));
      return d;
    }
    // Killed because a decision left it out (an early stop cancelled it as it was starting).
    if (killed && cstate == "SKIPPED" && !f.cancel_requested) {
      set(State::Skipped, f.control->reason);
      return d;
    }
    // Killed by the scheduler (time limit, a cancel outside xrun): its verdict is the truth.
    if (killed && cstate.empty())
      if (auto v = scheduler_verdict(f)) {
        take_verdict(*v);
        return d;
      }
    std::string why = w->signal ? fmt::format("killed by signal {}", *w->signal)
                                : fmt::format("exit code {}", w->exit_code.value_or(-1));
    stopped_as(State::Failed, why);
    return d;
  }

  // 2. The task started and has not recorded its end.
  if (w) {
    if (f.liveness == Liveness::Alive) {
      t.state = State::Running;
      t.wrapper_alive = true;
      return d;
    }
    if (f.scheduler) {
      if (requeued && !f.cancel_requested) {
        set(State::Pending, fmt::format("requeued by {}", f.scheduler->name));
        return d;
      }
      if (f.scheduler->phase == Phase::Running || f.scheduler->phase == Phase::Queued) {
        t.state = State::Running;
        return d;
      }
      if (f.cancel_requested || cstate == "TIMEOUT" || cstate == "CANCELLED" || cstate == "OUT_OF_MEMORY") {
        stopped_as(State::Lost, "");
        return d;
      }
      if (cstate == "LOST") {  // already decided
        set(State::Lost, f.control->reason);
        return d;
      }
      if (auto v = scheduler_verdict(f)) {
        take_verdict(*v);
        return d;
      }
      take_verdict({"LOST", fmt::format("{} job {} {} without a final task status{}", f.scheduler->name,
                                        f.scheduler->element,
                                        f.scheduler->phase == Phase::Gone ? "left the queue"
                                                                          : "ended " + f.scheduler->state,
                                        f.scheduler->log)});
      return d;
    }
    if (f.liveness == Liveness::Gone) {
      stopped_as(State::Lost, cstate == "LOST" && !f.control->reason.empty()
                                  ? f.control->reason
                                  : "the task's process is gone without a final status");
      return d;
    }
    // Nobody here can tell (another host, a scheduler that cannot be asked): a recorded
    // decision stands, else the task is taken as running.
    if (f.cancel_requested || cstate == "TIMEOUT" || cstate == "CANCELLED" || cstate == "OUT_OF_MEMORY") {
      stopped_as(State::Running, "");
      return d;
    }
    if (cstate == "LOST") {
      set(State::Lost, f.control->reason);
      return d;
    }
    t.state = State::Running;
    return d;
  }

  // 3. Never started (as far as its records tell).
  if (f.liveness == Liveness::Alive && !f.cancel_requested) {  // it is starting: the backend sees it
    t.state = State::Running;
    t.wrapper_alive = true;
    return d;
  }
  if (active(f.scheduler) && cstate != "CANCELLED" && cstate != "SKIPPED") {
    // A scheduler that queues or runs the job is more recent than a verdict of LOST. A cancel
    // requested but not yet carried out (scancel failed, or is on its way) is no verdict: the
    // job may still run, so it is not CANCELLED before the scheduler says it is over.
    t.state = f.scheduler->phase == Phase::Running ? State::Running : State::Pending;
    if (f.cancel_requested) t.reason = fmt::format("cancel requested; {} still has the job", f.scheduler->name);
    return d;
  }
  if (cstate == "SKIPPED") {
    set(State::Skipped, f.control->reason);
  } else if (cstate == "LOST") {
    set(State::Lost, f.control->reason);
  } else if (cstate == "TIMEOUT") {
    set(State::Timeout, f.control->reason.empty() ? "walltime exceeded" : f.control->reason);
  } else if (cstate == "OUT_OF_MEMORY") {
    set(State::OutOfMemory, f.control->reason);
  } else if (f.cancel_requested || cstate == "CANCELLED") {
    set(State::Cancelled,
        cstate == "CANCELLED" && !f.control->reason.empty() ? f.control->reason : "cancelled before it started");
  } else if (f.scheduler && f.scheduler->phase == Phase::NeverRuns) {
    set(State::Skipped, f.blocked.empty() ? "its dependency can never be satisfied" : f.blocked);
  } else if (f.scheduler && (f.scheduler->phase == Phase::Ended || f.scheduler->phase == Phase::Gone)) {
    if (auto v = scheduler_verdict(f)) {
      take_verdict(*v);
    } else if (!f.blocked.empty()) {
      set(State::Skipped, f.blocked);
    } else if (f.scheduler->phase == Phase::Gone && f.scheduler->log.empty()) {
      // Gone with no record and no log of its own: it never started, and the scheduler let go of
      // it (`scancel` of a pending element, which leaves the queue at once).
      take_verdict({"CANCELLED", fmt::format("{} job {} left the queue before it started", f.scheduler->name,
                                             f.scheduler->element)});
    } else {
      take_verdict({"LOST", fmt::format("{} job {} {} without a final task status{}", f.scheduler->name,
                                        f.scheduler->element,
                                        f.scheduler->phase == Phase::Gone ? "left the queue"
                                                                          : "ended " + f.scheduler->state,
                                        f.scheduler->log)});
    }
  } else {
    t.state = State::Pending;
  }
  return d;
}

}  // namespace xrun::store
