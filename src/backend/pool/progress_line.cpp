#include "xrun/backend/pool/progress_line.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/util/text.hpp"

namespace xrun::backend::pool {

std::string progress_line(const ProgressInput& in) {
  if (in.open.empty()) return "";
  size_t total = 0, done = 0, failed = 0;
  std::vector<std::string> open;
  for (const auto& st : in.open) {
    total += st.total;
    done += std::min(st.done, st.total);
    failed += st.failed;
    open.push_back(fmt::format("{} {}/{}", st.name, std::min(st.done, st.total), st.total));
  }
  const auto& only = in.open.back();
  std::string head = in.open.size() == 1 ? fmt::format("stage {}/{} {}", only.index + 1, in.stages, only.name)
                                         : fmt::format("{} stages: {}", in.open.size(), fmt::join(open, ", "));
  std::string eta = "-";
  if (in.timed > 0 && done < total) {
    double mean = in.durations / static_cast<double>(in.timed);
    size_t queued = total > done + in.running ? total - done - in.running : 0;
    double left = 0;
    for (double ran : in.running_for) left = std::max(left, mean - ran);
    double waves = std::ceil(static_cast<double>(queued) / static_cast<double>(std::max<size_t>(1, in.slots)));
    eta = util::human_duration(std::max(0.0, left) + waves * mean);
  }
  return fmt::format("[{}] {}/{} done, {} failed, {} running, elapsed {}, ETA {}", head, done, total, failed, in.running,
                     util::human_duration(in.elapsed), eta);
}

}  // namespace xrun::backend::pool
