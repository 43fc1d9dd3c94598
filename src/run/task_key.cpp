#include "xrun/run/task_key.hpp"

#include "xrun/run/report.hpp"
#include "xrun/run/task_files.hpp"

namespace xrun::run {

plan::KeyInputs key_inputs(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage, const plan::Task& t) {
  plan::KeyInputs in;
  in.stage = stage < p.stages.size() ? p.stages[stage].name : std::string();
  in.commands = t.commands;
  in.variables.reserve(t.variables.size());
  for (const auto& [name, value] : t.variables) in.variables.emplace_back(name, value.to_json().dump());
  in.workdir = meta.value("workdir", std::string());
  in.setup = setup_lines(meta, p, stage);
  const std::string backend = meta.value("backend", std::string("local"));
  if (backend == "docker") {
    auto opts = stage_options(meta, p, stage, backend);
    if (opts.contains("image") && opts["image"].is_string()) in.image = opts["image"].get<std::string>();
  }
  return in;
}

std::string task_key(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage, const plan::Task& t) {
  return plan::task_key(key_inputs(meta, p, stage, t));
}

}  // namespace xrun::run
