#include "xrun/ops/create.hpp"

#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/backend/backend.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/spec/options.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::ops {

using json = nlohmann::ordered_json;

Result<std::string> choose_backend(const std::string& flag, const spec::Spec& sp) {
  if (flag == "shell") return std::string("local");
  if (!flag.empty()) return flag;
  std::vector<std::string> found;
  for (const char* b : {"slurm", "pbs", "docker"})
    if (sp.has_section(b)) found.push_back(b);
  if (found.size() > 1)
    return make_error(fmt::format("the file has sections for several backends ({})", fmt::join(found, ", ")),
                      "choose one with --backend NAME");
  return found.empty() ? std::string("local") : found[0];
}

Result<void> validate_options(const spec::Spec& sp, const std::string& backend) {
  auto b = backend::make(backend);
  if (!b) return b.error();
  // One option at a time (by its general name), so that an error points at its own line.
  for (const char* section : {"scheduler", backend.c_str()}) {
    if (!sp.sections.contains(section) || !sp.sections[section].is_object()) continue;
    for (const auto& [key, value] : sp.sections[section].items()) {
      json one = json::object();
      one[spec::generic_option_name(key)] = value;
      if (auto r = b.value()->check_options(one); !r) {
        auto it = sp.option_locs.find(std::string(section) + "." + key);
        return spec::error_at(sp.path, it != sp.option_locs.end() ? it->second : spec::Loc{1, 1}, r.error().what,
                              r.error().hint);
      }
    }
  }
  // Then all together, at the backend's section.
  if (auto r = b.value()->check_complete(sp.options_for(backend)); !r) {
    auto it = sp.option_locs.find(backend);
    return spec::error_at(sp.path, it != sp.option_locs.end() ? it->second : spec::Loc{1, 1}, r.error().what,
                          r.error().hint);
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
  json stages = json::array();
  for (const auto& s : p.stages)
    stages.push_back(json{{"name", s.name}, {"on_failure", spec::to_string(s.on_failure)}, {"tasks", s.tasks.size()}});
  const char* user = std::getenv("USER");
  json meta{{"id", exp.id()},
            {"name", sp.name},
            {"file", util::absolute(sp.path)},
            {"workdir", sp.workdir},
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
  auto fail = [&](const Error& err) {
    util::remove_all(exp.dir());  // never leave a half-made experiment behind
    return err;
  };
  if (auto r = util::atomic_write(exp.path("experiment.yml"), sp.source); !r) return fail(r.error());
  if (auto r = util::atomic_write(exp.path("plan.json"), p.to_json().dump() + "\n"); !r) return fail(r.error());
  if (auto r = util::atomic_write(exp.path("wrapper.sh"), run::wrapper_script(sp.shell)); !r) return fail(r.error());
  if (auto r = util::make_dirs(exp.path("tasks")); !r) return fail(r.error());
  // meta.json last: an experiment without it is not listed, so readers never see a half-made one.
  if (auto r = util::atomic_write(exp.path("meta.json"), meta.dump(2) + "\n"); !r) return fail(r.error());
  return exp;
}

}  // namespace xrun::ops
