// Time is injected so that tests can run days in milliseconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace aplus {

// Thread rules: implementations must be safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, unix milliseconds UTC: what is stored and shown.
  virtual int64_t NowMs() const = 0;
};

// Wall-clock time now, unix milliseconds UTC (SystemClock's, for code that takes no Clock).
inline int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override { return UnixNowMs(); }
};

// Monotonic milliseconds for leases and timeouts, never stored.
inline int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Monotonic nanoseconds, for durations measured into histograms, never stored.
inline int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace aplus
