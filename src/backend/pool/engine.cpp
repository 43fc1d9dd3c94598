#include "xrun/backend/pool/engine.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <climits>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <deque>
#include <iostream>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "xrun/backend/observe.hpp"
#include "xrun/backend/options.hpp"
#include "xrun/backend/pool/deadlines.hpp"
#include "xrun/backend/pool/progress_line.hpp"
#include "xrun/backend/pool/resources.hpp"
#include "xrun/plan/stage_graph.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/clock.hpp"
#include "xrun/run/progress.hpp"
#include "xrun/run/report.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/spec/options.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend::pool {

using store::ControlRecord;
using store::State;

Result<Settings> settings(const json& opts, const RunOptions& run_opts) {
  Settings s;
  unsigned hw = std::thread::hardware_concurrency();
  s.jobs = hw > 0 ? static_cast<int>(hw) : 1;
  for (const auto& key : {"jobs", "max_parallel", "concurrency"}) {
    if (!opts.contains(key)) continue;
    auto n = options::whole_number(key, opts[key], 1, 100000, "e.g. `local: {jobs: 4}`");
    if (!n) return n.error();
    s.jobs = static_cast<int>(n.value());
  }
  if (opts.contains("walltime")) {
    auto w = options::duration("walltime", opts["walltime"]);
    if (!w) return w.error();
    s.walltime = w.value();
  }
  if (opts.contains("kill_grace")) {
    auto g = options::seconds("kill_grace", opts["kill_grace"], 0, 3600);
    if (!g) return g.error();
    s.kill_grace = g.value();
  }
  if (opts.contains("resources")) {
    auto r = options::resources(opts["resources"]);
    if (!r) return r.error();
    s.resources = r.value();
  }
  for (const auto& [name, ids] : run_opts.resources) s.resources[name] = ids;
  if (run_opts.jobs > 0) s.jobs = run_opts.jobs;
  return s;
}

Result<StageSettings> stage_settings(const json& stage_opts, const json& own) {
  StageSettings st;
  auto merged = settings(stage_opts, RunOptions{});
  if (!merged) return merged.error();
  st.walltime = merged->walltime;
  st.kill_grace = merged->kill_grace;
  // `jobs`/`max_parallel`/`concurrency` of the stage's own sections cap it (the top-level ones
  // are the pool's size).
  if (own.contains("jobs") || own.contains("max_parallel") || own.contains("concurrency")) {
    auto cap = settings(own, RunOptions{});
    if (!cap) return cap.error();
    st.max_parallel = cap->jobs;
  }
  return st;
}

Result<void> check_demand(const Settings& s, const std::vector<std::pair<std::string, int64_t>>& demand,
                          const std::string& section) {
  for (const auto& [name, n] : demand) {
    auto it = s.resources.find(name);
    if (it == s.resources.end())
      return make_error(fmt::format("the stage asks for resource '{}', which this machine does not declare", name),
                        fmt::format("declare it: `{}: {{resources: {{{}: [0, 1]}}}}` (ids) or `{{{}: 2}}` (a count), "
                                    "or --resources {}=0,1",
                                    section, name, name, name));
    if (static_cast<int64_t>(it->second.size()) < n)
      return make_error(fmt::format("the stage asks for {} '{}' per task, and only {} are declared", n, name,
                                    it->second.size()),
                        "ask for fewer, or declare more");
  }
  return {};
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

// The wrapper's exit code when it could not record the task's start (the store is full or
// unwritable): the task did not run.
constexpr int kCannotRecord = 75;

class Pool {
 public:
  Pool(PoolBackend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta, const RunOptions& opts,
       const Settings& s, std::vector<StageSettings> stage_settings,
       std::vector<std::unique_ptr<Launcher>> stage_launchers, const run::SignalBlocker& sigs)
      : backend_(b),
        launcher_(b.launcher()),
        exp_(exp),
        plan_(p),
        meta_(meta),
        opts_(opts),
        set_(s),
        sigs_(sigs),
        graph_(plan::StageGraph::of(p, opts.keep_going)),
        resources_(s.resources),
        stage_launchers_(std::move(stage_launchers)),
        progress_(opts.quiet) {
    workdir_ = meta.value("workdir", std::string("."));
    worker_argv_ = launcher_.worker_argv(exp_, meta.value("shell", std::string()));
    slots_.resize(static_cast<size_t>(std::max(1, set_.jobs)));
    sigfd_.reset(::signalfd(-1, &sigs_.blocked(), SFD_CLOEXEC | SFD_NONBLOCK));
    stages_.resize(p.stages.size());
    for (size_t i = 0; i < p.stages.size(); ++i) {
      stages_[i].set = i < stage_settings.size() ? stage_settings[i] : StageSettings{};
      setups_.push_back(run::setup_lines(meta, p, i));
    }
    for (size_t id : opts.to_run) ++stages_[store::locate(p, id).first].total;
  }

  // Runs the whole experiment; returns the exit code.
  int run() {
    start_ = clock_.now();
    exp_.remove_spares();  // an earlier runner's, if it was killed
    // A resume first takes over the tasks that a wrapper from an earlier runner still runs,
    // before anything is dispatched: they are watched (and stopped by signals and walltime),
    // never started a second time.
    if (opts_.resume) adopt_running();
    count_parents();
    for (;;) {
      refresh_cancel();
      stop_cancelled();
      open_stages();
      apply_early_stops();
      if (!store_error_) dispatch();
      if (close_stages()) continue;  // a stage ended: the ones waiting for it may open now
      if (all_done()) break;
      if (store_error_ && busy() == 0) break;
      prepare_ahead();
      fold_ended(false);  // once the free slots have their next tasks
      int sig = wait_events(next_wakeup());
      if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
        interrupt_signal_ = sig;
        return interrupted();
      }
      enforce_walltime();
      kill_doomed(false);
      poll_adopted();
      show_progress();
    }
    progress_.clear();
    settle_doomed();
    stop_workers(1.0);
    if (store_error_) {
      progress_.note(fmt::format("xrun: error: the run store cannot be written: {}\n  hint: {}; tasks not started stay "
                                 "PENDING: free space (or fix the store) and run `xrun resume {}`",
                                 store_error_->what, store_error_->hint.empty() ? "check the store" : store_error_->hint,
                                 exp_.id()),
                     true);
      finish("store-error");
      return 1;
    }
    return finish("finished");
  }

 private:
  // A pool slot: a long-lived worker that runs one task at a time, or one wrapper process per task.
  struct Slot {
    run::Child worker;
    util::Fd to, from;  // task ids in; "S <pgid> <id>" / "E <exit> <id>" out
    std::string buf;
    run::Child oneshot;
    std::optional<size_t> task;
    size_t stage = 0;
    // The tasks the worker starts, in this order, each as soon as the one before ends
    // (queue_task): at most kQueueDepth, counted as running.
    struct Queued {
      size_t id = 0, stage = 0;
    };
    std::deque<Queued> next;
    std::map<std::string, std::vector<size_t>> held;  // resource ids the task holds
    long pgid = 0;
    long orphan = 0;  // the worker died while this group's leader ran: the runner reaps it
    Deadline time;    // its start and walltime (deadlines.hpp)
    bool cancel_sent = false;
    // The one-shot process that started the task (a `docker run` client) ended while the task
    // runs on apart from it (its container): the slot and its resources stay held until it is
    // gone (poll_apart).
    bool client_gone = false;
    bool busy() const { return task.has_value(); }
  };
  // A task a wrapper from an earlier runner still runs (resume after a crash).
  struct Adopted {
    size_t id = 0;
    size_t stage = 0;
    long pgid = 0;
    Deadline time;  // from the start its wrapper recorded
    std::map<std::string, std::vector<size_t>> held;  // resource ids it still holds
    uint64_t leader_start = 0;  // when the group's leader (pid pgid) started; 0 = not recorded
  };
  // A stage as this runner drives it: waiting for the stages it needs, open (its tasks start as
  // they become ready), done.
  struct StageRun {
    enum class Phase { Waiting, Open, Done } phase = Phase::Waiting;
    StageSettings set;
    std::deque<size_t> ready;  // may start now
    std::set<size_t> waiting;  // wait for their own tasks of another stage (per_task)
    size_t running = 0;        // in slots or adopted
    size_t total = 0, done = 0, failed = 0;  // total: the stage's tasks this runner runs or watches
    bool did_fail = false;     // some task did not succeed (for its dependents)
    bool skipped = false;      // never ran: a stage it needs did not succeed
    std::string early_stop;    // once met
  };

  store::TaskStatus state_of(size_t id) {
    return observe_task(backend_, exp_, plan_, meta_, id, cancelled_.count(id) > 0);
  }
  size_t stage_of(size_t id) const { return store::locate(plan_, id).first; }
  // The id of task i of stage s; the task with this id (it is in the plan).
  size_t id_at(size_t s, size_t i) const { return plan_.stages[s].tasks[i].id; }
  const plan::Task& task_of(size_t id) const {
    auto w = plan_.find(id).value();
    return plan_.stages[w.stage].tasks[w.index];
  }
  const Launcher& launcher_for(size_t stage) const {
    return stage < stage_launchers_.size() && stage_launchers_[stage] ? *stage_launchers_[stage] : launcher_;
  }

  // The tasks of stage `s` this runner runs (an adopted task is already running).
  std::vector<size_t> stage_ids(size_t s) const {
    std::vector<size_t> ids;
    for (size_t i = 0; i < plan_.stages[s].tasks.size(); ++i)
      if (opts_.to_run.count(id_at(s, i)) && !adopted_ids_.count(id_at(s, i))) ids.push_back(id_at(s, i));
    return ids;
  }

  void adopt_running() {
    for (size_t id : opts_.to_run) {
      store::TaskStatus cur = state_of(id);
      if (cur.state == State::Running && cur.wrapper_alive) adopt(cur);
    }
  }

  // An adopted task's start on this runner's clock, taken once: from the boot-relative start
  // of its group's leader (recorded with the boot id: no wall-clock step moves it), else from
  // its wall-clock `start` as it is now.
  double adopted_start(const store::TaskStatus& t, uint64_t leader_start) const {
    if (leader_start > 0) return clock_.now() - std::max(0.0, run::boot_seconds() - run::ticks_to_seconds(leader_start));
    if (t.start > 0) return clock_.now() - std::max(0.0, util::now_seconds() - t.start);
    return clock_.now();
  }

  void adopt(const store::TaskStatus& t) {
    spdlog::debug("task {}: adopted (its wrapper from an earlier runner still runs it)", t.id);
    size_t s = stage_of(t.id);
    auto f = exp_.facts_of(t.id);
    const uint64_t leader_start = f.record && f.record->boot == run::boot_id() ? f.record->pid_start : 0;
    Deadline time;
    time.started(adopted_start(t, leader_start));
    adopted_.push_back({t.id, s, t.pid, time, resources_.retake(f.record ? f.record->resources : ""), leader_start});
    adopted_ids_.insert(t.id);
    ++stages_[s].running;
  }

  // Per-task dependencies: how many of its parents each task of this run still waits for (the
  // parents this runner runs or watches; the others have ended already).
  void count_parents() {
    for (size_t id : opts_.to_run) {
      size_t n = 0;
      for (const auto& ps : graph_.parents(id))
        for (size_t pt : ps.tasks)
          if (opts_.to_run.count(pt)) ++n;
      if (n > 0) open_parents_[id] = n;
    }
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

  bool all_done() const {
    for (const auto& st : stages_)
      if (st.phase != StageRun::Phase::Done) return false;
    return busy() == 0;
  }

  // Stages whose whole-stage dependencies have all ended open: their tasks become ready (or
  // wait for their own parents); a stage that can never run has its tasks SKIPPED.
  void open_stages() {
    for (size_t s : graph_.order()) {
      auto& st = stages_[s];
      if (st.phase != StageRun::Phase::Waiting) continue;
      bool can_open = true;
      for (const auto& need : graph_.needs(s))
        if (!need.per_task && stages_[need.stage].phase != StageRun::Phase::Done) can_open = false;
      if (!can_open) continue;
      std::vector<bool> failed(stages_.size()), skipped(stages_.size());
      for (size_t k = 0; k < stages_.size(); ++k) {
        failed[k] = stages_[k].did_fail;
        skipped[k] = stages_[k].skipped;
      }
      std::vector<size_t> ids = stage_ids(s);
      st.phase = StageRun::Phase::Open;
      if (std::string why = graph_.blocked(s, failed, skipped); !why.empty()) {
        refresh_cancel(true);
        spdlog::debug("stage '{}': {}; its tasks are skipped", plan_.stages[s].name, why);
        for (size_t id : ids)
          if (!cancelled_.count(id)) decide(id, {"SKIPPED", why});
        st.skipped = true;
        st.did_fail = !ids.empty();
        st.phase = st.running == 0 ? StageRun::Phase::Done : StageRun::Phase::Open;
        st.done = ids.size();
        for (size_t id : ids) release_children(id);  // their per-task children are decided too
        continue;
      }
      spdlog::debug("stage '{}': open ({} task(s))", plan_.stages[s].name, ids.size());
      // An early stop met before (a resume): the tasks of the stage that already succeeded.
      std::vector<size_t> before;
      for (size_t i = 0; i < plan_.stages[s].tasks.size(); ++i)
        if (!opts_.to_run.count(id_at(s, i))) before.push_back(id_at(s, i));
      st.early_stop = run::early_stop_reason(exp_, plan_.stages[s], before);
      for (size_t id : ids) {
        if (open_parents_.count(id)) st.waiting.insert(id);
        else make_ready(id);
      }
    }
  }

  // A task whose parents (per task) have all ended: SKIPPED when one that had to succeed did
  // not, else ready to start.
  void make_ready(size_t id) {
    size_t s = stage_of(id);
    auto& st = stages_[s];
    if (stopping_) return;  // interrupted: it stays waiting, and is recorded CANCELLED
    st.waiting.erase(id);
    std::string why = graph_.task_blocked(id, [&](size_t pt) { return run::parent_unusable(state_of(pt)); });
    if (why.empty()) {
      // (A parent this runner does not run, still unfinished: there is nothing to wait for.)
      st.ready.push_back(id);
      return;
    }
    if (!cancelled_.count(id)) decide(id, {"SKIPPED", why});
    task_settled(id);
  }

  // A task of this run has ended (or will never start): its children may become ready.
  // Fold the tasks this runner saw end into the index of finished tasks, in batches that grow
  // with the index (each fold rewrites it), and all of them at the end (`all`).
  // In small batches (a fold appends to the index): the folders of folded tasks that wrote
  // nothing become the spare folders of the next ones.
  void fold_ended(bool all) {
    if (ended_.empty() || (!all && ended_.size() < kFoldBatch)) return;
    auto r = exp_.fold(ended_, false, all ? nullptr : &recycle_, &spares_);
    if (!r) spdlog::debug("the index of finished tasks was not updated: {}", r.error().what);
    else folded_ += r.value();
    ended_.clear();
    recycle_.clear();
  }

  // A task that succeeded, wrote nothing and left no process behind in its group (none can still
  // write to its files): its folder may be reused once folded (fold_ended).
  void may_recycle(size_t id, long group) {
    if (group <= 0 || ::kill(static_cast<pid_t>(-group), 0) == 0 || errno != ESRCH) return;
    if (spares_.size() + recycle_.size() >= kMaxSpares) return;
    recycle_.insert(id);
  }

  void task_settled(size_t id) {
    size_t s = stage_of(id);
    ++stages_[s].done;
    ended_.push_back(id);
    store::TaskStatus t = state_of(id);
    if (!run::satisfied(t)) ++stages_[s].failed;
    // early_stopping: a finished task whose metrics meet a condition stops the stage.
    const auto& stage = plan_.stages[s];
    if (stages_[s].early_stop.empty() && t.state == State::Succeeded && !stage.early_stopping.empty()) {
      stages_[s].early_stop = run::early_stop_reason(exp_, stage, {id});
      if (!stages_[s].early_stop.empty()) spdlog::debug("stage '{}': {}", stage.name, stages_[s].early_stop);
    }
    release_children(id);
  }

  // `id` has ended (or will never start): the per-task children waiting only for it more are
  // ready (or skipped).
  void release_children(size_t id) {
    for (size_t child : graph_.children(id)) {
      auto it = open_parents_.find(child);
      if (it == open_parents_.end()) continue;
      if (--it->second > 0) continue;
      open_parents_.erase(it);
      if (stages_[stage_of(child)].waiting.count(child)) make_ready(child);
    }
  }

  // A stage that met its early_stopping: the tasks not started are left out.
  void apply_early_stops() {
    for (size_t s = 0; s < stages_.size(); ++s) {
      auto& st = stages_[s];
      if (st.early_stop.empty() || st.phase != StageRun::Phase::Open) continue;
      std::vector<size_t> left(st.ready.begin(), st.ready.end());
      left.insert(left.end(), st.waiting.begin(), st.waiting.end());
      st.ready.clear();
      st.waiting.clear();
      for (size_t id : left) {
        open_parents_.erase(id);
        if (!cancelled_.count(id)) decide(id, {"SKIPPED", st.early_stop});
        task_settled(id);
      }
    }
  }

  // Open stages with nothing left to start or watch are done; true when one was.
  bool close_stages() {
    bool closed = false;
    for (size_t s = 0; s < stages_.size(); ++s) {
      auto& st = stages_[s];
      if (st.phase != StageRun::Phase::Open || !st.ready.empty() || !st.waiting.empty() || st.running > 0) continue;
      closed = true;
      if (store_error_) {  // (nothing more starts; what is left stays PENDING)
        st.phase = StageRun::Phase::Done;
        st.did_fail = true;
        continue;
      }
      st.phase = StageRun::Phase::Done;
      if (!st.skipped)
        for (size_t i = 0; i < plan_.stages[s].tasks.size(); ++i)
          if (!run::satisfied(state_of(id_at(s, i)))) st.did_fail = true;
      spdlog::debug("stage '{}': done{}", plan_.stages[s].name, st.did_fail ? " (not all succeeded)" : "");
    }
    return closed;
  }

  // Fill free slots with ready tasks: stages in graph order (earlier stages first), each within
  // its own max_parallel, each task only when the resources it asks for are free.
  void dispatch() {
    for (auto& slot : slots_) {
      if (slot.busy() || busy() >= slots_.size()) continue;
      for (;;) {
        std::optional<size_t> pick;
        for (size_t s : graph_.order()) {
          auto& st = stages_[s];
          if (st.phase != StageRun::Phase::Open || st.ready.empty()) continue;
          if (st.set.max_parallel > 0 && st.running >= static_cast<size_t>(st.set.max_parallel)) continue;
          if (!resources_.fits(plan_.stages[s].resources)) continue;
          pick = st.ready.front();
          st.ready.pop_front();
          break;
        }
        if (!pick) return;
        if (start_task(slot, *pick)) break;  // else: decided without a slot; pick another
        if (store_error_ || busy() >= slots_.size()) return;  // (an adopted task counts)
      }
    }
    queue_next();
  }

  // Each worker that runs a task is handed its next one, which it starts as soon as the current
  // one ends, without a round trip through the runner (what xargs does): only tasks that need
  // nothing decided at their start (no resources, no max_parallel, no early_stopping, no
  // --skip-existing test; not a resume). Only while tasks are short (the round trip matters next
  // to them; a task queued behind a long one waits for it, and a cancelled one starts before it is
  // stopped) and while more tasks are ready than there are slots (the last ones go to whichever
  // slot frees first).
  bool queueable(size_t s) const {
    const auto& st = stages_[s];
    const auto& stage = plan_.stages[s];
    return st.phase == StageRun::Phase::Open && st.set.max_parallel == 0 && stage.resources.empty() &&
           stage.early_stopping.empty() && st.early_stop.empty();
  }
  void queue_next() {
    if (worker_argv_.empty() || opts_.resume || stopping_ || store_error_) return;
    if (timed_ < slots_.size() || recent_ > kQueueBelow) return;
    size_t ready = 0;
    for (size_t s = 0; s < stages_.size(); ++s)
      if (queueable(s)) ready += stages_[s].ready.size();
    for (auto& slot : slots_) {
      while (ready > slots_.size() && slot.busy() && slot.next.size() < kQueueDepth && !slot.orphan &&
             slot.worker.running() && slot.to.valid()) {
        std::optional<size_t> pick;
        for (size_t s : graph_.order()) {
          auto& st = stages_[s];
          if (!queueable(s) || st.ready.empty()) continue;
          const auto& task = task_of(st.ready.front());
          if (opts_.skip_existing && (task.creates || task.requires_)) continue;
          pick = st.ready.front();
          st.ready.pop_front();
          break;
        }
        if (!pick) return;
        --ready;
        if (!queue_task(slot, *pick)) return;
      }
    }
  }

  // False when nothing more is to be queued now.
  bool queue_task(Slot& slot, size_t id) {
    size_t s = stage_of(id);
    if (cancelled_.count(id)) {
      task_settled(id);
      return true;
    }
    auto ready = take_prepared(id);
    if (!ready) return false;  // not started: it stays PENDING for `xrun resume`
    std::string line = worker_message(id, *ready, {});
    if (line.size() > PIPE_BUF) {
      // The worker reads it only once its current task ends: a write that could not complete
      // at once would hold the runner up (a long script is handed over when a slot is free).
      prepared_.emplace(id, std::move(*ready));
      stages_[s].ready.push_front(id);
      return false;
    }
    if (util::write_fully(slot.to.get(), line) != 0) {
      stages_[s].ready.push_front(id);  // the worker is gone (its end is read next)
      slot.to.reset();
      return false;
    }
    spdlog::debug("task {}: queued ({}/{}) in slot {}", id, plan_.stages[s].name, task_of(id).index,
                  &slot - slots_.data() + 1);
    slot.next.push_back({id, s});
    ++stages_[s].running;
    return true;
  }

  // The current task ended: the first queued one is the slot's task now (its worker starts it now).
  void promote(Slot& slot) {
    if (slot.task || slot.next.empty()) return;
    slot.task = slot.next.front().id;
    slot.stage = slot.next.front().stage;
    slot.next.pop_front();
    slot.time.started(clock_.now());
    slot.pgid = 0;
    slot.orphan = 0;
    slot.cancel_sent = false;
    slot.held.clear();
    if (stopping_) {
      // Started while the runner was being interrupted (its worker had read it already).
      write_control(*slot.task, {"CANCELLED", interrupted_why_});
      signal_task(slot, SIGTERM);
      slot.cancel_sent = true;
    }
  }

  // A worker that is gone never starts its queued tasks: they are ready again, first in line.
  void unqueue(Slot& slot) {
    for (auto it = slot.next.rbegin(); it != slot.next.rend(); ++it) {
      --stages_[it->stage].running;
      stages_[it->stage].ready.push_front(it->id);
    }
    slot.next.clear();
  }

  // Write the scripts of the next ready tasks while the workers are busy, so that handing a
  // task to a worker that just finished is a single write.
  void prepare_ahead() {
    if (opts_.resume || store_error_) return;  // (decided at start time)
    size_t want = slots_.size();
    for (size_t s : graph_.order()) {
      for (size_t id : stages_[s].ready) {
        if (prepared_.size() >= want) return;
        if (prepared_.count(id) || cancelled_.count(id)) continue;
        const auto& task = task_of(id);
        if (opts_.skip_existing && (task.creates || task.requires_)) return;  // decided at start time
        auto r = run::prepare_task(exp_, plan_, meta_, id, &spares_, &setups_[stage_of(id)], !worker_argv_.empty());
        if (!r) {
          store_failed(r.error());
          return;
        }
        prepared_.emplace(id, std::move(r.value()));
      }
    }
  }

  // The task made ready earlier (prepare_ahead), else now; nothing when the store failed.
  std::optional<run::PreparedTask> take_prepared(size_t id) {
    if (auto it = prepared_.find(id); it != prepared_.end()) {
      run::PreparedTask t = std::move(it->second);
      prepared_.erase(it);
      return t;
    }
    auto r = run::prepare_task(exp_, plan_, meta_, id, &spares_, &setups_[stage_of(id)], !worker_argv_.empty());
    if (!r) {
      store_failed(r.error());
      return std::nullopt;
    }
    return std::move(r.value());
  }

  // What a worker is handed for a task (run/worker.hpp): "ID ATTEMPT LENGTH ENVLENGTH[<TAB>env]\n",
  // the script's LENGTH bytes (none: the task folder's cmd.sh), then its variables' ENVLENGTH bytes.
  static std::string worker_message(size_t id, const run::PreparedTask& t, const std::vector<std::string>& env) {
    std::string vars;
    for (const auto& e : t.env) (vars += e) += '\0';
    std::string m = fmt::format("{} {} {} {}", id, t.attempt, t.script.size(), vars.size());
    if (!env.empty()) m += fmt::format("\t{}", fmt::join(env, " "));
    m += '\n';
    m += t.script;
    m += vars;
    return m;
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
    sp.env = {slot_env(slot)};
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

  // XRUN_SLOT: the slot's number, 1 to -j (GNU parallel's {%}).
  std::string slot_env(const Slot& slot) const { return fmt::format("XRUN_SLOT={}", &slot - slots_.data() + 1); }

  // Returns true when the task now occupies the slot; false when it was decided without one
  // (cancelled, satisfied meanwhile, adopted, skipped, could not start).
  bool start_task(Slot& slot, size_t id) {
    size_t s = stage_of(id);
    if (cancelled_.count(id)) {
      task_settled(id);
      return false;
    }
    const auto& task = task_of(id);
    if (opts_.resume) {
      // Decided again now: a task that ended under an earlier runner's wrapper since the resume
      // looked is never run again, and one whose wrapper still runs is adopted.
      store::TaskStatus cur = state_of(id);
      if (run::satisfied(cur)) {
        spdlog::debug("task {}: {} meanwhile; not run again", id, store::to_string(cur.state));
        task_settled(id);
        return false;
      }
      if (cur.state == State::Running && cur.wrapper_alive) {
        adopt(cur);
        return false;
      }
    }
    // `creates` and `requires` are in the task's own working directory.
    const std::string& workdir = task.workdir.empty() ? workdir_ : task.workdir;
    if (opts_.skip_existing && task.creates && util::exists(util::join(workdir, *task.creates))) {
      decide(id, {"SKIPPED", fmt::format("{} {}", run::kCreatesExists, *task.creates)});
      task_settled(id);
      return false;
    }
    // `requires` is informational, as in experi, unless --skip-existing/--use-dependencies.
    if (opts_.skip_existing && task.requires_ && !util::exists(util::join(workdir, *task.requires_))) {
      decide(id, {"SKIPPED", fmt::format("required file {} does not exist", *task.requires_)});
      task_settled(id);
      return false;
    }
    auto ready = take_prepared(id);
    if (!ready) return false;  // not started: it stays PENDING for `xrun resume`
    slot.time.started(clock_.now());
    slot.pgid = 0;
    slot.orphan = 0;
    slot.cancel_sent = false;
    slot.stage = s;
    slot.held = resources_.take(plan_.stages[s].resources);
    std::vector<std::string> env = resources_.env(slot.held);
    spdlog::debug("task {}: start ({}/{}) in slot {}", id, plan_.stages[s].name, task_of(id).index,
                  &slot - slots_.data() + 1);
    if (!worker_argv_.empty()) {
      const std::string line = worker_message(id, *ready, env);
      for (int tries = 0; tries < 2; ++tries) {
        if (!slot.worker.running() && !spawn_worker(slot)) break;
        if (util::write_fully(slot.to.get(), line) == 0) {
          occupy(slot, id);
          return true;
        }
        slot.to.reset();  // the worker is gone: start another one
        slot.from.reset();
        slot.worker.kill_group(SIGKILL);
        slot.worker = run::Child();
      }
      resources_.give_back(slot.held);
      slot.held.clear();
      write_control(id, {"LOST", "could not start a local worker process"});
      task_settled(id);
      return false;
    }
    env.push_back(slot_env(slot));
    run::Child::Spawn sp;
    sp.argv = launcher_for(s).task_argv(exp_, id, util::absolute(workdir), env);
    sp.stdout_path = exp_.task_dir(id) + "/wrapper.log";
    sp.child_mask = &sigs_.old_mask();
    sp.env = env;
    auto child = run::Child::spawn(sp);
    if (!child) {
      spdlog::error("task {}: {}", id, child.error().what);
      resources_.give_back(slot.held);
      slot.held.clear();
      write_control(id, {"LOST", child.error().what});
      task_settled(id);
      return false;
    }
    slot.oneshot = std::move(child.value());
    slot.pgid = slot.oneshot.pid();
    occupy(slot, id);
    return true;
  }

  void occupy(Slot& slot, size_t id) {
    slot.task = id;
    ++stages_[slot.stage].running;
  }

  // `rc`: the exit code the worker reported, when it did.
  void task_ended(Slot& slot, std::optional<int> rc = std::nullopt) {
    if (!slot.task) return;
    size_t id = *slot.task;
    const long group = slot.pgid;
    const bool orphaned = slot.orphan != 0;
    slot.task.reset();
    slot.pgid = 0;
    slot.orphan = 0;
    resources_.give_back(slot.held);
    slot.held.clear();
    --stages_[slot.stage].running;
    spdlog::trace("task {}: ended{}", id, rc ? fmt::format(" with exit code {}", *rc) : std::string(" (worker gone)"));
    const double took = clock_.now() - slot.time.start;
    durations_ += took;
    ++timed_;
    recent_ = timed_ == 1 ? took : 0.8 * recent_ + 0.2 * took;
    if (rc && *rc == 0 && !slot.time.terminated() && plan_.stages[slot.stage].early_stopping.empty() &&
        graph_.children(id).empty()) {
      ++stages_[slot.stage].done;  // succeeded, and nothing waits for it: nothing to read back
      if (!orphaned) may_recycle(id, group);
      ended_.push_back(id);
      return;
    }
    if (rc && *rc == kCannotRecord) {
      // The wrapper could not reserve the task's records: it did not run the task.
      auto f = exp_.facts_of(id);
      if (!f.record)
        store_failed(runtime_error(fmt::format("task {} could not record its start in the run store", id),
                                   "the store is full or not writable"));
    } else if (rc && *rc != 0) {
      // Ended without the wrapper ever recording the start (`docker run` refused an option, the
      // image's sh is missing, ...): LOST, with what the launcher said.
      auto f = exp_.facts_of(id);
      // (Not a task stopped on purpose before it recorded its start: cancel, walltime, Ctrl-C.)
      if (!f.record && !f.control && !cancelled_.count(id) && !slot.cancel_sent && !slot.time.terminated()) {
        // The launcher's first words (docker: "unknown flag: ...", then its usage).
        std::string said;
        for (const auto& line : util::split(util::try_read_file(exp_.task_dir(id) + "/wrapper.log").value_or(""), '\n'))
          if (!util::trim(line).empty()) {
            said = util::trim(line).substr(0, 300);
            break;
          }
        write_control(id, {"LOST", fmt::format("the task could not be started (exit {}){}", *rc,
                                               said.empty() ? "" : ": " + said)});
      }
    }
    task_settled(id);
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
      bool child = false;
      while (::read(sigfd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGCHLD) child = true;
        else term = sig;
      }
      if (child) {
        // What the workers said, and the end of those that died, first: a dying worker's pipe is
        // closed before its children are handed to this runner (the kernel closes a process's
        // files before it reparents its children), so a task shell reaped here is one whose
        // worker's end has been read (worker_gone found it alive: the slot's orphan), or one
        // whose worker died during this reap (its status is kept for the second read below).
        for (auto& slot : slots_) read_worker(slot);
        reap();
        if (!reaped_.empty())
          for (auto& slot : slots_) read_worker(slot);
        reaped_.clear();  // (never kept: a pid is reused)
      }
    }
    for (size_t k = 1; k < fds.size(); ++k)
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) read_worker(*owners[k]);
    return term;
  }

  void read_worker(Slot& slot) {
    if (!slot.from.valid()) return;  // (its end was read already)
    char buf[4096];
    bool gone = false;
    for (;;) {
      ssize_t n = ::read(slot.from.get(), buf, sizeof buf);
      if (n > 0) {
        slot.buf.append(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof buf) break;  // all there was (more wakes the next poll)
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      slot.from.reset();
      slot.to.reset();
      gone = true;  // (what it said before it went is heard first)
      break;
    }
    size_t nl;
    while ((nl = slot.buf.find('\n')) != std::string::npos) {
      std::string line = slot.buf.substr(0, nl);
      slot.buf.erase(0, nl + 1);
      if (line.size() > 2 && line[0] == 'S') {
        bool blind = slot.pgid <= 0;
        slot.pgid = std::atol(line.c_str() + 2);
        // A cancel sent before the task had a group reached only the worker: send it again.
        if (blind && slot.cancel_sent && slot.busy()) signal_task(slot, SIGTERM);
      }
      else if (line.size() > 2 && line[0] == 'E') {
        task_ended(slot, std::atoi(line.c_str() + 2));
        promote(slot);
      }
    }
    if (gone) worker_gone(slot);
  }

  // The worker is gone (killed): the task it ran may still run in its own process group, now
  // a child of this runner (a subreaper). The slot stays busy with it until the runner reaps
  // its leader and records its real end; walltime, cancel and signals still reach it.
  void worker_gone(Slot& slot) {
    // A queued task the worker had started before it went (its start recorded by that worker,
    // not said): the task before it had ended (its end is read from its records); the queued one
    // is the slot's now, never queued again. The first one it had not started, and those after
    // it, are ready again.
    while (!slot.next.empty()) {
      auto f = exp_.facts_of(slot.next.front().id);
      if (!f.record || f.record->wrapper != slot.worker.pid()) break;
      if (slot.task && !requeue_unstarted(slot)) task_ended(slot);
      promote(slot);
    }
    unqueue(slot);
    if (!slot.task) return;
    long pg = slot.pgid;
    if (pg <= 0) {
      if (requeue_unstarted(slot)) return;
      auto f = exp_.facts_of(*slot.task);
      if (f.record && f.record->state == "RUNNING") pg = f.record->pid;
    }
    // Its shell may have ended, and been reaped by this runner (its worker's orphan), before the
    // worker's end was read: its exit status was kept, it is the task's real end.
    if (auto it = reaped_.find(pg); pg > 0 && it != reaped_.end()) {
      const int status = it->second;
      reaped_.erase(it);
      slot.pgid = pg;
      record_orphan_end(slot, status);
      return;
    }
    if (pg > 0 && ::kill(static_cast<pid_t>(pg), 0) == 0) {
      spdlog::warn("task {}: its worker is gone; the task goes on and its end is recorded by the runner", *slot.task);
      slot.pgid = pg;
      slot.orphan = pg;
      return;
    }
    task_ended(slot);
  }

  // The slot's task, when its worker went before it recorded its start (the task was handed to
  // it, or taken for the slot's when the end of the one before was read): ready again, as a
  // queued one is (it was taken for done, and left PENDING). False when the task has a record.
  bool requeue_unstarted(Slot& slot) {
    if (!slot.task || exp_.facts_of(*slot.task).record) return false;
    const size_t id = *slot.task;
    slot.task.reset();
    slot.pgid = 0;
    --stages_[slot.stage].running;
    resources_.give_back(slot.held);
    slot.held.clear();
    stages_[slot.stage].ready.push_front(id);
    return true;
  }

  // The end of a task whose worker was killed, as only the runner saw it.
  void record_orphan_end(Slot& slot, int status) {
    size_t id = *slot.task;
    auto f = exp_.facts_of(id);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (f.record && f.record->state == "RUNNING") {
      store::WrapperRecord w = *f.record;
      w.state = rc == 0 ? "SUCCEEDED" : "FAILED";
      w.exit_code = rc;
      w.signal = WIFSIGNALED(status) ? std::optional<int>(WTERMSIG(status)) : std::nullopt;
      w.end = util::now_seconds();
      if (auto r = exp_.write_final_record(id, w); !r) store_failed(r.error());
    }
    task_ended(slot, rc);
  }

  void reap() {
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      bool known = false;
      for (auto& slot : slots_) {
        if (slot.worker.pid() == pid) {
          slot.worker.mark_reaped(status);
          known = true;
        }
        if (slot.oneshot.pid() == pid) {
          slot.oneshot.mark_reaped(status);
          known = true;
          if (runs_apart(slot)) {
            slot.client_gone = true;
            spdlog::warn("task {}: the process that started it ended (status {}) while the task runs on apart from it; its "
                         "slot and resources stay held until it is gone",
                         *slot.task, status);
          } else {
            task_ended(slot, WIFEXITED(status) ? std::optional<int>(WEXITSTATUS(status)) : std::nullopt);
          }
        }
        if (slot.busy() && slot.orphan == pid) {
          known = true;
          record_orphan_end(slot, status);
        }
      }
      // Not one this runner waits for: an orphan of a task, or the shell of a task whose worker
      // died after its pipe was read (worker_gone looks here, in the same wait_events).
      if (!known) reaped_[pid] = status;
    }
  }

  double grace_of(size_t task) const { return stages_[stage_of(task)].set.kill_grace; }

  // A group asked to stop gets SIGKILL once the grace is over, even if its leader has already
  // exited: a member that ignores SIGTERM must not survive its task.
  void doom(size_t task, long group, int sig, uint64_t leader_start = 0) {
    if (sig != SIGKILL && group > 0) doomed_.add({task, group, clock_.now() + grace_of(task), leader_start});
  }

  // The process group `group` is still the one whose leader started at `leader_start`: its pid
  // was not given to another process (a pgid's pid is not given again while its group lives, so
  // a group whose leader has gone is still the task's). 0: not recorded, taken as ours.
  static bool still_the_group(long group, uint64_t leader_start) {
    if (leader_start == 0) return true;
    auto now = run::process_start_ticks(group);
    return !now || *now == leader_start;
  }

  // Signal a slot's task: its process group once known, else the worker (which forwards it).
  void signal_task(Slot& slot, int sig) {
    long group = slot.oneshot.running() ? slot.oneshot.pid() : slot.pgid;
    launcher_.signal(exp_, *slot.task, group, slot.worker.running() ? slot.worker.pid() : 0, sig);
    doom(*slot.task, group, sig);
  }

  void signal_adopted(Adopted& a, int sig) {
    if (!still_the_group(a.pgid, a.leader_start)) return;  // gone; its pid is another process's now
    launcher_.signal(exp_, a.id, a.pgid, 0, sig);
    doom(a.id, a.pgid, sig, a.leader_start);
  }

  // SIGKILL the groups whose grace is over (all of them with `now_all`); forget the gone ones.
  void kill_doomed(bool now_all) {
    auto gone = [](const Doomed::Group& g) {
      return (::kill(static_cast<pid_t>(-g.group), 0) != 0 && errno == ESRCH) || !still_the_group(g.group, g.leader_start);
    };
    for (const auto& g : doomed_.take_due(clock_.now(), now_all, gone)) launcher_.signal(exp_, g.task, g.group, 0, SIGKILL);
  }

  // Before the runner ends: the groups still in their grace are waited for, then killed.
  void settle_doomed() {
    while (!doomed_.empty()) {
      wait_events(std::max(0.01, std::min(0.2, doomed_.next() - clock_.now())));
      kill_doomed(false);
    }
  }

  double next_wakeup() const {
    double wake = adopted_.empty() ? 1.0 : 0.2;
    for (const auto& s : slots_)
      if (s.busy() && s.client_gone) wake = std::min(wake, kApartPoll);
    double now = clock_.now();
    if (!doomed_.empty()) wake = std::min(wake, std::max(0.01, doomed_.next() - now));
    for (const auto& s : slots_) {
      if (!s.busy()) continue;
      const auto& set = stages_[s.stage].set;
      if (set.walltime <= 0) continue;
      wake = std::min(wake, std::max(0.01, s.time.next(set.walltime, set.kill_grace) - now));
    }
    return wake;
  }

  static std::string walltime_reason(double walltime) {
    return fmt::format("walltime of {} exceeded", util::human_duration(walltime));
  }

  // Each task's walltime is its stage's.
  void enforce_walltime() {
    double now = clock_.now();
    for (auto& s : slots_) {
      if (!s.busy()) continue;
      const auto& set = stages_[s.stage].set;
      switch (s.time.due(now, set.walltime, set.kill_grace)) {
        case Deadline::Step::Term:
          write_control(*s.task, {"TIMEOUT", walltime_reason(set.walltime)});
          signal_task(s, SIGTERM);
          s.time.terminate(now);
          break;
        case Deadline::Step::Kill: signal_task(s, SIGKILL); break;
        case Deadline::Step::None: break;
      }
    }
    // Adopted tasks count from the start their wrapper recorded; their SIGKILL comes from the
    // doomed groups (signal_adopted).
    for (auto& a : adopted_) {
      const auto& set = stages_[a.stage].set;
      if (a.time.due(now, set.walltime, set.kill_grace) == Deadline::Step::Term) {
        write_control(a.id, {"TIMEOUT", walltime_reason(set.walltime)});
        signal_adopted(a, SIGTERM);
        a.time.terminate(now);
      }
    }
  }

  // Whether the slot's task runs on apart from its one-shot process (a container whose client
  // ended): not when the launcher says it is gone.
  bool runs_apart(const Slot& slot) const {
    if (!slot.task) return false;
    auto apart = launcher_for(slot.stage).running_apart(exp_);
    return !apart || apart->count(*slot.task) > 0;
  }

  // The slots whose client ended while their task ran on: freed once the task is gone.
  void poll_apart() {
    const double now = clock_.now();
    if (now - apart_polled_ < kApartPoll) return;  // (one engine call per half second at most)
    apart_polled_ = now;
    std::optional<std::set<size_t>> apart;
    bool asked = false;
    for (auto& slot : slots_) {
      if (!slot.busy() || !slot.client_gone) continue;
      if (!asked) {
        apart = launcher_for(slot.stage).running_apart(exp_);
        asked = true;
      }
      if (!apart || apart->count(*slot.task)) continue;
      slot.client_gone = false;
      task_ended(slot);  // (its end is in its records)
    }
  }

  void poll_adopted() {
    poll_apart();
    if (adopted_.empty()) return;
    // One look at all of them (a single `docker ps` for containers). Adopted tasks carry no
    // cancel request: a resume set the earlier ones aside.
    std::vector<size_t> ids;
    for (const auto& a : adopted_) ids.push_back(a.id);
    std::set<size_t> live;
    for (const auto& t : observe_some(backend_, exp_, plan_, meta_, ids, false))
      if (t.state == State::Running && t.wrapper_alive) live.insert(t.id);
    for (auto it = adopted_.begin(); it != adopted_.end();) {
      if (live.count(it->id)) {
        ++it;
        continue;
      }
      size_t id = it->id;
      --stages_[it->stage].running;
      resources_.give_back(it->held);
      adopted_ids_.erase(id);
      it = adopted_.erase(it);
      task_settled(id);
    }
  }

  void show_progress() {
    if (!progress_.due()) return;
    const double now = clock_.now();
    // Every open stage with work left, side by side (progress_line.hpp).
    ProgressInput in;
    in.stages = plan_.stages.size();
    for (size_t s : graph_.order()) {
      const auto& st = stages_[s];
      if (st.phase != StageRun::Phase::Open || (st.running == 0 && st.ready.empty() && st.waiting.empty())) continue;
      in.open.push_back({s, plan_.stages[s].name, st.total, st.done, st.failed});
    }
    in.running = busy();
    in.slots = slots_.size();
    in.elapsed = now - start_;
    in.timed = timed_;
    in.durations = durations_;
    for (const auto& s : slots_)
      if (s.busy()) in.running_for.push_back(now - s.time.start);
    if (std::string line = progress_line(in); !line.empty()) progress_.show(line);
  }

  // Close the workers' input (they exit once idle) and wait a little for them.
  void stop_workers(double seconds) {
    for (auto& s : slots_) s.to.reset();
    double until = clock_.now() + seconds;
    auto any = [&] {
      for (auto& s : slots_)
        if (s.worker.running() || s.oneshot.running()) return true;
      return false;
    };
    while (any() && clock_.now() < until) wait_events(0.05);
  }

  int interrupted() {
    int sig = interrupt_signal_;
    std::string why = fmt::format("interrupted by {}", signal_name(sig));
    interrupted_why_ = why;
    // The workers' input is closed first: a worker that reads a queued task together with the
    // end of its input does not start it (and one that started it already is stopped when it
    // says so, see promote()).
    for (auto& s : slots_) s.to.reset();
    // (A queued task stays its slot's: when its worker ends the current one, the slot waits for
    // the worker to say it started it, or for the worker to exit.)
    std::vector<size_t> queued;
    for (auto& s : slots_)
      for (const auto& q : s.next) queued.push_back(q.id);
    progress_.note(fmt::format("xrun: {}: stopping {} running task(s)", why, busy()));
    for (auto& s : slots_) {
      if (!s.busy()) continue;
      write_control(*s.task, {"CANCELLED", why});
      signal_task(s, SIGTERM);
    }
    // Tasks adopted from an earlier runner are this runner's tasks too.
    for (auto& a : adopted_) {
      write_control(a.id, {"CANCELLED", why});
      signal_adopted(a, SIGTERM);
    }
    // Tasks that will now never start: those ready or waiting, and every task of a stage that
    // has not opened yet.
    std::vector<size_t> never;
    for (size_t s = 0; s < stages_.size(); ++s) {
      auto& st = stages_[s];
      if (st.phase == StageRun::Phase::Waiting) {
        for (size_t id : stage_ids(s)) never.push_back(id);
      } else if (st.phase == StageRun::Phase::Open) {
        never.insert(never.end(), st.ready.begin(), st.ready.end());
        never.insert(never.end(), st.waiting.begin(), st.waiting.end());
      }
    }
    stopping_ = true;  // a parent that ends during the grace makes no child ready
    // Those without a folder (never begun in any attempt: all of them in a first run) are
    // CANCELLED by one bulk record, at the cost of one file whatever their number; a task with an
    // earlier attempt's files (a resume) gets its own decision, a new attempt of its own.
    util::Fd tasks_dir = util::open_under(exp_.dir(), exp_.path("tasks"), O_RDONLY | O_DIRECTORY);
    auto entries = tasks_dir.valid() ? store::task_entries(tasks_dir.get(), plan_.id_end()) : std::nullopt;
    std::vector<size_t> bulk;
    for (size_t id : never) {
      if (cancelled_.count(id)) continue;
      if (entries && !(*entries)[id]) bulk.push_back(id);
      else decide(id, {"CANCELLED", why + " before it started"});
    }
    if (auto r = exp_.record_unstarted(bulk, why + " before it started"); !r) store_failed(r.error());
    // Grace, then SIGKILL. A second signal cuts the grace short.
    for (auto& s : slots_) s.to.reset();
    double until = clock_.now() + set_.kill_grace;
    while (busy() > 0 && clock_.now() < until) {
      int again = wait_events(0.1);
      poll_adopted();
      if (again == SIGINT || again == SIGTERM || again == SIGHUP) break;
    }
    for (auto& s : slots_)
      if (s.busy()) signal_task(s, SIGKILL);
    kill_doomed(true);
    stop_workers(2.0);
    // A queued task is decided only once its worker is gone: the worker may have started it
    // before its input closed (its end and that start reach the runner together), and such a
    // task has records of its own, which deciding it earlier would have archived as an attempt.
    for (size_t id : queued)
      if (!cancelled_.count(id) && !exp_.facts_of(id).record) decide(id, {"CANCELLED", why + " before it started"});
    finish("interrupted");
    return 130;
  }

  int finish(const std::string& state) {
    progress_.clear();
    fold_ended(true);
    exp_.remove_spares(spares_);
    spares_.clear();
    auto statuses = observe_tasks(backend_, exp_, plan_, meta_).tasks;
    bool all_ok = std::all_of(statuses.begin(), statuses.end(), [](const store::TaskStatus& t) { return run::satisfied(t); });
    run::write_summary(exp_, plan_, statuses);
    json r = exp_.runner().value_or(json::object());
    r["state"] = state;
    r["ended"] = util::now_seconds();
    // The runner's own CPU time (not its tasks'): what xrun's bookkeeping cost.
    struct rusage ru {};
    if (::getrusage(RUSAGE_SELF, &ru) == 0)
      r["cpu_seconds"] = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    r["exit_code"] = state == "interrupted" ? 130 : (all_ok ? 0 : 1);
    if (auto w = exp_.write_runner(r); !w) spdlog::warn("{}", w.error().what);
    if (!opts_.quiet) run::print_summary(std::cerr, exp_, plan_, statuses, clock_.now() - start_);
    return state == "interrupted" ? 130 : (all_ok ? 0 : 1);
  }

  PoolBackend& backend_;
  const Launcher& launcher_;
  const store::Experiment& exp_;
  const plan::Plan& plan_;
  const json& meta_;
  const RunOptions& opts_;
  const Settings& set_;
  const run::SignalBlocker& sigs_;
  plan::StageGraph graph_;
  Resources resources_;
  std::vector<std::unique_ptr<Launcher>> stage_launchers_;  // a stage's own (its own options), or null
  run::Progress progress_;
  std::string workdir_;
  std::vector<std::string> worker_argv_;
  std::vector<Slot> slots_;
  std::vector<StageRun> stages_;
  std::map<size_t, size_t> open_parents_;  // task -> parents (per task) still to end
  util::Fd sigfd_;
  const util::Clock& clock_ = util::steady_clock();  // every timer and deadline
  static constexpr double kApartPoll = 0.5;  // seconds between looks at tasks running apart
  double apart_polled_ = -1e9;
  std::list<Adopted> adopted_;
  std::set<size_t> adopted_ids_;
  Doomed doomed_;  // groups asked to stop, killed when their grace is over
  std::map<size_t, run::PreparedTask> prepared_;
  std::map<long, int> reaped_;  // pid -> exit status of children reaped that were no slot's, this wait_events only
  std::vector<size_t> ended_;  // ended, not folded yet
  std::set<size_t> recycle_;   // of those, the ones whose folder may become a spare one
  std::vector<std::string> spares_;  // spare folders (folded tasks kept in tasks/) for new tasks
  std::vector<std::vector<std::string>> setups_;  // each stage's setup lines
  static constexpr size_t kFoldBatch = 32;
  static constexpr double kQueueBelow = 0.05;  // seconds: the mean task duration under which tasks are queued
  // Tasks handed to a worker ahead of the one it runs: two, so that a worker has a task to start
  // while the runner folds or waits for a core (with one, the workers waited ~7% of the time).
  static constexpr size_t kQueueDepth = 2;
  static constexpr size_t kMaxSpares = 4096;
  size_t folded_ = 0;
  std::optional<Error> store_error_;
  std::set<size_t> cancelled_;
  long long cancel_stamp_ = -1;
  int interrupt_signal_ = 0;
  bool stopping_ = false;
  std::string interrupted_why_;
  size_t timed_ = 0;
  double durations_ = 0;  // summed durations of the tasks this runner saw end
  double recent_ = 0;     // their recent mean (exponentially weighted)
  double start_ = 0;
};

}  // namespace

Result<void> PoolBackend::preflight(const json& options) {
  XRUN_TRY(launcher_->configure(options));
  return launcher_->preflight();
}

Result<void> PoolBackend::check_complete(const json& options) const { return launcher_->check_complete(options); }

Result<void> PoolBackend::check_demand(const json& options, const RunOptions& opts,
                                       const std::vector<std::pair<std::string, int64_t>>& demand) const {
  auto s = settings(options, opts);
  if (!s) return s.error();
  return pool::check_demand(s.value(), demand, name());
}

Result<void> PoolBackend::check_options(const json& options) const {
  auto s = settings(options, RunOptions{});
  if (!s) return s.error();
  return launcher_->check(options);
}

int PoolBackend::run_pool(const store::Experiment& exp, const plan::Plan& p, const json& meta, const RunOptions& opts,
                          const Settings& s, std::vector<StageSettings> stages,
                          std::vector<std::unique_ptr<Launcher>> launchers) {
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP, SIGCHLD});
  // Orphaned grandchildren of tasks (and the task of a killed worker) are re-parented to us
  // and reaped by the pool's waitpid, even where PID 1 does not reap (containers).
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::setenv("XRUN_HOST", util::hostname().c_str(), 1);  // the wrappers need not ask uname
  run::set_handler(SIGPIPE, SIG_IGN);  // a vanished worker is an error code, not our death
  auto lock = store::RunnerLock::acquire(exp);
  if (!lock) {
    std::cerr << "xrun: error: " << lock.error().what << "\n  hint: " << lock.error().hint << std::endl;
    return 1;
  }
  json r{{"backend", name()},
         {"pid", ::getpid()},
         {"host", util::hostname()},
         {"started", util::now_seconds()},
         {"state", "running"},
         {"jobs", s.jobs},
         {"detached", opts.detach},
         {"resume", opts.resume}};
  // The runner's record reserves the room of its final update: a store that fills up during
  // the run still learns how the runner ended.
  if (auto w = exp.write_runner(r, true); !w) {
    std::cerr << "xrun: error: " << w.error().what << std::endl;
    return 1;
  }
  Pool pool(*this, exp, p, meta, opts, s, std::move(stages), std::move(launchers), sigs);
  return pool.run();
}

Result<int> PoolBackend::launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                const RunOptions& opts) {
  const json options = run::merged_options(meta, name());
  auto s = settings(options, opts);
  if (!s) return s.error();
  XRUN_TRY(launcher_->configure(options));
  XRUN_TRY(launcher_->preflight());
  // Each stage's own settings; a stage with options of its own gets its own launcher (its image).
  std::vector<StageSettings> stages;
  std::vector<std::unique_ptr<Launcher>> launchers;
  for (size_t k = 0; k < p.stages.size(); ++k) {
    json own = run::stage_options(meta, p, k, name());
    auto st = stage_settings(own, spec::merge_options(p.stages[k].options, name()));
    if (!st) return st.error();
    stages.push_back(st.value());
    XRUN_TRY(pool::check_demand(s.value(), p.stages[k].resources, name()));
    if (own == options) {
      launchers.emplace_back();
      continue;
    }
    auto l = launcher_->clone();
    XRUN_TRY(l->configure(own));
    XRUN_TRY(l->preflight());
    launchers.push_back(std::move(l));
  }
  if (!opts.detach) return run_pool(exp, p, meta, opts, s.value(), std::move(stages), std::move(launchers));

  // Detached: a child in its own session runs the pool; its output goes to runner.log.
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) return runtime_error(fmt::format("cannot start a background runner: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setsid();
    // Only 0, 1 and 2 stay open (dup2 clears close-on-exec on them): nothing leaks into tasks.
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log = util::open_under(exp.dir(), exp.path("runner.log"), O_WRONLY | O_CREAT | O_APPEND).release();
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
    int code = run_pool(exp, p, meta, o, s.value(), std::move(stages), std::move(launchers));
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(code);
  }
  // Wait until the background runner holds the lock, so `status` right after sees it alive.
  for (int i = 0; i < 100 && !exp.runner_alive(); ++i) ::usleep(10000);
  return 0;
}

Result<void> PoolBackend::dry_run(std::ostream& os, const std::string& exp_name, const json& sections,
                                 const plan::Plan& p, const RunOptions& opts) {
  const json options = spec::merge_options(sections, name());
  auto s = settings(options, opts);
  if (!s) return s.error();
  XRUN_TRY(launcher_->configure(options));
  std::string what = launcher_->describe();
  std::vector<std::string> declared;
  for (const auto& [res, ids] : s->resources) declared.push_back(fmt::format("{} [{}]", res, fmt::join(ids, ", ")));
  os << fmt::format("backend {}: {} parallel task(s){}{}{}\n", name(), s->jobs,
                    s->walltime > 0 ? fmt::format(", walltime {}", util::human_duration(s->walltime)) : "",
                    what.empty() ? "" : ", " + what,
                    declared.empty() ? "" : fmt::format(", resources: {}", fmt::join(declared, "; ")));
  // What differs per stage: its own options, its resources, what it waits for.
  json meta{{"options", sections}};
  auto graph = plan::StageGraph::of(p, opts.keep_going);
  for (size_t k : graph.order()) {
    const auto& st = p.stages[k];
    json own = run::stage_options(meta, p, k, name());
    auto ss = stage_settings(own, spec::merge_options(st.options, name()));
    if (!ss) return ss.error();
    std::vector<std::string> parts;
    if (ss->walltime != s->walltime) parts.push_back(fmt::format("walltime {}", util::human_duration(ss->walltime)));
    if (ss->max_parallel > 0) parts.push_back(fmt::format("at most {} at once", ss->max_parallel));
    if (own != options) {
      auto l = launcher_->clone();
      XRUN_TRY(l->configure(own));
      if (std::string d = l->describe(); d != what && !d.empty()) parts.push_back(d);
    }
    for (const auto& [res, n] : st.resources) parts.push_back(fmt::format("{} {} per task", n, res));
    if (!parts.empty()) os << fmt::format("  stage '{}': {}\n", st.name, fmt::join(parts, ", "));
  }
  (void)exp_name;
  return {};
}

Result<void> PoolBackend::observe(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                  std::vector<store::TaskFacts>& facts) {
  if (auto c = launcher_->configure(run::merged_options(meta, name())); !c) return c;
  launcher_->observe(exp, facts);
  (void)p;
  return {};
}

Result<void> PoolBackend::cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                 const std::vector<store::TaskStatus>& tasks) {
  XRUN_TRY(launcher_->configure(run::merged_options(meta, name())));
  std::vector<const store::TaskStatus*> stopping;
  std::vector<std::string> elsewhere;
  for (const auto& t : tasks) {
    if (t.state != State::Running || t.pid <= 0) continue;
    if (!launcher_->reaches(t.host)) {
      elsewhere.push_back(fmt::format("{} on {}", t.id, t.host));
      continue;
    }
    launcher_->signal(exp, t.id, t.pid, 0, SIGTERM);
    stopping.push_back(&t);
  }
  double grace = 5;
  if (auto s = settings(run::merged_options(meta, name()), RunOptions{})) grace = s->kill_grace;
  // Wait until each task has ended (or is gone), then SIGKILL whatever is left of the groups:
  // members that ignored SIGTERM. Zombies are not waited for.
  double until = util::monotonic_seconds() + grace;
  // One look at all of them per round (a single `docker ps` for containers).
  std::vector<size_t> waiting;
  for (const auto* t : stopping) waiting.push_back(t->id);
  while (!waiting.empty() && util::monotonic_seconds() < until) {
    std::vector<size_t> still;
    for (const auto& st : observe_some(*this, exp, p, meta, waiting, true))
      if (st.state == State::Running) still.push_back(st.id);
    waiting = std::move(still);
    if (!waiting.empty()) ::usleep(50000);
  }
  for (const auto* t : stopping) launcher_->signal(exp, t->id, t->pid, 0, SIGKILL);
  if (!elsewhere.empty())
    return runtime_error(fmt::format("cannot stop tasks running on other hosts: {}", fmt::join(elsewhere, ", ")),
                      "run `xrun cancel` on those hosts; the tasks are marked cancelled and will not be rerun");
  return {};
}

}  // namespace xrun::backend::pool
