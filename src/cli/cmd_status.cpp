// `xrun status [EXP]`: the experiment's state, counts per stage and state, and its tasks.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <sstream>

#include "xrun/cli/common.hpp"
#include "xrun/run/process.hpp"
#include "xrun/run/report.hpp"

namespace xrun::cli {

namespace {

struct StatusArgs {
  std::string ref = "latest";
  bool json = false;
  bool watch = false;
  bool all = false;
  double interval = 0;
};

int do_status(const Context& ctx, const StatusArgs& a) {
  auto o = open_experiment(ctx, a.ref);
  if (!o) return report(o.error());
  const bool local = o->meta.value("backend", std::string("local")) == "local";
  // Schedulers are polled no faster than every 5 s by default (one call per refresh).
  double interval = a.interval > 0 ? a.interval : (local ? 2.0 : 5.0);
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP});
  const bool tty = ::isatty(1);
  for (;;) {
    auto st = o->statuses();
    if (a.json) {
      run::write_status_json(std::cout, o->exp, o->meta, o->plan, st);
      std::cout.flush();
    } else {
      std::ostringstream out;
      run::print_status(out, o->exp, o->meta, o->plan, st, a.all);
      if (a.watch && tty) std::cout << "\033[H\033[2J";
      std::cout << out.str() << std::flush;
    }
    if (!a.watch) return kSuccess;
    if (run::experiment_state(st, o->exp.runner_alive()) != "running") return kSuccess;
    if (sigs.wait(interval) != 0) return kSuccess;
  }
}

}  // namespace

void set_status_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("status", "Show an experiment's state and its tasks (default: the latest)");
  auto a = std::make_shared<StatusArgs>();
  sub->add_option("experiment", a->ref, "Experiment id, unique prefix, or 'latest'");
  sub->add_flag("--json", a->json, "The full status document as JSON (stable)");
  sub->add_flag("-w,--watch", a->watch, "Refresh until the experiment ends");
  sub->add_flag("-a,--all", a->all, "Show every task (by default, beyond 50 tasks only those not SUCCEEDED)");
  sub->add_option("--interval", a->interval, "Seconds between refreshes with --watch (default 2; 5 for schedulers)")
      ->check(CLI::Range(0.1, 3600.0));
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_status(ctx, *a); }; });
}

}  // namespace xrun::cli
