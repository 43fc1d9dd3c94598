#include "xrun/spec/options.hpp"

#include <algorithm>
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

namespace {
// The batch scheduler whose section another one translates.
std::string foreign_of(const std::string& backend) {
  if (backend == "slurm") return "pbs";
  if (backend == "pbs") return "slurm";
  return "";
}
}  // namespace

bool is_general_option(const std::string& key) {
  static const std::vector<std::string> keys = {"walltime", "cpus",          "mem",         "gpus",        "nodes",
                                                "account",  "partition",     "email",       "name",        "jobs",
                                                "max_parallel", "concurrency", "kill_grace", "poll_interval", "setup"};
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::vector<std::pair<std::string, std::string>> foreign_options_dropped(const nlohmann::ordered_json& sections,
                                                                        const std::string& backend) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string f = foreign_of(backend);
  if (f.empty() || !sections.contains(f) || !sections[f].is_object()) return out;
  for (auto& [k, v] : sections[f].items())
    if (!is_general_option(generic_option_name(k))) out.emplace_back(f, k);
  return out;
}

nlohmann::ordered_json merge_options(const nlohmann::ordered_json& sections, const std::string& backend) {
  auto out = nlohmann::ordered_json::object();
  auto setup = nlohmann::ordered_json::array();
  const std::string foreign = foreign_of(backend);
  for (const std::string& sec : {std::string("scheduler"), foreign, backend}) {
    if (sec.empty() || (sec == "scheduler" && backend == "scheduler")) continue;
    if (!sections.contains(sec) || !sections[sec].is_object()) continue;
    for (auto& [k, v] : sections[sec].items()) {
      if (sec == foreign && !is_general_option(generic_option_name(k))) continue;  // no equivalent here
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

nlohmann::ordered_json stage_options(const nlohmann::ordered_json& top_sections,
                                     const nlohmann::ordered_json& stage_sections, const std::string& backend) {
  auto out = merge_options(top_sections, backend);
  if (!stage_sections.is_object() || stage_sections.empty()) return out;
  const auto own = merge_options(stage_sections, backend);
  for (auto& [k, v] : own.items()) {
    if (k != "setup" || !out.contains("setup")) {
      out[k] = v;
      continue;
    }
    for (const auto& line : v) out["setup"].push_back(line);
  }
  return out;
}

}  // namespace xrun::spec
