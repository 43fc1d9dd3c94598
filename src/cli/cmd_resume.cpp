// `xrun resume EXP`: run again, in the same experiment, only the tasks that did not succeed.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "xrun/cli/common.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::cli {

namespace {

struct ResumeArgs {
  std::string ref;
  backend::RunOptions opts;
};

int do_resume(const Context& ctx, ResumeArgs& a) {
  auto o = open_experiment(ctx, a.ref);
  if (!o) return report(o.error());
  if (o->exp.runner_alive())
    return report(make_error(fmt::format("experiment {} is still being run", o->exp.id()),
                             "wait for it (xrun status --watch) or cancel it (xrun cancel) first"));
  auto statuses = o->statuses();
  const bool local = o->meta.value("backend", std::string("local")) == "local";
  for (const auto& t : statuses) {
    if (run::satisfied(t)) continue;
    if (t.state == store::State::Running) {
      // Local: a wrapper still alive here is adopted by the new runner. Elsewhere we cannot
      // tell, and a scheduler's running job must not be submitted twice.
      if (local && !t.wrapper_alive)
        return report(make_error(fmt::format("task {} is running on host {}", t.id, t.host),
                                 "resume from that host, or cancel the task first"));
      if (!local) continue;
    }
    if (!local && !t.backend_state.empty() && !store::is_final(t.state)) continue;  // still queued
    a.opts.to_run.insert(t.id);
  }
  if (a.opts.to_run.empty()) {
    std::cout << o->exp.id() << std::endl;
    if (!a.opts.quiet) std::cerr << "xrun: nothing to resume: every task of " << o->exp.id() << " succeeded" << std::endl;
    return kSuccess;
  }
  // Earlier cancel requests applied to earlier attempts: keep them as history.
  if (util::is_dir(o->exp.path("cancel"))) {
    auto r = util::rename_path(o->exp.path("cancel"), o->exp.path(fmt::format("cancel.{:.0f}", util::now_seconds() * 1000)));
    if (!r) return report(r.error());
  }
  a.opts.resume = true;
  std::cout << o->exp.id() << std::endl;
  if (!a.opts.quiet)
    std::cerr << fmt::format("xrun: resuming {}: {} of {} task(s) to run", o->exp.id(), a.opts.to_run.size(),
                             statuses.size())
              << std::endl;
  auto code = o->backend->launch(o->exp, o->plan, o->meta, a.opts);
  if (!code) return report(code.error());
  return code.value();
}

}  // namespace

void set_resume_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("resume", "Run again the tasks of an experiment that did not succeed (same id)");
  auto a = std::make_shared<ResumeArgs>();
  sub->add_option("experiment", a->ref, "Experiment id, unique prefix, or 'latest'")->required();
  add_run_options(sub, a->opts);
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_resume(ctx, *a); }; });
}

}  // namespace xrun::cli
