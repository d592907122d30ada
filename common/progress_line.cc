#include "common/progress_line.h"

#include <unistd.h>

#include <utility>

namespace aplus {

ProgressLine::ProgressLine(std::FILE* out)
    : ProgressLine(out, out != nullptr && ::isatty(::fileno(out)) == 1) {}

ProgressLine::ProgressLine(std::FILE* out, bool enabled, std::function<int64_t()> now_ms)
    : out_(out), enabled_(enabled && out != nullptr), now_ms_(std::move(now_ms)) {}

ProgressLine::~ProgressLine() { Clear(); }

std::string ProgressLine::Render(std::string_view text) {
  if (text.size() > kMaxColumns) {
    size_t cut = kMaxColumns;
    // Back off to the first byte of a UTF-8 character (continuation bytes are 10xxxxxx).
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut);
  }
  std::string line = "\r";
  for (char c : text) line += (c == '\n' || c == '\r') ? ' ' : c;  // one line, always
  line += "\033[K";
  return line;
}

bool ProgressLine::Update(std::string_view text) {
  if (!enabled_) return false;
  int64_t now = now_ms_();
  if (drawn_ && now - last_draw_ms_ < kMinRedrawMs) return false;
  std::string line = Render(text);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
  drawn_ = true;
  last_draw_ms_ = now;
  return true;
}

void ProgressLine::Clear() {
  if (!enabled_ || !drawn_) return;
  std::fputs("\r\033[K", out_);
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace aplus
