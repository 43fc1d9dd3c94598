#include "xrun/plan/diff.hpp"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

namespace xrun::plan {

std::string PlanDiff::summary() const {
  std::string s = fmt::format("+{} new, {} to rerun, {} retired, {} kept", added.size(), rerun.size(), retired.size(),
                              kept.size());
  if (!revived.empty()) s += fmt::format(", {} back from retirement", revived.size());
  return s;
}

PlanDiff diff_tasks(const std::vector<OldTask>& old, const std::vector<std::string>& fresh, size_t id_end) {
  PlanDiff d;
  // Key -> the old tasks with it (a plan's tasks are unique, so one; the plan's own before
  // retired ones, so that a key both has matches the live task).
  std::unordered_map<std::string, std::vector<size_t>> by_key;
  for (size_t k = 0; k < old.size(); ++k)
    if (!old[k].retired) by_key[old[k].key].push_back(k);
  for (size_t k = 0; k < old.size(); ++k)
    if (old[k].retired) by_key[old[k].key].push_back(k);
  std::vector<bool> matched(old.size(), false);
  size_t next = id_end;
  for (const auto& key : fresh) {
    auto it = by_key.find(key);
    if (it == by_key.end() || it->second.empty()) {
      d.ids.push_back(next);
      d.added.push_back(next++);
      continue;
    }
    const size_t k = it->second.front();
    it->second.erase(it->second.begin());
    matched[k] = true;
    const OldTask& t = old[k];
    d.ids.push_back(t.id);
    if (t.retired) d.revived.push_back(t.id);
    if (t.succeeded || t.active) d.kept.push_back(t.id);
    else d.rerun.push_back(t.id);
  }
  for (size_t k = 0; k < old.size(); ++k) {
    if (matched[k] || old[k].retired) continue;
    d.retired.push_back(old[k].id);
    if (old[k].active) d.blocking.push_back(old[k].id);
  }
  return d;
}

}  // namespace xrun::plan
