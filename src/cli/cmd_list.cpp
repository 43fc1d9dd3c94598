// `xrun list [NAME]`: experiments in the store, newest first, with counts per state; the table
// groups the runs of one name (names in the order of their latest run).
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "xrun/cli/common.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::cli {

namespace {

int do_list(const Context& ctx, bool as_json, const std::string& name) {
  auto st = store::Store::open(ctx.store);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& id : st.list()) {
    if (!name.empty() && store::name_of_id(id) != name) continue;
    auto damaged = [&](const Error& err) {  // one damaged experiment never hides the others
      out.push_back({{"id", id}, {"name", ""}, {"backend", ""}, {"created", 0.0}, {"tasks", 0}, {"state", "damaged"},
                     {"counts", nlohmann::ordered_json::object()}, {"error", err.what}});
    };
    store::Experiment exp(id, st.experiments_dir() + "/" + id);
    auto meta = exp.meta();
    if (!meta) {
      damaged(meta.error());
      continue;
    }
    if (auto d = exp.index_damage()) {
      damaged(make_error(fmt::format("experiment '{}' is damaged: {}", id, *d)));
      continue;
    }
    nlohmann::ordered_json counts, state, tasks = meta->value("tasks", nlohmann::ordered_json());
    bool alive = exp.runner_alive();
    // A finished experiment's counts come from summary.json, unless something changed since
    // (its plan included: the plan is not read at all then).
    auto summary = util::try_read_file(exp.path("summary.json"));
    nlohmann::ordered_json sj;
    if (summary) {
      try {
        sj = nlohmann::ordered_json::parse(*summary);
      } catch (...) {
        sj = nullptr;
      }
    }
    bool fresh = sj.is_object() && sj.contains("state") && sj["state"].is_string() && sj.contains("counts") &&
                 sj["counts"].is_object() && !alive && sj["state"] != "running" && sj["state"] != "incomplete" &&
                 !util::is_dir(exp.path("cancel")) && sj.value("plan", std::string()) == exp.plan_stamp() &&
                 tasks.is_number_unsigned();
    if (fresh)
      for (auto& [k, v] : sj["counts"].items())
        if (!v.is_number_unsigned()) fresh = false;  // a damaged cache is recomputed
    if (fresh) {
      counts = sj["counts"];
      state = sj["state"];
    } else {
      auto o = open_experiment(ctx, id);
      if (!o) {
        damaged(o.error());
        continue;
      }
      auto s = o->statuses();
      counts = run::counts_json(s);
      state = run::experiment_state(s, alive);
      tasks = o->plan.task_count();
    }
    out.push_back({{"id", id},
                   {"name", meta->value("name", "")},
                   {"backend", meta->value("backend", "local")},
                   {"created", meta->value("created", 0.0)},
                   {"tasks", tasks},
                   {"state", state},
                   {"counts", counts}});
  }
  // A damaged experiment is listed with what is wrong, and the exit code says there is one.
  bool any_damaged = false;
  for (const auto& x : out) any_damaged = any_damaged || x["state"] == "damaged";
  const int code = any_damaged ? kFailure : kSuccess;
  if (as_json) {
    // Text that is not UTF-8 (an id, a damaged file's bytes in its reason) is written with
    // U+FFFD in place of its bad bytes, never an error for the whole list.
    std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
    return code;
  }
  if (out.empty()) {
    std::cerr << "xrun: no experiments in " << st.root() << std::endl;
    return kSuccess;
  }
  // Runs of one name together, the names in the order of their latest run, newest first within.
  std::vector<std::string> names;
  std::map<std::string, std::vector<const nlohmann::ordered_json*>> runs;
  for (const auto& e : out) {
    std::string n = store::name_of_id(e["id"].get<std::string>());
    if (!runs.count(n)) names.push_back(n);
    runs[n].push_back(&e);
  }
  fmt::print("{:<44} {:<8} {:<11} {:>6}  {}\n", "ID", "BACKEND", "STATE", "TASKS", "COUNTS");
  size_t previous = 0;  // runs in the group before (a blank line sets a group of several apart)
  for (const auto& n : names) {
    if (previous > 0 && (previous > 1 || runs[n].size() > 1)) fmt::print("\n");
    previous = runs[n].size();
    for (const auto* ep : runs[n]) {
    const auto& e = *ep;
    std::string c;
    for (auto& [k, v] : e["counts"].items())
      if (v.get<size_t>() > 0) c += fmt::format("{}{} {}", c.empty() ? "" : ", ", v.get<size_t>(), k);
    if (e.contains("error")) c = e["error"].get<std::string>();
    fmt::print("{:<44} {:<8} {:<11} {:>6}  {}\n", e["id"].get<std::string>(), e["backend"].get<std::string>(),
               e["state"].get<std::string>(), e["tasks"].get<size_t>(), c);
    }
  }
  return code;
}

}  // namespace

void set_list_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("list", "List the experiments in the run store, newest first, runs of one name together");
  auto as_json = std::make_shared<bool>(false);
  auto name = std::make_shared<std::string>();
  sub->add_option("name", *name, "Only the runs of this name (the part of an id before -YYYYMMDD-HHMMSS-xxxx)");
  sub->add_flag("--json", *as_json, "As JSON (newest first)");
  sub->callback([&ctx, as_json, name] { ctx.action = [&ctx, as_json, name] { return do_list(ctx, *as_json, *name); }; });
}

}  // namespace xrun::cli
