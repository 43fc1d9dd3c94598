// Backend options as the file gives them (`scheduler:`, `slurm:`, `local:`, ...): how they merge.
// No YAML here: the run store and the backends read the merged options from meta.json.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace xrun::spec {

// The options a backend reads: `scheduler:` merged with the backend's own section by meaning.
// Keys are first renamed to their generic name (`time` -> `walltime`, `ncpus`/`cpus_per_task`
// -> `cpus`, `memory` -> `mem`, `ngpus` -> `gpus`, `select` -> `nodes`, `project` -> `account`,
// `mail` -> `email`, `queue` -> `partition`, `concurrency`/`jobs` kept), so `walltime` in one
// and `time` in the other are one option, the backend's own section winning; `setup:` lines of
// both run, the general ones first.
//
// A batch scheduler's section given to the other one (`pbs:` with --backend slurm, `slurm:` with
// --backend pbs) is translated key by key: the general options (see is_general_option) keep
// their meaning, below `scheduler:` and the backend's own section; a key with no equivalent is
// left out, and foreign_options_dropped() names it for a warning.
nlohmann::ordered_json merge_options(const nlohmann::ordered_json& sections, const std::string& backend);
std::string generic_option_name(const std::string& key);
// A stage's options for `backend`: the file's sections merged (as merge_options), then the
// stage's own sections merged the same way laid over them option by option (by general name,
// so a stage's `time` replaces the top's `walltime`, and any of its sections wins over every
// top-level one); `setup:` lines of both run, the top-level ones first.
nlohmann::ordered_json stage_options(const nlohmann::ordered_json& top_sections,
                                     const nlohmann::ordered_json& stage_sections, const std::string& backend);
// The general vocabulary: keys with one meaning on every backend (after renaming).
bool is_general_option(const std::string& key);
// (section, key) of each foreign scheduler option merge_options leaves out for `backend`.
std::vector<std::pair<std::string, std::string>> foreign_options_dropped(const nlohmann::ordered_json& sections,
                                                                        const std::string& backend);

}  // namespace xrun::spec
