#include <map>

#include <fmt/format.h>

#include "xrun/backend/backend.hpp"
#include "xrun/backend/batch/engine.hpp"
#include "xrun/backend/batch/pbs.hpp"
#include "xrun/backend/batch/slurm.hpp"
#include "xrun/backend/pool/container_launcher.hpp"
#include "xrun/backend/pool/engine.hpp"
#include "xrun/backend/pool/process_launcher.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend {

namespace {
using Factory = std::unique_ptr<Backend> (*)();
const std::map<std::string, Factory>& table() {
  static const std::map<std::string, Factory> t = {
      {"local", [] { return std::unique_ptr<Backend>(std::make_unique<pool::PoolBackend>(std::make_unique<pool::ProcessLauncher>())); }},
      {"docker", [] { return std::unique_ptr<Backend>(std::make_unique<pool::PoolBackend>(std::make_unique<pool::ContainerLauncher>())); }},
      {"pbs", [] { return std::unique_ptr<Backend>(std::make_unique<batch::BatchBackend>(std::make_unique<batch::PbsDialect>())); }},
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
    std::string sg = util::suggest(name, names());
    return make_error(fmt::format("unknown backend '{}'", name),
                      sg.empty() ? fmt::format("available backends: {}", fmt::join(names(), ", "))
                                 : fmt::format("did you mean '{}'?", sg));
  }
  return it->second();
}

}  // namespace xrun::backend
