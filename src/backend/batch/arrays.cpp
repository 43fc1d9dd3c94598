#include "xrun/backend/batch/arrays.hpp"

#include <optional>

#include <fmt/format.h>

namespace xrun::backend::batch {

std::vector<ArrayJob> plan_arrays(const plan::Plan& p, const plan::StageGraph& g, const std::set<size_t>& to_run,
                                  size_t max_array, const std::string& dir, const std::string& suffix) {
  std::vector<ArrayJob> arrays;
  for (size_t s : g.order()) {
    std::map<size_t, ArrayJob> by_chunk;
    for (size_t i = 0; i < p.stages[s].tasks.size(); ++i) {
      const size_t id = p.stages[s].tasks[i].id;
      if (!to_run.count(id)) continue;
      size_t chunk = i / max_array;
      auto& a = by_chunk[chunk];
      a.stage = s;
      a.chunk = chunk;
      a.indices.push_back(i - chunk * max_array);
      a.tasks.push_back(id);
      a.script_path = fmt::format("{}/stage{}-{}.{}", dir, s + 1, chunk, suffix);
    }
    for (auto& [c, a] : by_chunk) {
      // Array index i runs task base + i when the ids allow it (as they do in a plan never
      // reloaded); else the array carries a map from its indices to the tasks' ids.
      bool affine = a.tasks.front() >= a.indices.front();
      const size_t base = affine ? a.tasks.front() - a.indices.front() : 0;
      for (size_t k = 0; affine && k < a.tasks.size(); ++k) affine = a.tasks[k] == base + a.indices[k];
      if (affine) {
        a.base = base;
        a.tasks.clear();
      }
      arrays.push_back(std::move(a));
    }
  }
  return arrays;
}

void fit_to_dialect(std::vector<ArrayJob>& arrays, const Dialect& d) {
  for (auto& a : arrays) {
    bool contiguous = a.indices.back() - a.indices.front() + 1 == a.indices.size();
    if (!d.index_lists() && (!contiguous || a.indices.front() != 0) && a.indices.size() > 1) {
      if (a.tasks.empty())
        for (size_t i : a.indices) a.tasks.push_back(a.base + i);
      for (size_t k = 0; k < a.indices.size(); ++k) a.indices[k] = k;
    }
    if (d.single_as_plain_job() && a.indices.size() == 1) {
      a.tasks = {a.task_of(0)};
      a.indices = {0};
      a.plain = true;
    }
  }
}

size_t paired_array(const ArrayJob& a, size_t need, const std::vector<ArrayJob>& arrays, const plan::StageGraph& g) {
  const size_t parent_stage = g.needs(a.stage)[need].stage;
  if (!g.one_to_one(a.stage, need) || a.plain) return std::string::npos;
  auto parent_of = [&](size_t task) -> std::optional<size_t> {
    for (const auto& ps : g.parents(task))
      if (ps.need == need && ps.tasks.size() == 1) return ps.tasks[0];
    return std::nullopt;
  };
  for (size_t b = 0; b < arrays.size(); ++b) {
    const auto& pa = arrays[b];
    if (pa.stage != parent_stage || pa.plain || pa.indices != a.indices) continue;
    bool ok = true;
    for (size_t i = 0; i < a.indices.size() && ok; ++i) ok = parent_of(a.task_of(i)) == pa.task_of(i);
    if (ok) return b;
  }
  return std::string::npos;
}

std::vector<After> after_for(const ArrayJob& a, const std::vector<ArrayJob>& arrays, const std::vector<std::string>& job_of,
                             const std::map<size_t, std::vector<std::string>>& ids, const plan::StageGraph& g,
                             const plan::Plan& p, const Dialect& d, std::set<std::string>* notes) {
  std::vector<After> after;
  const auto& needs = g.needs(a.stage);
  for (size_t k = 0; k < needs.size(); ++k) {
    const auto& need = needs[k];
    bool success = need.success && p.stages[need.stage].early_stopping.empty();
    if (need.per_task) {
      std::string why;
      if (!d.chains_elements()) why = fmt::format("{} cannot chain array elements one to one", d.display());
      else if (!success) why = "it need not succeed there (on_failure: continue, --keep-going or early_stopping), and "
                               "element chaining (aftercorr) waits for success";
      else if (size_t b = paired_array(a, k, arrays, g); b == std::string::npos)
        why = "its tasks do not pair index for index with that stage's (aftercorr needs one task for one, at the same "
              "array index)";
      else if (b < job_of.size() && !job_of[b].empty()) {
        after.push_back({job_of[b], true, true});
        continue;
      }
      if (notes && !why.empty())
        notes->insert(fmt::format("stage '{}' waits for all of stage '{}' instead of task by task: {}", p.stages[a.stage].name,
                                  p.stages[need.stage].name, why));
    }
    auto it = ids.find(need.stage);
    if (it == ids.end()) continue;
    for (const auto& job : it->second) after.push_back({job, success});
  }
  return after;
}

}  // namespace xrun::backend::batch
