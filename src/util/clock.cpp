#include "xrun/util/clock.hpp"

#include <ctime>

namespace xrun::util {

double SteadyClock::now() const {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

const Clock& steady_clock() {
  static const SteadyClock clock;
  return clock;
}

double monotonic_seconds() { return steady_clock().now(); }

}  // namespace xrun::util
