// `xrun resume`: which tasks run again, and `--reload`.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "xrun/ops/experiment.hpp"
#include "xrun/plan/diff.hpp"

namespace xrun::ops {

struct ResumePlan {
  std::set<size_t> to_run;  // tasks that did not succeed and nothing queues or runs
  size_t still_active = 0;  // tasks a scheduler still queues or runs (left alone)
  bool file_changed = false;  // the experiment file differs from the one the run recorded
  bool file_gone = false;
};
// Refuses a task running on another host (the local pool can neither adopt nor stop it).
Result<ResumePlan> plan_resume(const Opened& o, const std::vector<store::TaskStatus>& statuses);

// What the experiment's file as it is now (`file`, else the one the run recorded) would change,
// by task identity (plan/diff.hpp): the new plan (its tasks with the ids the diff gave them,
// the tasks it retires kept in `retired`), and meta.json with the file's options.
struct Reload {
  plan::PlanDiff diff;
  plan::Plan merged;
  nlohmann::ordered_json meta;
  std::string source;  // the file's text
  std::string file;
};
Result<Reload> diff_reload(const Opened& o, const std::vector<store::TaskStatus>& statuses,
                           const std::string& file = "");
// --reload: acts on diff_reload(): refuses to retire a task that is still queued or running;
// keeps the previous file and plan beside the new ones, writes them, and makes `o` read them.
Result<plan::PlanDiff> reload_plan(Opened& o, const std::vector<store::TaskStatus>& statuses);

// The cancel requests of the tasks a resume runs again applied to their earlier attempts: kept
// aside as history (a request naming other tasks too is split: theirs stays in force). Returns
// the folder they were moved to ("" when there were none).
Result<std::string> archive_cancel_requests(const Opened& o, const std::set<size_t>& rerun);
// A resume whose launch failed (nothing of it started, or what was submitted was cancelled): the
// requests archived for it apply again (moved back into cancel/, beside any made meanwhile).
Result<void> restore_cancel_requests(const Opened& o, const std::string& archived);

}  // namespace xrun::ops
