// `xrun gc --older-than 30d [--keep-failed] [--dry-run]`: delete old finished experiments.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "xrun/cli/common.hpp"
#include "xrun/ops/gc.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::cli {

namespace {

struct GcArgs {
  std::string older_than;
  bool keep_failed = false;
  bool dry_run = false;
};

int do_gc(const Context& ctx, const GcArgs& a) {
  auto age = ops::parse_age(a.older_than);
  if (!age) return report(age.error());
  auto store = store::Store::open(ctx.store);
  size_t removed = 0, kept = 0;
  int code = kSuccess;
  for (const auto& c : ops::gc_candidates(ctx.store, age.value(), a.keep_failed)) {
    if (c.keep) {
      ++kept;
      continue;
    }
    if (a.dry_run) {
      std::cout << fmt::format("would remove {} ({})", c.id, c.state) << std::endl;
      ++removed;
      continue;
    }
    auto e = store.find(c.id);
    if (!e) continue;
    if (auto r = store.remove(e.value()); !r) {
      report(r.error());
      code = kFailure;  // a runtime failure
      continue;
    }
    std::cout << fmt::format("removed {} ({})", c.id, c.state) << std::endl;
    ++removed;
  }
  size_t leftovers = a.dry_run ? 0 : store.remove_leftovers();
  std::cerr << fmt::format("xrun: gc: {} {} experiment{}{}{}", a.dry_run ? "would remove" : "removed", removed,
                           removed == 1 ? "" : "s", kept ? fmt::format(", kept {} (running, queued, scheduler unreachable or --keep-failed)", kept) : "",
                           leftovers ? fmt::format(", cleaned {} interrupted removal{}", leftovers, leftovers == 1 ? "" : "s") : "")
            << std::endl;
  return code;
}

}  // namespace

void set_gc_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("gc", "Delete experiments older than an age (never running ones)");
  auto a = std::make_shared<GcArgs>();
  sub->add_option("--older-than", a->older_than, "Age of the last activity: 30d, 12h, 90m, 2w, 3600s")->required();
  sub->add_flag("--keep-failed", a->keep_failed, "Keep experiments that failed or are incomplete (to inspect or resume)");
  sub->add_flag("-n,--dry-run", a->dry_run, "Print what would be removed, remove nothing");
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_gc(ctx, *a); }; });
}

}  // namespace xrun::cli
