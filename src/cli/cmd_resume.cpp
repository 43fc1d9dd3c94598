// `xrun resume EXP`: run again, in the same experiment, only the tasks that did not succeed.
#include <iostream>
#include <map>
#include <set>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "xrun/backend/follow.hpp"
#include "xrun/cli/common.hpp"
#include "xrun/ops/resume.hpp"
#include "xrun/ops/select.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::cli {

namespace {

struct ResumeArgs {
  std::string ref;
  backend::RunOptions opts;
  bool reload = false;
  double lock_timeout = 120;
  std::vector<std::string> states;  // --state FAILED,TIMEOUT
  std::vector<std::string> where;   // --where 'seed=1'
};

int do_resume(const Context& ctx, ResumeArgs& a) {
  auto only = parse_states(a.states);
  if (!only) return report(only.error());
  auto selection = ops::parse_selection(a.where, {});
  if (!selection) return report(selection.error());
  auto o = open_experiment_by_name(ctx, a.ref);
  if (!o) return report(o.error());
  // On a scheduler, what to submit is decided under the experiment's lock, from a view of the
  // scheduler read under it, and the lock is kept until the submission is recorded: a second
  // resume (or a cancel) waits for this one, then sees what it submitted. A local runner holds
  // the lock for its whole run: a resume refuses while it lives.
  std::shared_ptr<store::RunnerLock> held;
  if (!o->backend->adopts()) {
    auto l = wait_for_submission(o.value(), a.lock_timeout);
    if (!l) return report(l.error());
    held = std::make_shared<store::RunnerLock>(std::move(l.value()));
  } else if (o->exp.runner_alive()) {
    return report(make_error(fmt::format("experiment {} is still being run", o->exp.id()),
                             "wait for it (xrun status --watch) or cancel it (xrun cancel) first"));
  }
  std::optional<Error> blind;
  auto statuses = o->statuses(&blind);
  if (blind && !o->backend->adopts()) {
    // Without the scheduler's view, a task still queued reads as never started: never acted on.
    Error e = runtime_error(fmt::format("cannot resume {}: {} does not answer ({}); without its view, tasks that are "
                                        "still queued would be submitted a second time",
                                        o->exp.id(), o->backend->name(), blind->what),
                            fmt::format("try again once it answers; `xrun status {}` shows what the store knows",
                                        o->exp.id()));
    return report(e);
  }
  auto rp = ops::plan_resume(o.value(), statuses);
  if (!rp) return report(rp.error());
  const std::string file = o->meta.value("file", std::string());
  if (!a.reload && rp->file_changed)
    std::cerr << fmt::format("xrun: note: {} {} since experiment {} was run; resume reruns the commands it recorded "
                             "(`xrun resume --reload` takes the file as it is now)",
                             file, rp->file_gone ? "is gone" : "changed", o->exp.id())
              << std::endl;
  a.opts.to_run = rp->to_run;
  const size_t still_active = rp->still_active;
  if (a.reload) {
    // The file as it is now, matched to the experiment's tasks by identity (content keys): what
    // changes is said before anything acts; new tasks run even when every old one succeeded.
    if (rp->file_gone)
      return report(make_error(fmt::format("--reload: cannot read {}", file), "the experiment's file was moved or removed"));
    auto diff = ops::reload_plan(o.value(), statuses);
    if (!diff) return report(diff.error());
    if (!a.opts.quiet)
      std::cerr << fmt::format("xrun: --reload: {} re-read: {}", file, diff->summary()) << std::endl;
    for (size_t id : diff->retired) a.opts.to_run.erase(id);
    a.opts.to_run.insert(diff->rerun.begin(), diff->rerun.end());
    a.opts.to_run.insert(diff->added.begin(), diff->added.end());
  }
  // Each task to run, by its state (a new task's is PENDING); --state keeps only those states.
  // (A task a scheduler still queues is submitted again only to chain it to work that reruns: never
  // left out.)
  std::map<size_t, store::State> state_of;
  std::set<size_t> queued;
  for (const auto& t : statuses) {
    state_of[t.id] = t.state;
    if (!t.backend_state.empty()) queued.insert(t.id);
  }
  // --where: over the plan as it is now (after a reload, the new one).
  auto keep = ops::selector(o->plan, selection.value());
  if (!keep) return report(keep.error());
  auto matches = [&](size_t id, store::State st) {
    if (!keep.value()) return true;
    auto w = o->plan.find(id);
    if (!w) return false;
    store::TaskStatus t;
    t.id = id;
    t.stage = w->stage;
    t.index = w->index;
    t.state = st;
    return keep.value()(t);
  };
  std::map<store::State, size_t> taken;
  for (auto it = a.opts.to_run.begin(); it != a.opts.to_run.end();) {
    auto known = state_of.find(*it);
    const store::State st = known != state_of.end() ? known->second : store::decide(o->exp.facts_of(*it)).status.state;
    if (((!only->empty() && !only->count(st)) || !matches(*it, st)) && !queued.count(*it)) {
      it = a.opts.to_run.erase(it);
      continue;
    }
    ++taken[st];
    ++it;
  }
  if (a.opts.to_run.empty() && still_active && a.opts.wait) {
    // Nothing to submit, but the scheduler still has work of it: --wait follows that.
    held.reset();
    std::cout << o->exp.id() << std::endl;
    return backend::follow(*o->backend, o->exp, o->plan, o->meta, 5.0, a.opts.quiet);
  }
  if (a.opts.to_run.empty()) {
    // No runner starts, so none tidies what a killed one left: the folders it kept to reuse
    // (`spares`) are tidied here, under the experiment's lock (no runner is alive to use them).
    if (o->backend->adopts())
      if (auto l = store::RunnerLock::acquire(o->exp)) o->exp.remove_spares();
    std::cout << o->exp.id() << std::endl;
    if (!a.opts.quiet) {
      if (still_active)
        std::cerr << fmt::format("xrun: nothing to resume: {} task{} of {} {} still queued or running (xrun status {})",
                                 still_active, still_active == 1 ? "" : "s", o->exp.id(), still_active == 1 ? "is" : "are",
                                 o->exp.id())
                  << std::endl;
      else if (!only->empty() || !a.where.empty())
        std::cerr << fmt::format("xrun: nothing to resume: no task of {} {} and left to run", o->exp.id(),
                                 !a.where.empty() ? "matches --where" : "is " + fmt::format("{}", fmt::join(a.states, ",")))
                  << std::endl;
      else
        std::cerr << "xrun: nothing to resume: every task of " << o->exp.id() << " succeeded" << std::endl;
    }
    return kSuccess;
  }
  // The tasks to run again leave the index of finished tasks at once (their new attempts start
  // from files, never from a folded entry).
  if (auto r = o->exp.reopen({a.opts.to_run.begin(), a.opts.to_run.end()}); !r) return report(r.error());
  // Earlier cancel requests applied to earlier attempts: keep them as history.
  auto archived = ops::archive_cancel_requests(o.value(), a.opts.to_run);
  if (!archived) return report(archived.error());
  // Tasks an interrupted runner recorded CANCELLED in bulk (never started) leave that record.
  if (auto r = o->exp.release_unstarted(a.opts.to_run); !r) return report(r.error());
  a.opts.resume = true;
  a.opts.lock = held;
  spdlog::debug("resume {}: task(s) to run: {}", o->exp.id(), fmt::join(a.opts.to_run, " "));
  std::cout << o->exp.id() << std::endl;
  if (!a.opts.quiet) {
    std::vector<std::string> parts;
    for (const auto& [st, n] : taken) parts.push_back(fmt::format("{} {}", n, store::to_string(st)));
    std::cerr << fmt::format("xrun: resuming {}: {} of {} task(s) to run ({})", o->exp.id(), a.opts.to_run.size(),
                             o->plan.task_count(), fmt::join(parts, ", "))
              << std::endl;
  }
  auto code = o->backend->launch(o->exp, o->plan, o->meta, a.opts);
  if (!code) {
    // Nothing of this resume runs (a failed submission cancels what it submitted): the cancel
    // requests of the earlier attempts still stand.
    if (auto back = ops::restore_cancel_requests(o.value(), archived.value()); !back)
      spdlog::warn("{}", back.error().what);
    return report(code.error());
  }
  return code.value();
}

}  // namespace

void set_resume_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("resume", "Run again the tasks of an experiment that did not succeed (same id)");
  auto a = std::make_shared<ResumeArgs>();
  sub->add_option("experiment", a->ref, "Experiment id, unique prefix, name (its latest run), or 'latest'")->required();
  add_run_options(sub, a->opts);
  add_lock_timeout_option(sub, a->lock_timeout);
  sub->add_option("--state", a->states,
                  "Rerun only tasks in these states (FAILED,TIMEOUT; case-insensitive, repeatable; default: every "
                  "task that did not succeed)")
      ->type_name("S,...");
  sub->add_option("--where", a->where,
                  "Rerun only the tasks (of those that did not succeed) whose variables and state match, e.g. "
                  "--where 'seed=1|2'");
  sub->add_flag("--reload", a->reload,
                "Re-read the experiment file: its tasks are matched to the experiment's by content (what they run); "
                "new ones run, those that left the file are retired, finished work never runs again");
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_resume(ctx, *a); }; });
}

}  // namespace xrun::cli
