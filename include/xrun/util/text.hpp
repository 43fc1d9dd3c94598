// Small text helpers shared by the loader, the CLI and the backends.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xrun::util {

size_t edit_distance(std::string_view a, std::string_view b);
// The closest candidate within a small edit distance, or "" when none is close.
std::string suggest(std::string_view word, const std::vector<std::string>& candidates);
std::vector<std::string> split(std::string_view s, char sep);
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
// Single-quoted for POSIX sh: abc -> 'abc', it's -> 'it'"'"'s'.
std::string shell_quote(std::string_view s);
// A valid shell/env identifier: [A-Za-z_][A-Za-z0-9_]*
bool is_identifier(std::string_view s);
// Keep [A-Za-z0-9._-], replace anything else by '-'; never empty.
std::string slug(std::string_view s);
// Offset of the first byte that is not part of valid UTF-8, or npos when all of it is.
size_t invalid_utf8_at(std::string_view s);
// 1-based line and column (in bytes) of `offset` in `text`.
std::pair<int, int> line_col(std::string_view text, size_t offset);
// "1h02m03s"-style compact duration.
std::string human_duration(double seconds);
// A whole decimal number filling all of `s`; nullopt otherwise.
std::optional<long> parse_long(const std::string& s);

}  // namespace xrun::util
