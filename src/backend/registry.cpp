#include <map>

#include <fmt/format.h>

#include "xrun/backend/backend.hpp"
#include "xrun/backend/batch/engine.hpp"
#include "xrun/backend/batch/slurm.hpp"
#include "xrun/backend/pool/engine.hpp"
#include "xrun/backend/pool/process_launcher.hpp"
#include "xrun/spec/options.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend {

namespace {
using Factory = std::unique_ptr<Backend> (*)();
const std::map<std::string, Factory>& table() {
  static const std::map<std::string, Factory> t = {
      {"local", [] { return std::unique_ptr<Backend>(std::make_unique<pool::PoolBackend>(std::make_unique<pool::ProcessLauncher>())); }},
      {"slurm", [] { return std::unique_ptr<Backend>(std::make_unique<batch::BatchBackend>(std::make_unique<batch::SlurmDialect>())); }},
  };
  return t;
}
}  // namespace

std::vector<std::string> names() {
  std::vector<std::string> n;
  for (const auto& [k, v] : table()) n.push_back(k);
  return n;
}

Result<std::unique_ptr<Backend>> make(const std::string& name) {
  auto it = table().find(name);
  if (it == table().end()) {
    if (name == "pbs" || name == "docker")
      return make_error(fmt::format("the {} backend is not implemented yet (the file's `{}:` section or --backend "
                                    "asks for it)",
                                    name, name),
                        fmt::format("run with --backend local or --backend slurm (available: {})", fmt::join(names(), ", ")));
    std::string sg = util::suggest(name, names());
    return make_error(fmt::format("unknown backend '{}'", name),
                      sg.empty() ? fmt::format("available backends: {}", fmt::join(names(), ", "))
                                 : fmt::format("did you mean '{}'?", sg));
  }
  return it->second();
}

Result<std::string> choose(const std::string& flag, const spec::Spec& sp) {
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
  auto b = make(backend);
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
  return {};
}

}  // namespace xrun::backend
