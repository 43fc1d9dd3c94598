// `xrun run FILE`: expand, record the experiment in the store, and run it on a backend.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <set>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xrun/cli/common.hpp"
#include "xrun/ops/create.hpp"
#include "xrun/ops/reuse.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/store/store.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::cli {

namespace {

struct RunArgs {
  SpecInputs in;
  backend::RunOptions opts;
  std::string backend;
  bool dry_run = false;
  bool reuse = false;  // --reuse
};

int do_run(const Context& ctx, RunArgs& a) {
  auto ex = load_expander(a.in);
  if (!ex) return report(ex.error());
  if (!a.opts.quiet) print_warnings(a.in.file, ex->warnings());
  auto bname = ops::choose_backend(a.backend, ex->spec());
  if (!bname) return report(bname.error());
  auto backend = backend::make(bname.value());
  if (!backend) return report(backend.error());
  if (!a.opts.quiet) print_warnings(a.in.file, ops::option_warnings(ex->spec(), bname.value()));
  // Nothing is created before the file, the options and the backend's settings are valid.
  if (auto v = ops::validate_options(ex->spec(), bname.value()); !v) return report(v.error());
  if (auto v = ops::validate_demands(ex->spec(), bname.value(), a.opts); !v) return report(v.error());
  auto plan = ex->materialize();
  if (!plan) return report(plan.error());
  size_t n = plan->task_count();
  for (const auto& st : plan->stages)
    for (const auto& t : st.tasks) a.opts.to_run.insert(t.id);
  spdlog::debug("{}: {} task(s) in {} stage(s); backend {}", a.in.file, n, plan->stages.size(), bname.value());
  std::vector<bool> reuse(plan->stages.size());
  for (size_t s = 0; s < reuse.size(); ++s) reuse[s] = ex->spec().reuses(s, a.reuse);
  auto store = store::Store::open(ctx.store);

  if (a.dry_run) {
    // --skip-existing: leave out what the run would skip (its `creates` exists, or its
    // `requires` is missing), and say how many.
    size_t left_out = 0;
    const std::string workdir = ex->spec().workdir;
    const std::set<size_t> reusable = ops::would_reuse(store, ex.value(), plan.value(), bname.value(), reuse);
    auto skipped = [&](const plan::TaskRef& t) {
      if (!a.opts.skip_existing) return false;
      const std::string& wd = t.workdir ? *t.workdir : workdir;
      if (t.creates && util::exists(util::join(wd, *t.creates))) return true;
      return t.requires_ && !util::exists(util::join(wd, *t.requires_));
    };
    auto r = print_plan_text(ex.value(), std::cout, [&](size_t s, const plan::TaskRef& t) {
      if (reusable.count(plan->stages[s].tasks[t.index].id)) {
        a.opts.to_run.erase(plan->stages[s].tasks[t.index].id);
        return false;
      }
      if (!skipped(t)) return true;
      ++left_out;
      a.opts.to_run.erase(plan->stages[s].tasks[t.index].id);
      return false;
    });
    if (!r) return report(r.error());
    if (a.opts.skip_existing)
      std::cout << fmt::format("\n--skip-existing: {} task{} left out (their `creates` file exists or their `requires` "
                               "file is missing)\n",
                               left_out, left_out == 1 ? "" : "s");
    if (std::any_of(reuse.begin(), reuse.end(), [](bool b) { return b; }))
      std::cout << fmt::format("\nreuse: {} task{} left out (they succeeded in earlier experiments of the store)\n",
                               reusable.size(), reusable.size() == 1 ? "" : "s");
    std::cout << "\n";
    auto d = backend.value()->dry_run(std::cout, ex->spec().name, ex->spec().sections, plan.value(), a.opts);
    if (!d) return report(d.error());
    std::cout << "dry run: nothing was started\n";
    return kSuccess;
  }

  // What the backend can check before anything is created (its engine, its image).
  if (auto pf = backend.value()->preflight(ex->spec().options_for(bname.value())); !pf) return report(pf.error());
  auto exp = ops::create_experiment(store, ex->spec(), plan.value(), bname.value(), a.in.sets, a.in.limit);
  if (!exp) return report(exp.error());
  auto meta = exp->meta();
  if (!meta) return report(meta.error());
  std::cout << exp->id() << std::endl;  // the id first, alone on stdout
  if (!a.opts.quiet)
    std::cerr << fmt::format("xrun: experiment {}: {} task{} in {} stage{} on {}{}", exp->id(), n, n == 1 ? "" : "s",
                             plan->stages.size(), plan->stages.size() == 1 ? "" : "s", bname.value(),
                             a.opts.detach ? fmt::format("; running in the background (xrun status {})", exp->id()) : "")
              << std::endl;
  // Finished work of earlier experiments is recorded as reused, and left out of the run.
  auto reused = ops::reuse_finished(store, exp.value(), plan.value(), meta.value(), reuse);
  if (!reused) return report(reused.error());
  for (size_t id : *reused) a.opts.to_run.erase(id);
  if (!reused->empty() && !a.opts.quiet)
    std::cerr << fmt::format("xrun: {} task{} reused from earlier experiments, not run again", reused->size(),
                             reused->size() == 1 ? "" : "s")
              << std::endl;
  auto code = backend.value()->launch(exp.value(), plan.value(), meta.value(), a.opts);
  if (!code) return report(code.error());
  return code.value();
}

}  // namespace

void set_run_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("run", "Run every task of the experiment and record it in the run store");
  auto a = std::make_shared<RunArgs>();
  add_spec_options(sub, a->in, true);
  add_run_options(sub, a->opts);
  sub->add_option("-b,--backend,-s,--scheduler", a->backend, "Backend: local (alias: shell), slurm (default: from the file, else local)");
  sub->add_flag("-n,--dry-run", a->dry_run, "Print what would run, start nothing");
  sub->add_flag("--reuse", a->reuse,
                "Record a task whose content key succeeded in an earlier experiment of the store as reused, "
                "instead of running it (a stage's own `reuse:` wins)");
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_run(ctx, *a); }; });
}

}  // namespace xrun::cli
