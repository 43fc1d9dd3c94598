// Following an experiment that a scheduler runs (`run --wait`): one refresh (one scheduler
// call) per poll, a progress line, the end-of-run summary, and local-run exit codes.
#pragma once

#include "xrun/backend/backend.hpp"

namespace xrun::backend {

// Returns 0 when every task succeeded, 1 when not, 130 when interrupted by SIGINT or SIGTERM
// (then the experiment's unfinished tasks are cancelled, as a local run would do), 129 on SIGHUP
// (a dropped connection: the watcher detaches, nothing is cancelled).
int follow(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta, double poll_seconds,
           bool quiet);

// What a watcher says when a hangup detaches it: nothing cancelled, how to follow or cancel.
std::string detach_message(const Backend& b, const store::Experiment& exp);

}  // namespace xrun::backend
