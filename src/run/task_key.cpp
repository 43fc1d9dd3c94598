#include "xrun/run/task_key.hpp"

#include "xrun/run/report.hpp"

namespace xrun::run {

plan::KeyStage key_stage(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage) {
  const std::string backend = meta.value("backend", std::string("local"));
  return plan::key_stage(stage < p.stages.size() ? p.stages[stage].name : std::string(),
                         meta.value("workdir", std::string()), stage_options(meta, p, stage, backend), backend);
}

plan::KeyInputs key_inputs(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage, const plan::Task& t) {
  auto ks = key_stage(meta, p, stage);
  plan::KeyInputs in;
  in.stage = std::move(ks.stage);
  in.commands = t.commands;
  in.variables.reserve(t.variables.size());
  for (const auto& [name, value] : t.variables) in.variables.emplace_back(name, value.to_json().dump());
  in.workdir = std::move(ks.workdir);
  in.setup = std::move(ks.setup);
  in.image = std::move(ks.image);
  return in;
}

std::string task_key(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage, const plan::Task& t) {
  return plan::task_key(key_inputs(meta, p, stage, t));
}

}  // namespace xrun::run
