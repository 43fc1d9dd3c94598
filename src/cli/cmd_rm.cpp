// `xrun rm EXP...`: delete experiments from the run store (a running one only with --force,
// which cancels it first).
#include <iostream>
#include <memory>
#include <optional>

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

// What `rm` removes: an experiment that opens, a damaged one (its reason), or a half-made one.
struct Target {
  store::Experiment exp;
  std::optional<Opened> opened;
  std::string damage;
};

int do_rm(const Context& ctx, const RmArgs& a) {
  // Resolve every reference first: a typo removes nothing.
  auto store = store::Store::open(ctx.store);
  std::vector<Target> targets;
  for (const auto& ref : a.refs) {
    if (ref.empty()) return report(make_error("an empty experiment reference", "give ids, unique prefixes or 'latest'"));
    auto e = store.find(ref);
    if (!e) {
      // A half-made experiment (its creation cut short) by its exact id.
      if (auto h = store.half_made(ref); h && h->creator_gone) {
        targets.push_back(Target{store::Experiment(ref, store.experiments_dir() + "/" + ref), std::nullopt,
                                 "half-made: its creation was cut short"});
        continue;
      }
      return report(e.error());
    }
    Target t{e.value(), std::nullopt, ""};
    if (auto o = open_experiment(ctx, e->id())) t.opened = std::move(o.value());
    else t.damage = "damaged: " + o.error().what;  // removed all the same (its reason is said)
    targets.push_back(std::move(t));
  }
  int code = kSuccess;
  for (auto& t : targets) {
    if (!t.opened) {
      // Without its plan its tasks cannot be cancelled: a live runner is left to end first.
      if (t.exp.runner_alive()) {
        report(make_error(fmt::format("experiment {} is {}, and its runner is still alive; it was not removed",
                                      t.exp.id(), t.damage),
                          "stop its runner (its pid is in runner.json), then `xrun rm` it"));
        code = kFailure;
        continue;
      }
    } else {
      auto& o = *t.opened;
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
        for (const auto& s : st)
          if (!store::is_final(s.state)) open.push_back(s);
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
    }
    if (auto r = store.remove(t.exp); !r) {
      report(r.error());
      code = kFailure;
      continue;
    }
    std::cout << "removed " << t.exp.id() << std::endl;
    if (!t.damage.empty()) std::cerr << fmt::format("xrun: {} was {}", t.exp.id(), t.damage) << std::endl;
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
