// `xrun rm EXP...`: delete experiments from the run store (a running one only with --force,
// which cancels it first).
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xrun/cli/common.hpp"
#include "xrun/run/report.hpp"

namespace xrun::cli {

namespace {

constexpr double kRunnerGrace = 30;

struct RmArgs {
  std::vector<std::string> refs;
  bool force = false;
};

int do_rm(const Context& ctx, const RmArgs& a) {
  // Resolve every reference first: a typo removes nothing.
  std::vector<Opened> targets;
  for (const auto& ref : a.refs) {
    if (ref.empty()) return report(make_error("an empty experiment reference", "give ids, unique prefixes or 'latest'"));
    auto o = open_experiment(ctx, ref);
    if (!o) return report(o.error());
    targets.push_back(std::move(o.value()));
  }
  int code = kSuccess;
  for (auto& o : targets) {
    auto st = o.statuses();
    bool running = run::experiment_state(st, o.exp.runner_alive()) == "running";
    if (running && !a.force) {
      report(make_error(fmt::format("experiment {} is running; it was not removed", o.exp.id()),
                        "cancel it first (xrun cancel), or use `xrun rm --force`, which cancels it"));
      code = kBadInput;
      continue;
    }
    if (running) {
      std::vector<store::TaskStatus> open;
      for (const auto& t : st)
        if (!store::is_final(t.state)) open.push_back(t);
      if (auto r = cancel_tasks(o, open); !r) {
        report(r.error());
        code = kFailure;
        continue;
      }
      // Its runner records the cancelled tasks and ends; the folder goes once it has.
      if (!wait_runner_gone(o.exp, kRunnerGrace))
        spdlog::warn("the runner of experiment {} is still alive after {:.0f} s; removing its folder anyway",
                     o.exp.id(), kRunnerGrace);
    }
    if (auto r = o.store.remove(o.exp); !r) {
      report(r.error());
      code = kFailure;
      continue;
    }
    std::cout << "removed " << o.exp.id() << std::endl;
  }
  return code;
}

}  // namespace

void set_rm_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("rm", "Delete experiments from the run store (their tasks' logs included)");
  auto a = std::make_shared<RmArgs>();
  sub->add_option("experiments", a->refs, "Experiment ids, unique prefixes, or 'latest'")->required();
  sub->add_flag("-f,--force", a->force, "Also a running experiment: cancel it, then remove it");
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_rm(ctx, *a); }; });
}

}  // namespace xrun::cli
