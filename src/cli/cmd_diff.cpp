// `xrun diff EXP [FILE] [--json]`: what `resume --reload` would change, by task identity,
// without acting (ops::diff_reload, the function the reload itself uses).
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "xrun/cli/common.hpp"
#include "xrun/ops/resume.hpp"
#include "xrun/run/report.hpp"

namespace xrun::cli {

namespace {

using ojson = nlohmann::ordered_json;

struct DiffArgs {
  std::string ref;
  std::string file;
  bool json = false;
};

std::string vars_text(const plan::Task& t) {
  std::string out;
  for (const auto& [name, v] : t.variables) out += fmt::format("{}{}={}", out.empty() ? "" : " ", name, v.to_json().dump());
  return out;
}

ojson task_json(const plan::Task& t, const std::string& stage) {
  ojson vars = ojson::object();
  for (const auto& [name, v] : t.variables) vars[name] = v.to_json();
  return ojson{{"id", t.id}, {"stage", stage}, {"index", t.index}, {"variables", vars}, {"commands", t.commands}};
}

int do_diff(const Context& ctx, const DiffArgs& a) {
  auto o = open_experiment_by_name(ctx, a.ref);
  if (!o) return report(o.error());
  std::optional<Error> blind;
  auto statuses = o->statuses(&blind);
  if (blind)
    std::cerr << fmt::format("xrun: warning: {} does not answer ({}): tasks it still queues may read as not yet run",
                             o->backend->name(), blind->what)
              << std::endl;
  auto r = ops::diff_reload(o.value(), statuses, a.file);
  if (!r) return report(r.error());
  const auto& d = r->diff;
  // Each task by id: the new plan's (new, rerun, kept, revived), the old one's (retired).
  std::map<size_t, std::pair<const plan::Task*, std::string>> now, before;
  for (const auto& st : r->merged.stages)
    for (const auto& t : st.tasks) now[t.id] = {&t, st.name};
  for (const auto& st : o->plan.stages)
    for (const auto& t : st.tasks) before[t.id] = {&t, st.name};
  std::map<size_t, std::string> state;
  for (const auto& t : statuses) state[t.id] = store::to_string(t.state);
  if (a.json) {
    auto list = [&](const std::vector<size_t>& ids, const std::map<size_t, std::pair<const plan::Task*, std::string>>& in,
                    bool with_state) {
      ojson out = ojson::array();
      for (size_t id : ids) {
        auto it = in.find(id);
        if (it == in.end()) continue;
        ojson j = task_json(*it->second.first, it->second.second);
        if (with_state) j["state"] = state.count(id) ? ojson(state[id]) : ojson(nullptr);
        out.push_back(std::move(j));
      }
      return out;
    };
    ojson j{{"experiment", o->exp.id()},
            {"file", r->file},
            {"summary", d.summary()},
            {"counts",
             {{"new", d.added.size()},
              {"rerun", d.rerun.size()},
              {"retired", d.retired.size()},
              {"kept", d.kept.size()},
              {"revived", d.revived.size()}}},
            {"new", list(d.added, now, false)},
            {"rerun", list(d.rerun, now, true)},
            {"retired", list(d.retired, before, true)},
            {"revived", d.revived},
            {"kept", d.kept},
            {"blocking", d.blocking}};
    std::cout << j.dump() << std::endl;
    return kSuccess;
  }
  std::cout << fmt::format("{} against experiment {}: {}\n", r->file, o->exp.id(), d.summary());
  auto print = [&](const char* what, const std::vector<size_t>& ids,
                   const std::map<size_t, std::pair<const plan::Task*, std::string>>& in, bool with_state) {
    for (size_t id : ids) {
      auto it = in.find(id);
      if (it == in.end()) continue;
      const auto& [t, stage] = it->second;
      std::cout << fmt::format("  {:<8} {:>6}  {}/{}{}  {}\n", what, id, stage, t->index,
                               with_state && state.count(id) ? " " + state[id] : "", vars_text(*t));
    }
  };
  print("new", d.added, now, false);
  print("rerun", d.rerun, now, true);
  print("retire", d.retired, before, true);
  if (!d.revived.empty()) print("back", d.revived, now, false);
  if (!d.blocking.empty())
    std::cout << fmt::format("  (a reload is refused while tasks it would retire are queued or running: cancel them "
                             "first)\n");
  return kSuccess;
}

}  // namespace

void set_diff_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand(
      "diff", "Show what `resume --reload` would change (new, rerun, retired and kept tasks, by identity), doing nothing");
  auto a = std::make_shared<DiffArgs>();
  sub->add_option("experiment", a->ref, "Experiment id, unique prefix, name (its latest run), or 'latest'")->required();
  sub->add_option("file", a->file, "The experiment file to compare (default: the one the experiment was run from)");
  sub->add_flag("--json", a->json, "Print the difference as JSON: the tasks of each kind");
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_diff(ctx, *a); }; });
}

}  // namespace xrun::cli
