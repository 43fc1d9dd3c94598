#include "xrun/backend/observe.hpp"

#include <spdlog/spdlog.h>

#include "xrun/plan/stage_graph.hpp"
#include "xrun/run/report.hpp"

namespace xrun::backend {

namespace {

using store::SchedulerView;

// The backend reported the task's wrapper or job gone, but the records were read before it was
// asked: read them again (what the backend saw stays).
void reread(const store::Experiment& exp, store::TaskFacts& f) {
  store::TaskFacts fresh = exp.facts_of(f.id, f.cancel_requested);
  f.record = std::move(fresh.record);
  f.control = std::move(fresh.control);
}

// Decide; a verdict from the scheduler is persisted first (the first one recorded wins: when
// another reader recorded one, the task is decided again from what is recorded).
store::TaskStatus decide_and_persist(const store::Experiment& exp, store::TaskFacts& f) {
  store::Decision d = store::decide(f);
  if (!d.verdict) return d.status;
  auto made = exp.record_verdict(f.id, *d.verdict);
  if (!made) {
    spdlog::warn("{}", made.error().what);
    return d.status;
  }
  if (made.value()) {
    spdlog::debug("task {}: verdict {} recorded ({})", f.id, d.verdict->state, d.verdict->reason);
    return d.status;
  }
  reread(exp, f);
  return store::decide(f).status;
}

// early_stopping on a scheduler: once a finished task of a stage meets a condition, its tasks
// not started yet are SKIPPED (recorded at once) and their jobs cancelled. A batch backend
// learns it late (at a status or --wait refresh), never not at all.
void apply_early_stopping(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta,
                          std::vector<store::TaskStatus>& tasks) {
  std::vector<store::TaskStatus> stop;
  for (size_t s = 0; s < p.stages.size(); ++s) {
    if (p.stages[s].early_stopping.empty()) continue;
    std::vector<size_t> done;
    bool open = false;
    for (const auto& t : tasks)
      if (t.stage == s) {
        if (t.state == store::State::Succeeded) done.push_back(t.id);
        if (t.state == store::State::Pending) open = true;
      }
    if (!open || done.empty()) continue;
    std::string reason = run::early_stop_reason(exp, p.stages[s], done);
    if (reason.empty()) continue;
    for (auto& t : tasks)
      if (t.stage == s && t.state == store::State::Pending) {
        if (auto r = exp.record_verdict(t.id, {"SKIPPED", reason}); !r) spdlog::warn("{}", r.error().what);
        stop.push_back(t);
        t.state = store::State::Skipped;
        t.reason = reason;
        t.backend_state.clear();
      }
  }
  if (!stop.empty())
    if (auto r = b.cancel(exp, p, meta, stop); !r) spdlog::warn("{}", r.error().what);
}

// Tasks whose end is recorded are folded into the index of finished tasks, so that the next
// read costs only what changed (a live runner folds its own tasks: it may still write a decision
// about a task it has not seen end).
void fold_finished(Backend& b, const store::Experiment& exp, const std::vector<store::TaskFacts>& facts) {
  if (exp.runner_alive()) return;
  const bool requeues = !b.adopts();  // a scheduler may run a killed job's wrapper again
  std::vector<size_t> ids;
  for (const auto& f : facts)
    if (!f.folded && store::foldable(f, requeues)) ids.push_back(f.id);
  if (ids.empty()) return;
  if (auto r = exp.fold(ids, requeues); !r) spdlog::debug("the index of finished tasks was not updated: {}", r.error().what);
}

}  // namespace

Observed observe_tasks(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta) {
  Observed out;
  auto facts = exp.facts(p);
  if (size_t bad = exp.index()->damaged())
    spdlog::warn("experiment {}: {} line(s) of its index of finished tasks are damaged; those tasks are read from "
                 "their own records, or as never started when these are gone (`xrun resume` runs them again)",
                 exp.id(), bad);
  if (auto r = b.observe(exp, p, meta, facts); !r) out.warning = r.error();
  for (auto& f : facts)
    if (store::needs_reread(f)) reread(exp, f);
  // Stage by stage, each after the stages it waits for: a task that can never start because a
  // stage (or, per task, a task) it needs did not succeed is told so.
  auto graph = plan::StageGraph::of(p, false);
  // facts and out.tasks are in the plan's order (slots); tasks are named by their ids.
  std::vector<size_t> first_slot(p.stages.size() + 1, 0);
  for (size_t s = 0; s < p.stages.size(); ++s) first_slot[s + 1] = first_slot[s] + p.stages[s].tasks.size();
  std::vector<bool> failed(p.stages.size(), false), skipped(p.stages.size(), false);
  out.tasks.resize(facts.size());
  auto why_not = [&](size_t id) {
    auto w = p.find(id);
    return w && w->slot < out.tasks.size() ? run::parent_unusable(out.tasks[w->slot]) : std::string();
  };
  for (size_t s : graph.order()) {
    std::string why = graph.blocked(s, failed, skipped);
    skipped[s] = !why.empty();
    for (size_t slot = first_slot[s]; slot < first_slot[s + 1] && slot < facts.size(); ++slot) {
      auto& f = facts[slot];
      f.blocked = why.empty() ? graph.task_blocked(f.id, why_not) : why;
      store::TaskStatus t = decide_and_persist(exp, f);
      if (store::is_final(t.state) && !run::satisfied(t)) failed[s] = true;
      out.tasks[slot] = std::move(t);
    }
  }
  if (!b.adopts()) apply_early_stopping(b, exp, p, meta, out.tasks);
  fold_finished(b, exp, facts);
  return out;
}

std::vector<store::TaskStatus> observe_some(Backend& b, const store::Experiment& exp, const plan::Plan& p,
                                            const json& meta, const std::vector<size_t>& ids, bool cancelled) {
  std::vector<store::TaskFacts> facts;
  facts.reserve(ids.size());
  for (size_t id : ids) {
    facts.push_back(exp.facts_of(id, cancelled));
    auto [stage, index] = store::locate(p, id);
    facts.back().stage = stage;
    facts.back().index = index;
  }
  if (auto r = b.observe(exp, p, meta, facts); !r) spdlog::debug("{}", r.error().what);  // one backend call
  std::vector<store::TaskStatus> out;
  std::optional<std::vector<store::TaskStatus>> all;
  for (auto& f : facts) {
    if (store::needs_reread(f)) reread(exp, f);
    // Whether a gate keeps it from ever starting depends on the stages before it.
    const auto& sv = f.scheduler;
    if (!f.record && sv && sv->phase != SchedulerView::Phase::Queued && sv->phase != SchedulerView::Phase::Running) {
      if (!all) all = observe_tasks(b, exp, p, meta).tasks;
      out.push_back(all->at(p.find(f.id).value().slot));
      continue;
    }
    out.push_back(decide_and_persist(exp, f));
  }
  return out;
}

store::TaskStatus observe_task(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta,
                               size_t task, bool cancelled) {
  return observe_some(b, exp, p, meta, {task}, cancelled).front();
}

}  // namespace xrun::backend
