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

nlohmann::ordered_json overlay_sections(const nlohmann::ordered_json& top, const nlohmann::ordered_json& stage) {
  if (!stage.is_object() || stage.empty()) return top;
  auto out = top.is_object() ? top : nlohmann::ordered_json::object();
  for (auto& [sec, opts] : stage.items()) {
    if (!out.contains(sec) || !out[sec].is_object()) out[sec] = nlohmann::ordered_json::object();
    if (!opts.is_object()) continue;
    auto& into = out[sec];
    for (auto& [k, v] : opts.items()) {
      if (k == "setup") {
        auto lines = nlohmann::ordered_json::array();
        for (const nlohmann::ordered_json* src : {static_cast<const nlohmann::ordered_json*>(&into), &opts}) {
          if (!src->contains("setup")) continue;
          const auto& x = (*src)["setup"];
          if (x.is_array())
            for (const auto& line : x) lines.push_back(line);
          else if (!x.is_null())
            lines.push_back(x);
        }
        into["setup"] = lines;
        continue;
      }
      // The same option under another name (`time` over `walltime`) is replaced, not doubled.
      for (auto it = into.begin(); it != into.end();) {
        if (it.key() != k && generic_option_name(it.key()) == generic_option_name(k)) it = into.erase(it);
        else ++it;
      }
      into[k] = v;
    }
  }
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

}  // namespace xrun::spec
