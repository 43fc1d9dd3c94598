// Backend options as the file gives them (`scheduler:`, `slurm:`, `local:`, ...): how they merge.
// No YAML here: the run store and the backends read the merged options from meta.json.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace xrun::spec {

// The options a backend reads: `scheduler:` merged with the backend's own section by meaning.
// Keys are first renamed to their generic name (`time` -> `walltime`, `ncpus`/`cpus_per_task`
// -> `cpus`, `memory` -> `mem`, `ngpus` -> `gpus`, `select` -> `nodes`, `project` -> `account`,
// `mail` -> `email`, `queue` -> `partition`, `concurrency`/`jobs` kept), so `walltime` in one
// and `time` in the other are one option, the backend's own section winning; `setup:` lines of
// both run, the general ones first.
nlohmann::ordered_json merge_options(const nlohmann::ordered_json& sections, const std::string& backend);
std::string generic_option_name(const std::string& key);

}  // namespace xrun::spec
