// `xrun cancel EXP [TASK...]`: stop the given tasks, or every unfinished one. Idempotent.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "xrun/cli/common.hpp"
#include "xrun/ops/select.hpp"

namespace xrun::cli {

namespace {

struct CancelArgs {
  std::string ref;
  std::vector<std::string> tasks;
  std::vector<std::string> where;  // --where 'seed=1'
  double lock_timeout = 120;
};

int do_cancel(const Context& ctx, const CancelArgs& a) {
  auto selection = ops::parse_selection(a.where, {});
  if (!selection) return report(selection.error());
  if (!a.where.empty() && !a.tasks.empty())
    return report(make_error("give tasks or --where, not both", "e.g. xrun cancel EXP --where 'seed=1'"));
  auto o = open_experiment(ctx, a.ref);
  if (!o) return report(o.error());
  auto keep = ops::selector(o->plan, selection.value());
  if (!keep) return report(keep.error());
  std::vector<size_t> wanted;
  for (const auto& t : a.tasks) {
    auto id = store::resolve_task_ref(o->plan, t);
    if (!id) return report(id.error());
    wanted.push_back(id.value());
  }
  // On a scheduler, a submission under way (run, resume) holds the experiment's lock until it is
  // recorded: the cancel waits for it, then cancels what it submitted too. (A local runner holds
  // the lock for its whole run; its tasks are cancelled through the store, without it.)
  std::optional<store::RunnerLock> held;
  if (!o->backend->adopts()) {
    auto l = wait_for_submission(o.value(), a.lock_timeout);
    if (!l) return report(l.error());
    held.emplace(std::move(l.value()));
  }
  std::optional<Error> blind;
  auto statuses = o->statuses(&blind);
  if (blind && !o->backend->adopts() && (!wanted.empty() || keep.value())) {
    // Which of these tasks are queued, running or over is the scheduler's to say.
    return report(runtime_error(
        fmt::format("cannot cancel tasks of {} one by one: {} does not answer ({}); nothing was cancelled", o->exp.id(),
                    o->backend->name(), blind->what),
        fmt::format("try again once it answers, or cancel the whole experiment (`xrun cancel {}`), which "
                    "cancels every job it submitted",
                    o->exp.id())));
  }
  if (keep.value()) {  // --where: the tasks that match, of those not finished
    for (const auto& t : statuses)
      if (!store::is_final(t.state) && keep.value()(t)) wanted.push_back(t.id);
    if (wanted.empty()) {
      std::cerr << "xrun: nothing to cancel: no unfinished task of " << o->exp.id() << " matches --where" << std::endl;
      return kSuccess;
    }
  }
  auto targets = ops::cancel_targets(statuses, wanted);
  if (targets.empty()) {
    std::cerr << "xrun: nothing to cancel: the " << (wanted.empty() ? "experiment's tasks have" : "given tasks have")
              << " all finished" << std::endl;
    return kSuccess;
  }
  // The request first: when it cannot be recorded (a full store), nothing is cancelled.
  std::vector<size_t> ids;
  for (const auto& t : targets) ids.push_back(t.id);
  if (auto rq = o->exp.add_cancel_request(ids); !rq) return report(rq.error());
  auto r = o->backend->cancel(o->exp, o->plan, o->meta, targets);
  size_t running = 0;
  for (const auto& t : targets) running += t.state == store::State::Running;
  if (!r) {
    // Recorded, but not (or not surely) carried out: said as such, never as done.
    Error e = r.error();
    e.hint = fmt::format("the cancel request for {} task{} is recorded; {}", targets.size(), targets.size() == 1 ? "" : "s",
                         e.hint.empty() ? "run `xrun cancel` again once the scheduler answers" : e.hint);
    return report(e);
  }
  if (blind) {
    std::cerr << fmt::format("xrun: cancelled the jobs of {} ({} unfinished task{} by the store); {} does not answer, so "
                             "their states are not yet confirmed (xrun status {})",
                             o->exp.id(), targets.size(), targets.size() == 1 ? "" : "s", o->backend->name(), o->exp.id())
              << std::endl;
    return kSuccess;
  }
  std::cerr << fmt::format("xrun: cancelled {} task{} of {} ({} running, {} not started)", targets.size(),
                           targets.size() == 1 ? "" : "s", o->exp.id(), running, targets.size() - running)
            << std::endl;
  return kSuccess;
}

}  // namespace

void set_cancel_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("cancel", "Cancel tasks of an experiment (all unfinished ones when none are given)");
  auto a = std::make_shared<CancelArgs>();
  sub->add_option("experiment", a->ref, "Experiment id, unique prefix, or 'latest'")->required();
  sub->add_option("tasks", a->tasks, "Task numbers or STAGE/INDEX");
  sub->add_option("--where", a->where, "The unfinished tasks whose variables and state match, e.g. --where 'seed=1|2'");
  add_lock_timeout_option(sub, a->lock_timeout);
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_cancel(ctx, *a); }; });
}

}  // namespace xrun::cli
