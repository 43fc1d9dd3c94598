// The pool's progress line from counts and durations alone.
#include <catch2/catch.hpp>

#include "xrun/backend/pool/progress_line.hpp"

using namespace xrun::backend::pool;

TEST_CASE("progress line: one open stage, the ETA from the mean duration in waves", "[backend][pool]") {
  ProgressInput in;
  in.stages = 3;
  in.open = {{1, "sim", 10, 3, 1}};
  in.running = 2;
  in.slots = 2;
  in.elapsed = 4;
  CHECK(progress_line(in) == "[stage 2/3 sim] 3/10 done, 1 failed, 2 running, elapsed 4.0s, ETA -");  // nothing timed yet
  in.timed = 3;
  in.durations = 6;                // a mean of 2 s
  in.running_for = {0.5, 1.5};     // the longest still needs 1.5 s
  // 10 - 3 done - 2 running = 5 queued: 3 waves of 2 s on 2 slots, after 1.5 s.
  CHECK(progress_line(in) == "[stage 2/3 sim] 3/10 done, 1 failed, 2 running, elapsed 4.0s, ETA 7.5s");
  in.running_for = {5.0};          // over the mean: nothing more counted for it
  CHECK(progress_line(in) == "[stage 2/3 sim] 3/10 done, 1 failed, 2 running, elapsed 4.0s, ETA 6.0s");
}

TEST_CASE("progress line: several open stages side by side, and none", "[backend][pool]") {
  ProgressInput in;
  in.stages = 4;
  in.open = {{1, "sim", 10, 3, 0}, {2, "base", 4, 5, 0}};  // done over total is shown as total
  in.running = 1;
  in.slots = 4;
  in.elapsed = 65;
  CHECK(progress_line(in) == "[2 stages: sim 3/10, base 4/4] 7/14 done, 0 failed, 1 running, elapsed 1m05s, ETA -");
  in.open.clear();
  CHECK(progress_line(in).empty());
}
