// Progress of long work in a program's log (the broker's SLA catch-up after downtime): silent
// when the work is quick, a line every few seconds when it is not.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/clock.h"

namespace aplus {

// One piece of work, started by Begin and ended by Finish, reported through `emit` (spdlog's
// info by default): nothing when it ends within kQuietMs; once it has run that long, a line at
// most every kIntervalMs with the counts so far, and a last line with the totals and the
// duration. An operator watching a restart thus sees the catch-up move, and a normal start-up
// logs nothing more than before.
//
// Thread rules: one thread uses an instance (the broker's loop).
class ProgressLog {
 public:
  static constexpr int64_t kQuietMs = 2000;
  static constexpr int64_t kIntervalMs = 3000;

  // `what` names the work in each line, e.g. "SLA catch-up".
  explicit ProgressLog(std::string what,
                       std::function<void(const std::string&)> emit = nullptr,
                       std::function<int64_t()> now_ms = SteadyNowMs);

  // Starts a piece of work unless one is running (then it goes on).
  void Begin();
  // The counts so far, e.g. "12,000 timers handled, 9,500 alerts raised". Logs when due.
  void Update(const std::string& counts);
  // Ends the piece of work (no-op when none is running); logs "<what> done: <counts> in X s"
  // when it logged anything or took kQuietMs or more. Returns whether it logged that line (the
  // caller may log a quick piece of work its own way).
  bool Finish(const std::string& counts);

  bool running() const { return running_; }

 private:
  const std::string what_;
  const std::function<void(const std::string&)> emit_;
  const std::function<int64_t()> now_ms_;
  bool running_ = false;
  bool logged_ = false;
  int64_t started_ms_ = 0;
  int64_t last_log_ms_ = 0;
};

}  // namespace aplus
