// `xrun resume EXP`: run again, in the same experiment, only the tasks that did not succeed.
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "xrun/cli/common.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::cli {

namespace {

struct ResumeArgs {
  std::string ref;
  backend::RunOptions opts;
  bool reload = false;
};

// --reload: the file as it is now replaces the plan of the tasks that did not succeed. Tasks
// match by position (stage by stage), so the new file must expand to the same stages with the
// same numbers of tasks; a task that succeeded keeps the commands it ran.
Result<size_t> reload_plan(Opened& o, const std::vector<store::TaskStatus>& statuses) {
  SpecInputs in;
  in.file = o.meta.value("file", std::string());
  if (o.meta.contains("set") && o.meta["set"].is_array())
    for (const auto& s : o.meta["set"])
      if (s.is_string()) in.sets.push_back(s.get<std::string>());
  auto ex = load_expander(in);
  if (!ex) return ex.error();
  auto fresh = ex->materialize();
  if (!fresh) return fresh.error();
  const auto& old = o.plan;
  auto differ = [&](const std::string& why) {
    return make_error(fmt::format("--reload: {} now expands differently: {}", in.file, why),
                      "tasks are matched by position, so the stages and their task counts must stay the same; run "
                      "the changed file as a new experiment (`xrun run`)");
  };
  if (fresh->stages.size() != old.stages.size())
    return differ(fmt::format("{} stages instead of {}", fresh->stages.size(), old.stages.size()));
  for (size_t s = 0; s < old.stages.size(); ++s) {
    if (fresh->stages[s].name != old.stages[s].name)
      return differ(fmt::format("stage {} is named '{}' instead of '{}'", s + 1, fresh->stages[s].name, old.stages[s].name));
    if (fresh->stages[s].tasks.size() != old.stages[s].tasks.size())
      return differ(fmt::format("stage '{}' has {} tasks instead of {}", old.stages[s].name, fresh->stages[s].tasks.size(),
                                old.stages[s].tasks.size()));
  }
  plan::Plan merged = fresh.value();
  size_t changed = 0;
  for (const auto& t : statuses) {
    auto& slot = merged.stages[t.stage].tasks[t.index];
    if (run::satisfied(t)) slot = old.stages[t.stage].tasks[t.index];  // keeps what it ran
    else if (slot.commands != old.stages[t.stage].tasks[t.index].commands) ++changed;
  }
  // The previous file and plan are kept beside the new ones.
  std::string stamp = fmt::format("{:.0f}", util::now_seconds() * 1000);
  XRUN_TRY(util::rename_path(o.exp.path("plan.json"), o.exp.path("plan." + stamp + ".json")));
  if (util::exists(o.exp.path("experiment.yml")))
    XRUN_TRY(util::rename_path(o.exp.path("experiment.yml"), o.exp.path("experiment." + stamp + ".yml")));
  XRUN_TRY(util::atomic_write(o.exp.path("experiment.yml"), ex->spec().source));
  XRUN_TRY(util::atomic_write(o.exp.path("plan.json"), merged.to_json().dump() + "\n"));
  o.meta["options"] = ex->spec().sections;
  XRUN_TRY(util::atomic_write(o.exp.path("meta.json"), o.meta.dump(2) + "\n"));
  o.plan = std::move(merged);
  return changed;
}

int do_resume(const Context& ctx, ResumeArgs& a) {
  auto o = open_experiment(ctx, a.ref);
  if (!o) return report(o.error());
  if (o->exp.runner_alive())
    return report(make_error(fmt::format("experiment {} is still being run", o->exp.id()),
                             "wait for it (xrun status --watch) or cancel it (xrun cancel) first"));
  auto statuses = o->statuses();
  // The file may have changed since the run: say so; --reload takes the new commands.
  const std::string file = o->meta.value("file", std::string());
  auto now = util::try_read_file(file);
  auto then = util::try_read_file(o->exp.path("experiment.yml"));
  if (!a.reload && (!now || !then || *now != *then)) {
    std::cerr << fmt::format("xrun: note: {} {} since experiment {} was run; resume reruns the commands it recorded "
                             "(`xrun resume --reload` takes the file as it is now)",
                             file, now ? "changed" : "is gone", o->exp.id())
              << std::endl;
  }
  const bool local = o->meta.value("backend", std::string("local")) == "local";
  size_t still_active = 0;
  for (const auto& t : statuses) {
    if (run::satisfied(t)) continue;
    if (t.state == store::State::Running) {
      // Local: a wrapper still alive here is adopted by the new runner. Elsewhere we cannot
      // tell, and a scheduler's running job must not be submitted twice.
      if (local && !t.wrapper_alive)
        return report(make_error(fmt::format("task {} is running on host {}", t.id, t.host),
                                 "resume from that host, or cancel the task first"));
      if (!local) {
        ++still_active;
        continue;
      }
    }
    if (!local && !t.backend_state.empty() && !store::is_final(t.state)) {  // still queued
      ++still_active;
      continue;
    }
    a.opts.to_run.insert(t.id);
  }
  if (a.opts.to_run.empty()) {
    std::cout << o->exp.id() << std::endl;
    if (!a.opts.quiet) {
      if (still_active)
        std::cerr << fmt::format("xrun: nothing to resume: {} task{} of {} {} still queued or running (xrun status {})",
                                 still_active, still_active == 1 ? "" : "s", o->exp.id(), still_active == 1 ? "is" : "are",
                                 o->exp.id())
                  << std::endl;
      else
        std::cerr << "xrun: nothing to resume: every task of " << o->exp.id() << " succeeded" << std::endl;
    }
    return kSuccess;
  }
  if (a.reload) {  // after the check above: a reload never happens for nothing
    if (!now)
      return report(make_error(fmt::format("--reload: cannot read {}", file), "the experiment's file was moved or removed"));
    auto changed = reload_plan(o.value(), statuses);
    if (!changed) return report(changed.error());
    if (!a.opts.quiet)
      std::cerr << fmt::format("xrun: --reload: {} re-read; {} task{} not yet succeeded now run{} a new command",
                               file, changed.value(), changed.value() == 1 ? "" : "s", changed.value() == 1 ? "s" : "")
                << std::endl;
  }
  // Earlier cancel requests applied to earlier attempts: keep them as history.
  if (util::is_dir(o->exp.path("cancel"))) {
    auto r = util::rename_path(o->exp.path("cancel"), o->exp.path(fmt::format("cancel.{:.0f}", util::now_seconds() * 1000)));
    if (!r) return report(r.error());
  }
  a.opts.resume = true;
  spdlog::debug("resume {}: task(s) to run: {}", o->exp.id(), fmt::join(a.opts.to_run, " "));
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
  sub->add_flag("--reload", a->reload,
                "Re-read the experiment file and rerun the tasks that did not succeed with their new commands");
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_resume(ctx, *a); }; });
}

}  // namespace xrun::cli
