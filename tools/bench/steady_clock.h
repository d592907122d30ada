// The one time base of every measurement in the benchmarks (aplus-bench and the peers' bench):
// the steady clock in nanoseconds, sleeps to absolute instants of it, and the open loop's
// schedule of due instants.
#pragma once

#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstdint>

#include "common/clock.h"

namespace aplus::bench {

// The programs' monotonic nanoseconds (common/clock.h), the same clock the broker's histograms
// use.
using aplus::SteadyNowNs;

// Sleeps until SteadyNowNs() reads `deadline_ns` (an absolute deadline: no drift when called in
// a loop of due instants); returns at once when it has passed. steady_clock is CLOCK_MONOTONIC
// on Linux.
inline void SleepUntilNs(int64_t deadline_ns) {
  if (deadline_ns <= SteadyNowNs()) return;
  timespec until{static_cast<time_t>(deadline_ns / 1'000'000'000),
                 static_cast<long>(deadline_ns % 1'000'000'000)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
  }
}

// When message i is due in an open loop: start + i / rate, evenly spaced, whatever happened to
// the messages before it. Latency is measured from this time, so a server that stalls the
// sender is charged for the stall (no coordinated omission).
class OpenLoopSchedule {
 public:
  OpenLoopSchedule(int64_t start_ns, double rate) : start_ns_(start_ns), rate_(rate) {}
  int64_t DueNs(uint64_t index) const {
    return start_ns_ + static_cast<int64_t>(static_cast<long double>(index) * 1e9L /
                                            static_cast<long double>(rate_));
  }

 private:
  int64_t start_ns_;
  double rate_;
};

}  // namespace aplus::bench
