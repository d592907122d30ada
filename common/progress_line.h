// One line of progress for a long command (aplus-bench's fills, `aplus report` waiting for the
// broker), on a terminal only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace aplus {

// Draws `text` on one line redrawn in place (a carriage return, then the text, then "erase to
// the end of the line"), at most every kMinRedrawMs, and erases it at the end (Clear, or the
// destructor), so that what the command prints next starts on a clean line. When the stream
// is not a terminal (a pipe, a file, CI) it writes nothing at all: logs keep real lines only.
//
// Thread rules: one thread uses an instance (the one that owns the stream's output).
class ProgressLine {
 public:
  static constexpr int64_t kMinRedrawMs = 200;  // at most 5 redraws a second
  static constexpr size_t kMaxColumns = 79;     // longer texts are cut (an 80-column terminal)

  // Draws on `out` when its descriptor is a terminal (isatty).
  explicit ProgressLine(std::FILE* out);
  // Draws on `out` when `enabled`; `now_ms` is the monotonic clock (tests inject one).
  ProgressLine(std::FILE* out, bool enabled, std::function<int64_t()> now_ms = SteadyNowMs);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Shows `text` unless the last drawing was less than kMinRedrawMs ago (then it is dropped: a
  // later Update shows the newer text). Returns whether it drew.
  bool Update(std::string_view text);
  // Erases the line if something is drawn; a later Update draws again.
  void Clear();

  bool enabled() const { return enabled_; }

  // What one drawing writes: "\r", `text` cut to kMaxColumns (never inside a UTF-8 character),
  // "\033[K".
  static std::string Render(std::string_view text);

 private:
  std::FILE* const out_;
  const bool enabled_;
  const std::function<int64_t()> now_ms_;
  bool drawn_ = false;
  int64_t last_draw_ms_ = 0;
};

}  // namespace aplus
