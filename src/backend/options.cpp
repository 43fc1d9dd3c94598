#include "xrun/backend/options.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "xrun/spec/options.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend::options {

bool is_general(const std::string& key) { return spec::is_general_option(key); }

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

Result<void> require_scalar(const std::string& backend, const std::string& key, const json& v) {
  if (v.is_object() || v.is_array())
    return make_error(fmt::format("{} option '{}' must be a single value", backend, key),
                      fmt::format("write `{}: value` under `{}:` or `scheduler:`", key, backend));
  if (text(v).find('\n') != std::string::npos)
    return make_error(fmt::format("{} option '{}' has a line break in its value", backend, key));
  return {};
}

Result<long> whole_number(const std::string& key, const json& v, long min, long max, const std::string& hint) {
  std::string t = text(v);
  char* end = nullptr;
  long n = std::strtol(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || n < min || n > max)
    return make_error(fmt::format("option '{}' must be a whole number from {}{}, got '{}'", key, min,
                                  max < 1000000000 ? fmt::format(" to {}", max) : "", t),
                      hint);
  return n;
}

Result<double> seconds(const std::string& key, const json& v, double min, double max) {
  std::string t = text(v);
  char* end = nullptr;
  double d = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0' || !(d >= min) || d > max)
    return make_error(fmt::format("option '{}' must be seconds from {} to {}, got '{}'", key, min, max, t));
  return d;
}

std::optional<double> parse_duration(const std::string& text0) {
  std::string s = util::trim(text0);
  if (s.empty()) return std::nullopt;
  auto num = [](const std::string& x) -> std::optional<double> {
    if (x.empty() || x.size() > 12 || !std::all_of(x.begin(), x.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    return std::stod(x);
  };
  double days = 0;
  std::string rest = s;
  auto dash = s.find('-');
  if (dash != std::string::npos) {
    auto d = num(s.substr(0, dash));
    if (!d) return std::nullopt;
    days = *d;
    rest = s.substr(dash + 1);
    auto parts = util::split(rest, ':');
    if (parts.empty() || parts.size() > 3) return std::nullopt;
    double hms[3] = {0, 0, 0};
    for (size_t k = 0; k < parts.size(); ++k) {
      auto n = num(parts[k]);
      if (!n) return std::nullopt;
      hms[k] = *n;
    }
    return days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
  }
  std::vector<double> v;
  for (const auto& x : util::split(rest, ':')) {
    auto n = num(x);
    if (!n) return std::nullopt;
    v.push_back(*n);
  }
  if (v.size() == 1) return v[0] * 60;                       // minutes
  if (v.size() == 2) return v[0] * 60 + v[1];                // minutes:seconds
  if (v.size() == 3) return v[0] * 3600 + v[1] * 60 + v[2];  // hours:minutes:seconds
  return std::nullopt;
}

Result<double> duration(const std::string& key, const json& v) {
  std::string t = text(v);
  auto d = parse_duration(t);
  if (!d || *d <= 0)
    return make_error(fmt::format("{} '{}' is not a duration", key, t),
                      "use MINUTES, MM:SS, HH:MM:SS or D-HH:MM:SS (e.g. walltime: '1:30:00')");
  return *d;
}

std::optional<bool> boolean(const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  static const std::vector<std::string> yes = {"True", "true", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
  static const std::vector<std::string> no = {"False", "false", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  std::string t = text(v);
  if (std::find(yes.begin(), yes.end(), t) != yes.end()) return true;
  if (std::find(no.begin(), no.end(), t) != no.end()) return false;
  return std::nullopt;
}

namespace {

bool id_ok(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-' || c == '_';
  });
}

bool name_ok(const std::string& n) {
  return !n.empty() && !std::isdigit(static_cast<unsigned char>(n[0])) &&
         std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Result<std::vector<std::string>> resource_ids(const std::string& name, const json& v) {
  std::vector<std::string> ids;
  if (v.is_array()) {
    for (const auto& x : v) ids.push_back(text(x));
    if (ids.empty())
      return make_error(fmt::format("resource '{}' lists no ids", name), "give its ids, e.g. `gpu: [0, 1]`, or a count");
  } else {
    auto n = whole_number("resources." + name, v, 1, 100000, fmt::format("e.g. `{}: 2`, or its ids `{}: [0, 1]`", name, name));
    if (!n) return n.error();
    for (long i = 0; i < n.value(); ++i) ids.push_back(std::to_string(i));
  }
  std::set<std::string> seen;
  for (const auto& id : ids) {
    if (!id_ok(id))
      return make_error(fmt::format("resource '{}': id '{}' is not a plain word", name, id),
                        "ids may have letters, digits, '.', ':', '-' and '_' (they go into CUDA_VISIBLE_DEVICES and the like)");
    if (!seen.insert(id).second)
      return make_error(fmt::format("resource '{}' lists id '{}' twice", name, id), "list each id once");
  }
  return ids;
}

}  // namespace

Result<std::map<std::string, std::vector<std::string>>> resources(const json& v) {
  std::map<std::string, std::vector<std::string>> out;
  if (!v.is_object())
    return make_error("'resources' must be a mapping of names to ids or counts",
                      "e.g. `local: {resources: {gpu: [0, 1, 2, 3], licence: 2}}`");
  for (const auto& [name, ids] : v.items()) {
    if (!name_ok(name))
      return make_error(fmt::format("resource name '{}' is not usable", name),
                        "use letters, digits and '_' (it names the variable XRUN_RESOURCE_<NAME>)");
    auto r = resource_ids(name, ids);
    if (!r) return r.error();
    out[name] = r.value();
  }
  return out;
}

Result<std::pair<std::string, std::vector<std::string>>> resource_arg(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    return make_error(fmt::format("--resources '{}' is not NAME=IDS or NAME=COUNT", arg),
                      "e.g. --resources gpu=0,1,2,3 or --resources licence=2");
  std::string name = arg.substr(0, eq), value = arg.substr(eq + 1);
  if (!name_ok(name))
    return make_error(fmt::format("resource name '{}' is not usable", name), "use letters, digits and '_'");
  json v;
  if (value.find(',') != std::string::npos) {
    v = json::array();
    for (const auto& id : util::split(value, ','))
      if (!util::trim(id).empty()) v.push_back(util::trim(id));
  } else {
    v = value;
  }
  auto ids = resource_ids(name, v);
  if (!ids) return ids.error();
  return std::make_pair(name, ids.value());
}

}  // namespace xrun::backend::options
