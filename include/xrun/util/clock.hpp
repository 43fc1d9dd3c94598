// The clock of every timer and deadline on this host (walltime, kill grace, polling, elapsed
// time): the monotonic clock, which never steps when the wall clock is set (NTP, an admin, a
// VM resumed). The wall clock (util::now_seconds) is for records only: a task's start and end,
// when a run began. Code that waits or times takes a Clock, so that tests can drive it.
#pragma once

namespace xrun::util {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds from an arbitrary origin; never goes back.
  virtual double now() const = 0;
};

// CLOCK_MONOTONIC.
class SteadyClock : public Clock {
 public:
  double now() const override;
};

// The process's steady clock.
const Clock& steady_clock();
// steady_clock().now().
double monotonic_seconds();

}  // namespace xrun::util
