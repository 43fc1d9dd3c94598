#include "xrun/ops/gc.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "xrun/ops/experiment.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::ops {

Result<double> parse_age(const std::string& text) {
  static const std::vector<std::pair<char, double>> units = {
      {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
  if (text.empty()) return make_error("--older-than needs an age", "e.g. --older-than 30d (s, m, h, d, w)");
  double unit = 86400;
  std::string num = text;
  for (const auto& [c, f] : units)
    if (text.back() == c) {
      unit = f;
      num = text.substr(0, text.size() - 1);
    }
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (num.empty() || *end != '\0' || !(v >= 0) || v > 1e6)
    return make_error(fmt::format("--older-than '{}' is not an age", text), "e.g. --older-than 30d (s, m, h, d, w)");
  return v * unit;
}

std::vector<GcCandidate> gc_candidates(const std::string& store_root, double age, bool keep_failed) {
  const double cutoff = util::now_seconds() - age;
  std::vector<GcCandidate> out;
  for (const auto& id : store::Store::open(store_root).list()) {
    auto o = open_experiment(store_root, id);
    if (!o) continue;
    double last = o->meta.value("created", 0.0);
    if (auto r = o->exp.runner(); r && r->is_object() && r->contains("ended") && (*r)["ended"].is_number())
      last = std::max(last, (*r)["ended"].get<double>());
    if (last > cutoff) continue;
    GcCandidate c;
    c.id = id;
    c.state = run::experiment_state(o->statuses(), o->exp.runner_alive());
    c.keep = c.state == "running" || (keep_failed && (c.state == "failed" || c.state == "incomplete"));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace xrun::ops
