// Following an experiment that a scheduler runs (`run --wait`): one refresh (one scheduler
// call) per poll, a progress line, the end-of-run summary, and local-run exit codes.
#pragma once

#include "xrun/backend/backend.hpp"

namespace xrun::backend {

// Returns 0 when every task succeeded, 1 when not, 130 when interrupted (then the
// experiment's unfinished tasks are cancelled, as a local run would do).
int follow(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta, double poll_seconds,
           bool quiet);

}  // namespace xrun::backend
