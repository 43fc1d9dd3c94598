// Reuse of finished work across experiments (`xrun run --reuse`, `reuse: true`): a task whose
// content key (run/task_key.hpp) SUCCEEDED in an earlier experiment of the store is recorded as
// SUCCEEDED "reused from EXP/TASK" without running: one line in the index of finished tasks, no
// task folder.
//
// The store-wide index of succeeded keys is <store>/keys/, one file per experiment that has
// finished tasks: "xrun succeeded keys 1 INO SIZE MTIME_NS" (the stamp of the experiment's index
// it was made from), then "KEY TASK" lines, one per task that ran and SUCCEEDED (a reused task
// is not a source: its source is). It is a cache of what the experiments' own indexes say: any
// reader brings a stale file up to date (atomically; two at once write the same), a file whose
// experiment is gone is removed, and deleting the folder loses nothing.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/expander.hpp"
#include "xrun/plan/plan.hpp"
#include "xrun/store/store.hpp"
#include "xrun/util/result.hpp"

namespace xrun::ops {

using store::ReuseSource;

class SucceededKeys {
 public:
  // Every experiment's succeeded keys but `except`'s (the one being made), each file brought up
  // to date first; the newest experiment's task wins a key several have. Files of experiments
  // that are gone are removed.
  static SucceededKeys load(const store::Store& store, const std::string& except = "");
  const ReuseSource* find(std::string_view key) const;
  size_t size() const { return by_key_.size(); }

 private:
  std::vector<std::string> exps_;
  struct Hit {
    uint32_t exp;
    size_t task;
  };
  std::unordered_map<std::string, Hit> by_key_;
  mutable ReuseSource found_;
};

// The succeeded keys of one experiment, from its index (a file under <store>/keys, made or
// brought up to date). Empty when it has no index.
Result<std::vector<std::pair<std::string, size_t>>> succeeded_keys(const store::Store& store,
                                                                   const store::Experiment& exp);
// Removes the key files of experiments that no longer exist; returns how many.
size_t remove_stale_keys(const store::Store& store);

// Records every task of `p` in a stage with `reuse[stage]` whose key succeeded in an earlier
// experiment as SUCCEEDED "reused from EXP/TASK" (one index line each, no folder); returns
// their ids. `exp` is new: nothing of it ran yet.
Result<std::set<size_t>> reuse_finished(const store::Store& store, const store::Experiment& exp, const plan::Plan& p,
                                        const nlohmann::ordered_json& meta, const std::vector<bool>& reuse);

// Where a task's output files are: its own folder, or, for a task reused from another
// experiment (`reason` "reused from EXP/TASK"; any other reason: its own), the source task's.
// `removed`: the source experiment is gone, and its output with it.
struct OutputPlace {
  store::Experiment exp;
  size_t task = 0;
  std::optional<ReuseSource> reused;
  bool removed = false;
  std::string dir() const { return exp.task_dir(task); }
};
OutputPlace output_place(const store::Experiment& exp, size_t task, const std::string& reason);

// What reuse_finished would take of a plan not yet recorded (`run --dry-run`): its keys from the
// file (plan::Expander::key_stage on `backend`).
std::set<size_t> would_reuse(const store::Store& store, const plan::Expander& ex, const plan::Plan& p,
                             const std::string& backend, const std::vector<bool>& reuse);

}  // namespace xrun::ops
