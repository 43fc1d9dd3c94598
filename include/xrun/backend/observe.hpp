// The one way to a task's state: the store's records (store::Experiment::facts), the backend's
// view (Backend::observe: liveness, the scheduler), the records read again for tasks the backend
// reports gone (they may have ended in between), the stage graph's gates, then store::decide().
// A final state learned from a scheduler is persisted as the task's verdict at once.
#pragma once

#include <optional>
#include <vector>

#include "xrun/backend/backend.hpp"

namespace xrun::backend {

struct Observed {
  std::vector<store::TaskStatus> tasks;  // in the plan's order (Plan::Where::slot), each with its id
  std::optional<Error> warning;  // the backend could not be asked: states from the store only
};

// Every task of the experiment.
Observed observe_tasks(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta);
// These tasks, with one call to the backend (`cancelled`: whether a cancel request names them).
std::vector<store::TaskStatus> observe_some(Backend& b, const store::Experiment& exp, const plan::Plan& p,
                                            const json& meta, const std::vector<size_t>& ids, bool cancelled);
// One task (its cancel request, when the caller knows it, in `cancelled`).
store::TaskStatus observe_task(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta,
                               size_t task, bool cancelled = false);

}  // namespace xrun::backend
