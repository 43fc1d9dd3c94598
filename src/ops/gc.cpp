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
    std::optional<Error> unasked;
    auto st = o->statuses(&unasked);
    c.state = run::experiment_state(st, o->exp.runner_alive());
    // Never removed while something may still run: a scheduler that could not be asked, a task
    // running, or one a scheduler still queues (its job needs the folder).
    bool open = unasked.has_value() || std::any_of(st.begin(), st.end(), [](const store::TaskStatus& t) {
                  return t.state == store::State::Running ||
                         (t.state == store::State::Pending && !t.backend_state.empty());
                });
    if (unasked) c.state += " (its scheduler could not be asked)";
    c.keep = c.state == "running" || open || (keep_failed && (c.state == "failed" || c.state == "incomplete"));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace xrun::ops
