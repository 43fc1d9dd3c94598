#include "xrun/run/where.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace xrun::run {

namespace {

constexpr const char* kForm =
    "write KEY=V, KEY!=V, KEY<V, KEY<=V, KEY>V or KEY>=V; ',' for and, '|' for or inside one key: "
    "--where 'lr=0.1,seed=1|2'";

bool key_char(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (!first && (std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-'));
}

std::optional<double> number(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  std::string t(s);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || std::isnan(v)) return std::nullopt;
  // (strtod reads "inf", "0x10": only what a YAML number would be written as)
  for (char c : t)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
      return std::nullopt;
  return v;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Error syntax(std::string_view text, size_t at, const std::string& what) {
  Error e = make_error(fmt::format("--where '{}': column {}: {}", text, at + 1, what), kForm);
  e.col = static_cast<int>(at + 1);
  return e;
}

}  // namespace

std::vector<std::string> Where::keys() const {
  std::vector<std::string> out;
  for (const auto& c : clauses)
    if (std::find(out.begin(), out.end(), c.key) == out.end()) out.push_back(c.key);
  return out;
}

Result<Where> parse_where(std::string_view text) {
  Where w;
  size_t i = 0;
  auto skip_blanks = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  if (text.find_first_not_of(" \t") == std::string_view::npos) return syntax(text, 0, "the expression is empty");
  for (;;) {
    skip_blanks();
    WhereClause c;
    const size_t key_at = i;
    while (i < text.size() && key_char(text[i], i == key_at)) ++i;
    if (i == key_at)
      return syntax(text, i, i < text.size() ? fmt::format("a key (a variable, a tag or state) was expected, not '{}'", text[i])
                                             : "a key (a variable, a tag or state) was expected");
    c.key = std::string(text.substr(key_at, i - key_at));
    c.column = static_cast<int>(key_at + 1);
    skip_blanks();
    const size_t op_at = i;
    auto next = [&](char ch) { return i < text.size() && text[i] == ch; };
    if (next('=')) {
      c.op = WhereClause::Op::Eq;
      ++i;
      if (next('=')) ++i;  // `==` as `=`
    } else if (next('!') && i + 1 < text.size() && text[i + 1] == '=') {
      c.op = WhereClause::Op::Ne;
      i += 2;
    } else if (next('<')) {
      ++i;
      c.op = next('=') ? (++i, WhereClause::Op::Le) : WhereClause::Op::Lt;
    } else if (next('>')) {
      ++i;
      c.op = next('=') ? (++i, WhereClause::Op::Ge) : WhereClause::Op::Gt;
    } else {
      return syntax(text, op_at, fmt::format("after '{}' a comparison (=, !=, <, <=, >, >=) was expected", c.key));
    }
    for (;;) {
      skip_blanks();
      const size_t value_at = i;
      while (i < text.size() && text[i] != ',' && text[i] != '|') ++i;
      std::string_view v = text.substr(value_at, i - value_at);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      if (v.empty()) return syntax(text, value_at, fmt::format("a value for '{}' was expected", c.key));
      if (v.find_first_of("=<>!") != std::string_view::npos)
        return syntax(text, value_at + v.find_first_of("=<>!"),
                      "a second comparison in one clause (separate clauses with ',')");
      c.values.emplace_back(v);
      if (next('|')) {
        ++i;
        continue;
      }
      break;
    }
    w.clauses.push_back(std::move(c));
    if (i >= text.size()) break;
    ++i;  // ','
    skip_blanks();
    if (i >= text.size()) return syntax(text, i, "a clause was expected after ','");
  }
  return w;
}

bool compare(const std::string& have, WhereClause::Op op, const std::string& want) {
  auto a = number(have), b = number(want);
  int cmp;
  if (a && b) cmp = *a < *b ? -1 : (*a > *b ? 1 : 0);
  else cmp = have.compare(want) < 0 ? -1 : (have == want ? 0 : 1);
  switch (op) {
    case WhereClause::Op::Eq: return cmp == 0;
    case WhereClause::Op::Ne: return cmp != 0;
    case WhereClause::Op::Lt: return cmp < 0;
    case WhereClause::Op::Le: return cmp <= 0;
    case WhereClause::Op::Gt: return cmp > 0;
    case WhereClause::Op::Ge: return cmp >= 0;
  }
  return false;
}

bool matches(const Where& w, const std::function<std::optional<std::string>(const std::string& key)>& value_of) {
  for (const auto& c : w.clauses) {
    auto have = value_of(c.key);
    if (!have) return false;  // no such key: no clause on it matches, != included
    const bool state = c.key == "state";
    const std::string h = state ? lower(*have) : *have;
    bool any = false;
    for (const auto& v : c.values) any = any || compare(h, c.op == WhereClause::Op::Ne ? WhereClause::Op::Eq : c.op, state ? lower(v) : v);
    if (c.op == WhereClause::Op::Ne ? any : !any) return false;
  }
  return true;
}

}  // namespace xrun::run
