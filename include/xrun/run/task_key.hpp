// A task's content key (plan/task_key.hpp) from what plan.json and meta.json hold: its stage's
// name, its commands, its variables as plan.json stores them, the experiment's working
// directory, its stage's setup lines and (Docker) container image on the experiment's backend.
// Nothing else: not its id or position, the store's paths, its parents, nor resources.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/plan.hpp"
#include "xrun/plan/task_key.hpp"

namespace xrun::run {

// The stage's part (name, workdir, setup lines, image on docker), for a plan::KeyContext.
plan::KeyStage key_stage(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage);
plan::KeyInputs key_inputs(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage, const plan::Task& t);
std::string task_key(const nlohmann::ordered_json& meta, const plan::Plan& p, size_t stage, const plan::Task& t);
// Every task's key, in the plan's order (one plan::KeyContext per stage): what task_key gives each.
std::vector<std::string> plan_keys(const nlohmann::ordered_json& meta, const plan::Plan& p);

}  // namespace xrun::run
