#include "xrun/run/task_key.hpp"

#include <string_view>
#include <utility>
#include <vector>

#include "xrun/run/report.hpp"

namespace xrun::run {

plan::KeyStage key_stage(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage) {
  const std::string backend = meta.value("backend", std::string("local"));
  return plan::key_stage(stage < p.stages.size() ? p.stages[stage].name : std::string(),
                         meta.value("workdir_template", meta.value("workdir", std::string())),
                         stage_options(meta, p, stage, backend), backend);
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

std::vector<std::string> plan_keys(const nlohmann::ordered_json& meta, const plan::Plan& p) {
  std::vector<std::string> keys;
  keys.reserve(p.task_count());
  std::vector<std::string> texts;
  std::vector<std::pair<std::string_view, std::string_view>> vars;
  for (size_t s = 0; s < p.stages.size(); ++s) {
    plan::KeyContext ctx(key_stage(meta, p, s));
    for (const auto& t : p.stages[s].tasks) {
      texts.clear();
      vars.clear();
      for (const auto& [name, value] : t.variables) texts.push_back(value.to_json().dump());
      for (size_t k = 0; k < t.variables.size(); ++k) vars.emplace_back(t.variables[k].first, texts[k]);
      keys.push_back(ctx.key(t.commands, vars));
    }
  }
  return keys;
}

}  // namespace xrun::run
