#include "xrun/ops/create.hpp"

#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/backend/backend.hpp"
#include "xrun/plan/stage_graph.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/spec/options.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::ops {

using json = nlohmann::ordered_json;

Result<std::string> choose_backend(const std::string& flag, const spec::Spec& sp) {
  if (flag == "shell") return std::string("local");
  if (!flag.empty()) return flag;
  std::vector<std::string> found;
  for (const char* b : {"slurm", "pbs", "docker"}) {
    bool has = sp.has_section(b);
    for (const auto& st : sp.stages) has = has || st.sections.contains(b);  // a job's own section
    if (has) found.push_back(b);
  }
  if (found.size() > 1)
    return make_error(fmt::format("the file has sections for several backends ({})", fmt::join(found, ", ")),
                      "choose one with --backend NAME");
  return found.empty() ? std::string("local") : found[0];
}

Result<void> validate_options(const spec::Spec& sp, const std::string& backend) {
  auto b = backend::make(backend);
  if (!b) return b.error();
  auto at = [&](const std::string& key) {
    auto it = sp.option_locs.find(key);
    return it != sp.option_locs.end() ? it->second : spec::Loc{1, 1};
  };
  // One option at a time (by its general name), so that an error points at its own line: the
  // top-level sections, then each job's own.
  auto check_sections = [&](const json& sections, const std::string& prefix) -> Result<void> {
    for (const char* section : {"scheduler", backend.c_str()}) {
      if (!sections.contains(section) || !sections[section].is_object()) continue;
      for (const auto& [key, value] : sections[section].items()) {
        if (!prefix.empty() && key == "resources")
          return spec::error_at(sp.path, at(prefix + section + "." + key),
                                "what the machine has ('resources') is declared for the whole file, not for one job",
                                "move it to the top-level `" + std::string(section) +
                                    ":` section (or use --resources); a job asks with its own `resources: {gpu: 1}`");
        json one = json::object();
        one[spec::generic_option_name(key)] = value;
        if (auto r = b.value()->check_options(one); !r)
          return spec::error_at(sp.path, at(prefix + section + "." + key), r.error().what, r.error().hint);
      }
    }
    return {};
  };
  XRUN_TRY(check_sections(sp.sections, ""));
  for (size_t k = 0; k < sp.stages.size(); ++k) XRUN_TRY(check_sections(sp.stages[k].sections, fmt::format("jobs.{}.", k + 1)));
  // Then all together, at the backend's section (each stage's own options where it has some).
  if (auto r = b.value()->check_complete(sp.options_for(backend)); !r) {
    bool fixed_by_stages = !sp.stages.empty();
    for (const auto& st : sp.stages)
      if (!b.value()->check_complete(stage_options(sp, st, backend))) fixed_by_stages = false;
    if (!fixed_by_stages) return spec::error_at(sp.path, at(backend), r.error().what, r.error().hint);
  }
  for (size_t k = 0; k < sp.stages.size(); ++k) {
    if (sp.stages[k].sections.empty()) continue;
    if (auto r = b.value()->check_complete(stage_options(sp, sp.stages[k], backend)); !r)
    {
      auto it = sp.option_locs.find(fmt::format("jobs.{}.{}", k + 1, backend));
      return spec::error_at(sp.path, it != sp.option_locs.end() ? it->second : sp.stages[k].loc,
                            fmt::format("job '{}': {}", sp.stages[k].name, r.error().what), r.error().hint);
    }
  }
  return {};
}

json stage_options(const spec::Spec& sp, const spec::StageSpec& st, const std::string& backend) {
  return spec::stage_options(sp.sections, st.sections, backend);
}

std::vector<StageOutline> outline_stages(const spec::Spec& sp, const std::string& backend) {
  // The graph needs only the stages' names, dependencies and on_failure, not their tasks.
  plan::Plan skeleton;
  for (const auto& st : sp.stages) {
    plan::Stage s;
    s.name = st.name;
    s.on_failure = st.on_failure;
    for (const auto& d : st.depends_on) s.after.push_back({d.stage, d.per_task});
    skeleton.stages.push_back(std::move(s));
  }
  auto g = plan::StageGraph::of(skeleton, false);
  std::vector<StageOutline> out;
  for (size_t s : g.order()) {
    const auto& st = sp.stages[s];
    std::vector<StageOutline::Need> needs;
    for (const auto& n : g.needs(s)) needs.push_back({sp.stages[n.stage].name, n.success, n.per_task});
    out.push_back({st.name, g.describe_needs(s), needs, stage_options(sp, st, backend), st.resources});
  }
  return out;
}

Result<void> validate_demands(const spec::Spec& sp, const std::string& backend, const backend::RunOptions& opts) {
  auto b = backend::make(backend);
  if (!b) return b.error();
  for (size_t k = 0; k < sp.stages.size(); ++k) {
    const auto& st = sp.stages[k];
    if (st.resources.empty()) continue;
    if (auto r = b.value()->check_demand(stage_options(sp, st, backend), opts, st.resources); !r) {
      auto it = sp.option_locs.find(fmt::format("jobs.{}.resources.{}", k + 1, st.resources.front().first));
      for (const auto& [name, n] : st.resources)
        if (r.error().what.find("'" + name + "'") != std::string::npos)
          it = sp.option_locs.find(fmt::format("jobs.{}.resources.{}", k + 1, name));
      return spec::error_at(sp.path, it != sp.option_locs.end() ? it->second : st.loc,
                            fmt::format("job '{}': {}", st.name, r.error().what), r.error().hint);
    }
  }
  return {};
}

std::vector<spec::Warning> option_warnings(const spec::Spec& sp, const std::string& backend) {
  std::vector<spec::Warning> out;
  for (const auto& [section, key] : spec::foreign_options_dropped(sp.sections, backend)) {
    auto it = sp.option_locs.find(section + "." + key);
    out.push_back({it != sp.option_locs.end() ? it->second : spec::Loc{1, 1},
                   fmt::format("{} option '{}' has no equivalent on {}: it is left out (the general options walltime, "
                               "cpus, mem, gpus, nodes, account, partition, email, name and setup are translated)",
                               section, key, backend)});
  }
  return out;
}

Result<store::Experiment> create_experiment(const store::Store& st, const spec::Spec& sp, const plan::Plan& p,
                                            const std::string& backend, const std::vector<std::string>& sets,
                                            uint64_t limit) {
  auto e = st.create(sp.name);
  if (!e) return e.error();
  const auto& exp = e.value();
  auto claim = store::Creation::begin(exp);  // held until meta.json is written: see Store::half_made
  if (!claim) {
    util::remove_all(exp.dir());
    return claim.error();
  }
  json stages = json::array();
  for (const auto& s : p.stages)
    stages.push_back(json{{"name", s.name}, {"on_failure", spec::to_string(s.on_failure)}, {"tasks", s.tasks.size()}});
  const char* user = std::getenv("USER");
  json meta{{"id", exp.id()},
            {"name", sp.name},
            {"file", util::absolute(sp.path)},
            {"workdir", sp.workdir_base},
            {"shell", sp.shell},
            {"backend", backend},
            {"created", util::now_seconds()},
            {"host", util::hostname()},
            {"user", user ? user : ""},
            {"xrun_version", XRUN_VERSION},
            {"set", sets},
            {"limit", limit},
            {"options", sp.sections},
            {"tasks", p.task_count()},
            {"stages", stages}};
  if (sp.workdir_template) meta["workdir_template"] = sp.workdir;  // each task's workdir is in plan.json
  auto fail = [&](const Error& err) {
    util::remove_all(exp.dir());  // never leave a half-made experiment behind
    return err;
  };
  if (auto r = util::atomic_write(exp.path("experiment.yml"), sp.source, true); !r) return fail(r.error());
  if (auto r = util::atomic_write(exp.path("plan.json"), p.to_json().dump() + "\n", true); !r) return fail(r.error());
  if (auto r = util::atomic_write(exp.path("wrapper.sh"), run::wrapper_script(sp.shell), true); !r) return fail(r.error());
  if (auto r = util::make_dirs(exp.path("tasks")); !r) return fail(r.error());
  util::crash_point("create:half");
  // meta.json last, once the others are on disk: an experiment without it is not listed, so
  // readers never see a half-made one, even after a crash of the machine.
  if (auto r = util::atomic_write(exp.path("meta.json"), meta.dump(2) + "\n", true); !r) return fail(r.error());
  claim->done();
  return exp;
}

}  // namespace xrun::ops
