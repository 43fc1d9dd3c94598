// `xrun gc`: which experiments are old enough to delete.
#pragma once

#include <string>
#include <vector>

#include "xrun/util/result.hpp"

namespace xrun::ops {

// "30d", "12h", "90m", "2w", "3600s"; a bare number is days. Seconds.
Result<double> parse_age(const std::string& text);

struct GcCandidate {
  std::string id;
  std::string state;  // the experiment's state (succeeded, failed, ...)
  bool keep = false;  // running, a task running or queued, its scheduler not reachable, or --keep-failed
};
// Experiments whose last activity (creation, or the end of their latest runner) is older than
// `age` seconds. Damaged ones are left out (`xrun list` shows them; `xrun rm` removes them).
std::vector<GcCandidate> gc_candidates(const std::string& store_root, double age, bool keep_failed);

}  // namespace xrun::ops
