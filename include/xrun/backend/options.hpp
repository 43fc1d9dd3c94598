// Typed backend options, parsed once: the parsers every backend shares for the values of
// `scheduler:` and its own section (merged by meaning, see spec/options.hpp). A backend reads
// the keys it knows with these and never needs another backend's key list.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/util/result.hpp"

namespace xrun::backend::options {

using json = nlohmann::ordered_json;

// The general vocabulary: keys with one meaning for every backend (after spec::merge_options
// renamed aliases). A backend maps the ones it supports and leaves the others alone; a batch
// dialect passes a key outside this list to its scheduler as a directive.
bool is_general(const std::string& key);

// A scalar option as text (YAML's `4` and `'4'` alike); "" for null.
std::string text(const json& v);
// `key` holds a single value (not a mapping or a list).
Result<void> require_scalar(const std::string& backend, const std::string& key, const json& v);
// A whole number in [min, max].
Result<long> whole_number(const std::string& key, const json& v, long min, long max, const std::string& hint = "");
// Seconds as a decimal number in [min, max].
Result<double> seconds(const std::string& key, const json& v, double min, double max);
// A duration in the forms Slurm and PBS accept: MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
Result<double> duration(const std::string& key, const json& v);
std::optional<double> parse_duration(const std::string& text);
// The spellings of a YAML 1.1 / experi boolean.
std::optional<bool> boolean(const json& v);
// Declared resources: `{gpu: [0, 1], licence: 2}` (a list of ids, or a count N = ids 0..N-1),
// or from the command line "gpu=0,1" / "licence=2" (a single number is a count). Ids are plain
// words (letters, digits, '.', ':', '-', '_'): they end up in variables like CUDA_VISIBLE_DEVICES.
Result<std::map<std::string, std::vector<std::string>>> resources(const json& v);
Result<std::pair<std::string, std::vector<std::string>>> resource_arg(const std::string& arg);

}  // namespace xrun::backend::options
