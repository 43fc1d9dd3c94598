// An experiment's plan.json read through its cache plan.bin (see docs/run-store.md, "The plan's
// cache"): plan.json is the truth; the cache is used only while it was made from the plan.json
// now in place, and is written by whoever had to parse plan.json. It holds what parsing
// plan.json gives (not the plan its writer had in memory: JSON has no inf, for one), so only a
// reader writes it.
#pragma once

#include <optional>
#include <string>

#include "xrun/plan/plan.hpp"
#include "xrun/util/result.hpp"

namespace xrun::store {

// `dir`/plan.json's plan: from `dir`/plan.bin when it is a valid cache of that very file, else
// parsed (and the cache written, best effort). nullopt when plan.json cannot be read.
std::optional<Result<plan::Plan>> read_plan(const std::string& dir);

}  // namespace xrun::store
