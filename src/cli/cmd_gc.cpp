// `xrun gc --older-than 30d [--keep-failed] [--dry-run]`: delete old finished experiments.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "xrun/cli/common.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::cli {

namespace {

struct GcArgs {
  std::string older_than;
  bool keep_failed = false;
  bool dry_run = false;
};

// "30d", "12h", "90m", "2w", "3600s"; a bare number is days.
Result<double> parse_age(const std::string& text) {
  static const std::vector<std::pair<char, double>> units = {
      {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
  if (text.empty()) return make_error("--older-than needs an age", "e.g. --older-than 30d (s, m, h, d, w)");
  double unit = 86400;
  std::string num = text;
  for (const auto& [c, f] : units)
    if (text.back() == c) {
      unit = f;
      num = text.substr(0, text.size() - 1);
    }
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (num.empty() || *end != '\0' || !(v >= 0) || v > 1e6)
    return make_error(fmt::format("--older-than '{}' is not an age", text), "e.g. --older-than 30d (s, m, h, d, w)");
  return v * unit;
}

int do_gc(const Context& ctx, const GcArgs& a) {
  auto age = parse_age(a.older_than);
  if (!age) return report(age.error());
  const double cutoff = util::now_seconds() - age.value();
  auto store = store::Store::open(ctx.store);
  size_t removed = 0, kept = 0;
  for (const auto& id : store.list()) {
    auto o = open_experiment(ctx, id);
    if (!o) continue;  // damaged: `xrun list` shows it; remove it by name with `xrun rm`
    // Its age is that of its last activity: creation, or the end of its latest runner.
    double last = o->meta.value("created", 0.0);
    if (auto r = o->exp.runner(); r && r->is_object() && r->contains("ended") && (*r)["ended"].is_number())
      last = std::max(last, (*r)["ended"].get<double>());
    if (last > cutoff) continue;
    auto st = o->statuses();
    std::string state = run::experiment_state(st, o->exp.runner_alive());
    if (state == "running" || (a.keep_failed && (state == "failed" || state == "incomplete"))) {
      ++kept;
      continue;
    }
    if (a.dry_run) {
      std::cout << fmt::format("would remove {} ({})", id, state) << std::endl;
      ++removed;
      continue;
    }
    if (auto r = o->store.remove(o->exp); !r) {
      report(r.error());
      continue;
    }
    std::cout << fmt::format("removed {} ({})", id, state) << std::endl;
    ++removed;
  }
  size_t leftovers = a.dry_run ? 0 : store.remove_leftovers();
  std::cerr << fmt::format("xrun: gc: {} {} experiment{}{}{}", a.dry_run ? "would remove" : "removed", removed,
                           removed == 1 ? "" : "s", kept ? fmt::format(", kept {} (running or --keep-failed)", kept) : "",
                           leftovers ? fmt::format(", cleaned {} interrupted removal{}", leftovers, leftovers == 1 ? "" : "s") : "")
            << std::endl;
  return kSuccess;
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
