#include "xrun/plan/stage_graph.hpp"

#include <fmt/format.h>

namespace xrun::plan {

StageGraph StageGraph::of(const Plan& p, bool keep_going) {
  StageGraph g;
  for (size_t s = 0; s < p.stages.size(); ++s) {
    g.names_.push_back(p.stages[s].name);
    std::vector<Need> needs;
    for (size_t e = 0; e < s; ++e)
      needs.push_back({e, !keep_going && p.stages[e].on_failure == spec::OnFailure::Stop});
    g.needs_.push_back(std::move(needs));
  }
  return g;
}

std::string StageGraph::blocked(size_t stage, const std::vector<bool>& failed) const {
  for (const auto& n : needs(stage))
    if (n.success && n.stage < failed.size() && failed[n.stage])
      return fmt::format("stage '{}' did not succeed", names_[n.stage]);
  return "";
}

}  // namespace xrun::plan
