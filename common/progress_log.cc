#include "common/progress_log.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <utility>

namespace aplus {

ProgressLog::ProgressLog(std::string what, std::function<void(const std::string&)> emit,
                         std::function<int64_t()> now_ms)
    : what_(std::move(what)),
      emit_(emit ? std::move(emit) : [](const std::string& line) { spdlog::info("{}", line); }),
      now_ms_(std::move(now_ms)) {}

void ProgressLog::Begin() {
  if (running_) return;
  running_ = true;
  logged_ = false;
  started_ms_ = now_ms_();
}

void ProgressLog::Update(const std::string& counts) {
  if (!running_) return;
  int64_t now = now_ms_();
  if (now - started_ms_ < kQuietMs) return;
  if (logged_ && now - last_log_ms_ < kIntervalMs) return;
  emit_(what_ + ": " + counts + " so far (" + std::to_string((now - started_ms_) / 1000) + " s)");
  logged_ = true;
  last_log_ms_ = now;
}

bool ProgressLog::Finish(const std::string& counts) {
  if (!running_) return false;
  running_ = false;
  int64_t elapsed = now_ms_() - started_ms_;
  // Also when the last piece pushed a quiet run past kQuietMs without an Update in between.
  if (!logged_ && elapsed < kQuietMs) return false;
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.1f", static_cast<double>(elapsed) / 1000.0);
  emit_(what_ + " done: " + counts + " in " + seconds + " s");
  return true;
}

}  // namespace aplus
