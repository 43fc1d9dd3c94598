#include "xrun/plan/stage_graph.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace xrun::plan {

namespace {

// The variables the tasks of a stage use (the union over its tasks, in first-seen order).
std::vector<std::string> stage_variables(const Stage& st) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& t : st.tasks)
    for (const auto& [k, v] : t.variables)
      if (seen.insert(k).second) out.push_back(k);
  return out;
}

// A task's values of `names`, as one key (a variable it does not use counts as its own value).
std::string key_of(const Task& t, const std::vector<std::string>& names) {
  std::string key;
  for (const auto& n : names) {
    auto it = std::find_if(t.variables.begin(), t.variables.end(), [&](const auto& kv) { return kv.first == n; });
    key += it == t.variables.end() ? std::string("\x01") : it->second.to_json().dump();
    key += '\x00';
  }
  return key;
}

}  // namespace

StageGraph StageGraph::of(const Plan& p, bool keep_going) {
  StageGraph g;
  g.keep_going_ = keep_going;
  const size_t n = p.stages.size();
  g.slot_of_.assign(p.id_end(), SIZE_MAX);
  for (size_t s = 0; s < n; ++s) {
    for (size_t i = 0; i < p.stages[s].tasks.size(); ++i) {
      g.slot_of_[p.stages[s].tasks[i].id] = g.where_.size();
      g.where_.emplace_back(s, i);
    }
    g.names_.push_back(p.stages[s].name);
  }
  g.parents_.resize(g.where_.size());
  g.children_.resize(g.where_.size());
  g.shared_.resize(n);
  g.one_to_one_.resize(n);
  for (size_t s = 0; s < n; ++s) {
    std::vector<Need> needs;
    for (const auto& a : p.stages[s].after) {
      if (a.stage >= n || a.stage == s) continue;  // (a stored plan is checked when read)
      needs.push_back({a.stage, !keep_going && p.stages[a.stage].on_failure == spec::OnFailure::Stop, a.per_task});
    }
    g.needs_.push_back(std::move(needs));
  }
  // Per-task pairing: by the values of the variables both stages use.
  for (size_t s = 0; s < n; ++s) {
    g.shared_[s].resize(g.needs_[s].size());
    g.one_to_one_[s].resize(g.needs_[s].size(), false);
    for (size_t k = 0; k < g.needs_[s].size(); ++k) {
      const Need& need = g.needs_[s][k];
      if (!need.per_task) continue;
      const Stage& child = p.stages[s];
      const Stage& parent = p.stages[need.stage];
      std::vector<std::string> shared;
      auto pv = stage_variables(parent);
      for (const auto& v : stage_variables(child))
        if (std::find(pv.begin(), pv.end(), v) != pv.end()) shared.push_back(v);
      g.shared_[s][k] = shared;
      std::unordered_map<std::string, std::vector<size_t>> by_key;
      for (const auto& t : parent.tasks) by_key[key_of(t, shared)].push_back(t.id);
      bool one = child.tasks.size() == parent.tasks.size();
      std::vector<size_t> parent_children(parent.tasks.size(), 0);
      for (const auto& t : child.tasks) {
        auto it = by_key.find(key_of(t, shared));
        Parents ps{k, {}};
        if (it != by_key.end()) ps.tasks = it->second;
        if (ps.tasks.size() != 1) one = false;
        for (size_t pt : ps.tasks) {
          g.children_[g.slot_of_[pt]].push_back(t.id);
          if (++parent_children[g.where_[g.slot_of_[pt]].second] > 1) one = false;
        }
        g.parents_[g.slot_of_[t.id]].push_back(std::move(ps));
      }
      g.one_to_one_[s][k] = one;
    }
  }
  // Topological order, file order among the stages that are ready together (Kahn).
  std::vector<size_t> waiting(n, 0);
  std::vector<std::vector<size_t>> dependents(n);
  for (size_t s = 0; s < n; ++s)
    for (const auto& need : g.needs_[s]) {
      ++waiting[s];
      dependents[need.stage].push_back(s);
    }
  std::set<size_t> ready;
  for (size_t s = 0; s < n; ++s)
    if (waiting[s] == 0) ready.insert(s);
  while (!ready.empty()) {
    size_t s = *ready.begin();
    ready.erase(ready.begin());
    g.order_.push_back(s);
    for (size_t d : dependents[s])
      if (--waiting[d] == 0) ready.insert(d);
  }
  // (A cycle cannot come from a file, which is checked when loaded; from a damaged stored plan,
  // the stages left out are appended so that every stage is still somewhere.)
  for (size_t s = 0; s < n; ++s)
    if (std::find(g.order_.begin(), g.order_.end(), s) == g.order_.end()) g.order_.push_back(s);
  return g;
}

std::string StageGraph::blocked(size_t stage, const std::vector<bool>& failed, const std::vector<bool>& skipped) const {
  for (const auto& n : needs(stage)) {
    if (n.per_task) continue;
    if (n.stage < skipped.size() && skipped[n.stage] && !keep_going_)
      return fmt::format("stage '{}' did not run", names_[n.stage]);
    if (n.success && n.stage < failed.size() && failed[n.stage])
      return fmt::format("stage '{}' did not succeed", names_[n.stage]);
  }
  return "";
}

size_t StageGraph::slot(size_t task) const { return task < slot_of_.size() ? slot_of_[task] : SIZE_MAX; }

const std::vector<StageGraph::Parents>& StageGraph::parents(size_t task) const {
  static const std::vector<Parents> none;
  const size_t at = slot(task);
  return at < parents_.size() ? parents_[at] : none;
}

std::string StageGraph::task_blocked(size_t task, const std::function<std::string(size_t)>& why_not) const {
  for (const auto& ps : parents(task)) {
    const size_t stage = where_[slot(task)].first;
    const Need& need = needs_[stage][ps.need];
    for (size_t pt : ps.tasks) {
      std::string why = why_not(pt);
      // A parent that failed stops its children when it had to succeed; one that never ran
      // (left out by early stopping) stops them always: what they would read does not exist.
      if (why.empty() || (!need.success && why == "did not succeed")) continue;
      return fmt::format("task {}/{} {}", names_[need.stage], where_[slot(pt)].second, why);
    }
  }
  return "";
}

const std::vector<size_t>& StageGraph::children(size_t task) const {
  static const std::vector<size_t> none;
  const size_t at = slot(task);
  return at < children_.size() ? children_[at] : none;
}

std::string StageGraph::shared_variables(size_t stage, size_t need) const {
  return fmt::format("{}", fmt::join(shared_.at(stage).at(need), ", "));
}

bool StageGraph::one_to_one(size_t stage, size_t need) const { return one_to_one_.at(stage).at(need); }

std::string StageGraph::describe_needs(size_t s) const {
  std::vector<std::string> parts;
  for (size_t k = 0; k < needs_[s].size(); ++k) {
    const auto& n = needs_[s][k];
    std::string how = n.success ? "must succeed" : "must end";
    if (n.per_task) {
      std::string vars = shared_variables(s, k);
      bool has_tasks = std::any_of(where_.begin(), where_.end(), [&](const auto& w) { return w.first == s; });
      if (!has_tasks) how += ", per task";
      else how += vars.empty() ? ", per task: no shared variables, so every task" : ", per task by " + vars;
    }
    parts.push_back(fmt::format("{} ({})", names_[n.stage], how));
  }
  return parts.empty() ? "starts at once" : fmt::format("after {}", fmt::join(parts, ", "));
}

std::vector<std::string> StageGraph::describe() const {
  std::vector<std::string> out;
  for (size_t s : order_) out.push_back(fmt::format("{}: {}", names_[s], describe_needs(s)));
  return out;
}

}  // namespace xrun::plan
