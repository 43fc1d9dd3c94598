// `xrun resume`: which tasks run again, and `--reload`.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "xrun/ops/experiment.hpp"

namespace xrun::ops {

struct ResumePlan {
  std::set<size_t> to_run;  // tasks that did not succeed and nothing queues or runs
  size_t still_active = 0;  // tasks a scheduler still queues or runs (left alone)
  bool file_changed = false;  // the experiment file differs from the one the run recorded
  bool file_gone = false;
};
// Refuses a task running on another host (the local pool can neither adopt nor stop it).
Result<ResumePlan> plan_resume(const Opened& o, const std::vector<store::TaskStatus>& statuses);

// --reload: the file as it is now replaces the plan of the tasks that did not succeed (matched
// by position; the stages and their task counts must stay the same). Returns how many of those
// now run a different command.
Result<size_t> reload_plan(Opened& o, const std::vector<store::TaskStatus>& statuses);

// The cancel requests of the tasks a resume runs again applied to their earlier attempts: kept
// aside as history (a request naming other tasks too is split: theirs stays in force). Returns
// the folder they were moved to ("" when there were none).
Result<std::string> archive_cancel_requests(const Opened& o, const std::set<size_t>& rerun);
// A resume whose launch failed (nothing of it started, or what was submitted was cancelled): the
// requests archived for it apply again (moved back into cancel/, beside any made meanwhile).
Result<void> restore_cancel_requests(const Opened& o, const std::string& archived);

}  // namespace xrun::ops
