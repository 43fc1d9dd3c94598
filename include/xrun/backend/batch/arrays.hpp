// The batch engine's array planning, pure (no store, no scheduler): which arrays a launch
// submits (per stage the tasks to run, chunked under the scheduler's largest array), how they fit
// a dialect (sparse indices, one-element arrays), and what each waits for (whole stages, or a
// per-task parent's paired array element for element). Unit-tested alone
// (tests/unit/test_backend_batch_arrays.cpp); the engine (engine.cpp) submits what they plan.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "xrun/backend/batch/dialect.hpp"
#include "xrun/plan/plan.hpp"
#include "xrun/plan/stage_graph.hpp"

namespace xrun::backend::batch {

// One array job (or, `plain`, one job) of a launch.
struct ArrayJob {
  size_t stage = 0;
  size_t chunk = 0;
  size_t base = 0;              // without a task map: array index i runs task base + i
  std::vector<size_t> indices;  // array indices
  std::vector<size_t> tasks;    // with a task map: the task id of array index i (indices are 0..n-1)
  bool plain = false;           // submitted as a plain job (index 0)
  std::string script_path;

  size_t task_of(size_t i) const { return tasks.empty() ? base + indices[i] : tasks[i]; }
  std::string array() const { return plain ? "" : array_spec(indices); }
};

// Arrays of a launch: per stage, the tasks to run, chunked so that no index reaches the
// scheduler's largest array (`max_array`); stages in the graph's order, so that every array is
// submitted after the arrays it waits for. Array index i runs task base + i when the ids allow
// it, else the array carries a map from its indices to the tasks' ids. Scripts are named
// `dir`/stage<S>-<chunk>.<suffix>.
std::vector<ArrayJob> plan_arrays(const plan::Plan& p, const plan::StageGraph& g, const std::set<size_t>& to_run,
                                  size_t max_array, const std::string& dir, const std::string& suffix);

// Adapts a launch's arrays to what the dialect can submit: a sparse set of indices becomes a
// range over a map of task ids where index lists are not allowed; a one-element array becomes
// a plain job where the scheduler wants that.
void fit_to_dialect(std::vector<ArrayJob>& arrays, const Dialect& d);

// The array of the stage a per-task need (`need`: its index among the stage's needs) waits for
// whose elements pair index for index with `a`'s (element i of `a` waits for element i of it,
// and only for it), or npos.
size_t paired_array(const ArrayJob& a, size_t need, const std::vector<ArrayJob>& arrays, const plan::StageGraph& g);

// The jobs array `a` waits for, from the stage graph: whole stages (`ids`: the jobs of each
// stage so far), or, for a per-task need the scheduler can chain element for element and whose
// arrays pair index for index, the paired array only (`job_of`: each array's job, once known).
// A stage with early_stopping is waited for to end, not to succeed: the elements an early stop
// cancels would keep an afterok dependency from ever being met. `notes` says where a per-task
// need falls back to the whole stage, and why.
std::vector<After> after_for(const ArrayJob& a, const std::vector<ArrayJob>& arrays, const std::vector<std::string>& job_of,
                             const std::map<size_t, std::vector<std::string>>& ids, const plan::StageGraph& g,
                             const plan::Plan& p, const Dialect& d, std::set<std::string>* notes);

}  // namespace xrun::backend::batch
