// `xrun status [EXP]`: the experiment's state, counts per stage and state, and its tasks.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "xrun/cli/common.hpp"
#include "xrun/ops/select.hpp"
#include "xrun/run/process.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/text.hpp"

namespace xrun::cli {

namespace {

struct StatusArgs {
  std::string ref = "latest";
  bool json = false;
  bool watch = false;
  bool all = false;
  bool exit_code = false;
  std::vector<std::string> states;  // --state FAILED,LOST
  std::vector<std::string> where;   // --where 'lr=0.1,seed<3'
  double interval = 0;
};

int do_status(const Context& ctx, const StatusArgs& a) {
  auto only = parse_states(a.states);
  if (!only) return report(only.error());
  auto selection = ops::parse_selection(a.where, only.value());
  if (!selection) return report(selection.error());
  auto o = open_experiment_by_name(ctx, a.ref);
  if (!o) return report(o.error());
  auto keep = ops::selector(o->plan, selection.value());
  if (!keep) return report(keep.error());
  // --exit-code: 0 when every task succeeded (or was skipped as done), else 1.
  auto result = [&](const std::vector<store::TaskStatus>& st) {
    if (!a.exit_code) return static_cast<int>(kSuccess);
    return std::all_of(st.begin(), st.end(), [](const store::TaskStatus& t) { return run::satisfied(t); })
               ? static_cast<int>(kSuccess)
               : static_cast<int>(kFailure);
  };
  const bool local = o->meta.value("backend", std::string("local")) == "local";
  // Schedulers are polled no faster than every 5 s by default (one call per refresh).
  double interval = a.interval > 0 ? a.interval : (local ? 2.0 : 5.0);
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP});
  const bool tty = ::isatty(1);
  for (;;) {
    // Without the scheduler's view (its controller down), what the store knows is shown, with a
    // warning; a one-shot status then exits 1 (a watch goes on).
    std::optional<Error> blind;
    auto st = o->statuses(&blind);
    if (blind)
      std::cerr << fmt::format("xrun: warning: {}{}; the states shown are what the store knows\n", blind->what,
                               blind->hint.empty() ? "" : " (" + blind->hint + ")")
                << std::flush;
    if (a.json) {
      run::write_status_json(std::cout, o->exp, o->meta, o->plan, st, keep.value());
      std::cout.flush();
    } else {
      std::ostringstream out;
      run::print_status(out, o->exp, o->meta, o->plan, st, a.all, keep.value());
      if (a.watch && tty) std::cout << "\033[H\033[2J";
      std::cout << out.str() << std::flush;
    }
    if (!a.watch) return blind ? static_cast<int>(kFailure) : result(st);
    // (Blind, the store alone cannot tell that it ended: the watch goes on.)
    if (!blind && run::experiment_state(st, o->exp.runner_alive()) != "running") return result(st);
    if (sigs.wait(interval) != 0) return a.exit_code ? static_cast<int>(kInterrupted) : static_cast<int>(kSuccess);
  }
}

}  // namespace

void set_status_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("status", "Show an experiment's state and its tasks (default: the latest)");
  auto a = std::make_shared<StatusArgs>();
  sub->add_option("experiment", a->ref, "Experiment id, unique prefix, name (its latest run), or 'latest'");
  sub->add_flag("--json", a->json, "The full status document as JSON (stable)");
  sub->add_flag("-w,--watch", a->watch, "Refresh until the experiment ends");
  sub->add_flag("-a,--all", a->all, "Show every task (by default, beyond 50 tasks only those not SUCCEEDED)");
  sub->add_option("--state", a->states, "Only tasks in these states, e.g. --state FAILED,LOST (table and --json)")
      ->type_name("STATE[,STATE]");
  sub->add_option("--where", a->where,
                  "Only tasks whose variables and state match, e.g. --where 'lr=0.1,seed<3' (table and --json; see `xrun help status`)");
  sub->add_flag("--exit-code", a->exit_code,
                "Exit 0 when every task succeeded, 1 otherwise (with --watch: once the experiment ends)");
  sub->add_option("--interval", a->interval, "Seconds between refreshes with --watch (default 2; 5 for schedulers)")
      ->check(CLI::Range(0.1, 3600.0));
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_status(ctx, *a); }; });
}

}  // namespace xrun::cli
