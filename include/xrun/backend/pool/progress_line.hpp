// The pool's live progress line, as a pure function of counts and durations (the engine gathers
// them; run::Progress prints): "[stage 2/3 sim] 3/10 done, 0 failed, 2 running, elapsed 4.0s,
// ETA 6.0s", or "[2 stages: sim 3/10, base 1/4] ..." when several stages are open.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace xrun::backend::pool {

struct ProgressInput {
  struct Stage {
    size_t index = 0;  // its place in the plan (shown from 1)
    std::string name;
    size_t total = 0, done = 0, failed = 0;  // the tasks this runner runs or watches
  };
  size_t stages = 0;                // in the plan
  std::vector<Stage> open;          // open stages with work left, in the graph's order
  size_t running = 0;               // tasks in slots or adopted
  size_t slots = 1;                 // the pool's size
  double elapsed = 0;               // seconds since the runner started
  size_t timed = 0;                 // tasks that ran to their end here
  double durations = 0;             // their total duration, seconds
  std::vector<double> running_for;  // how long each task in a slot has run, seconds
};

// "" when no stage is open with work left. The ETA: the tasks not started yet go through the
// slots in waves of the mean duration, after what the running ones still need; "-" before any
// task ended.
std::string progress_line(const ProgressInput& in);

}  // namespace xrun::backend::pool
