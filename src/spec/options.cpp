#include "xrun/spec/options.hpp"

#include <map>

namespace xrun::spec {

std::string generic_option_name(const std::string& key) {
  static const std::map<std::string, std::string> aliases = {
      {"time", "walltime"},  {"ncpus", "cpus"},   {"cpus_per_task", "cpus"}, {"memory", "mem"},
      {"ngpus", "gpus"},     {"select", "nodes"}, {"project", "account"},    {"mail", "email"},
      {"queue", "partition"}};
  auto it = aliases.find(key);
  return it == aliases.end() ? key : it->second;
}

nlohmann::ordered_json merge_options(const nlohmann::ordered_json& sections, const std::string& backend) {
  auto out = nlohmann::ordered_json::object();
  auto setup = nlohmann::ordered_json::array();
  for (const std::string& sec : {std::string("scheduler"), backend}) {
    if (sec == "scheduler" && backend == "scheduler") continue;
    if (!sections.contains(sec) || !sections[sec].is_object()) continue;
    for (auto& [k, v] : sections[sec].items()) {
      if (k == "setup") {
        if (v.is_array())
          for (const auto& line : v) setup.push_back(line);
        else if (!v.is_null())
          setup.push_back(v);
        continue;
      }
      out[generic_option_name(k)] = v;
    }
  }
  if (!setup.empty()) out["setup"] = setup;
  return out;
}

}  // namespace xrun::spec
