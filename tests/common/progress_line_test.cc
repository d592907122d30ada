// The progress line of long commands (common/progress_line.h): drawn in place on a terminal,
// at most 5 times a second, erased at the end; nothing at all when not on a terminal.
#include "common/progress_line.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

using aplus::ProgressLine;

namespace {

// A stream whose bytes the test reads back (a pipe would do too; memory is simpler).
struct Captured {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* file = open_memstream(&buffer, &size);
  ~Captured() {
    std::fclose(file);
    std::free(buffer);
  }
  std::string Text() {
    std::fflush(file);
    return std::string(buffer, size);
  }
};

}  // namespace

TEST_CASE("not on a terminal: nothing is written, ever") {
  Captured out;
  int64_t now = 0;
  {
    // A memory stream is not a terminal: the isatty constructor must find that by itself.
    ProgressLine line(out.file);
    CHECK_FALSE(line.enabled());
    CHECK_FALSE(line.Update("filled 10 / 100 cases"));
    now += 1000;
    line.Clear();
  }
  {
    ProgressLine line(out.file, false, [&] { return now; });
    CHECK_FALSE(line.Update("filled 20 / 100 cases"));
  }
  CHECK(out.Text().empty());
}

TEST_CASE("on a terminal: drawn in place, at most every 200 ms, erased at the end") {
  Captured out;
  int64_t now = 10'000;
  {
    ProgressLine line(out.file, true, [&] { return now; });
    CHECK(line.Update("filled 1 / 100"));
    now += 50;
    CHECK_FALSE(line.Update("filled 2 / 100"));  // too soon: dropped
    now += 150;
    CHECK(line.Update("filled 3 / 100"));         // 200 ms after the first drawing
    now += 199;
    CHECK_FALSE(line.Update("filled 4 / 100"));
  }  // the destructor erases the line
  CHECK(out.Text() == "\rfilled 1 / 100\033[K\rfilled 3 / 100\033[K\r\033[K");
}

TEST_CASE("Clear erases only what was drawn, and the next Update draws at once") {
  Captured out;
  int64_t now = 0;
  ProgressLine line(out.file, true, [&] { return now; });
  line.Clear();
  CHECK(out.Text().empty());
  CHECK(line.Update("a"));
  line.Clear();
  CHECK(line.Update("b"));  // no wait after a Clear
  line.Clear();
  line.Clear();
  CHECK(out.Text() == "\ra\033[K\r\033[K\rb\033[K\r\033[K");
}

TEST_CASE("the rendering is one line cut to the terminal, never inside a character") {
  CHECK(ProgressLine::Render("waiting 3 s") == "\rwaiting 3 s\033[K");
  CHECK(ProgressLine::Render("two\nlines") == "\rtwo lines\033[K");
  std::string long_text(100, 'x');
  CHECK(ProgressLine::Render(long_text) ==
        "\r" + std::string(ProgressLine::kMaxColumns, 'x') + "\033[K");
  // "é" is two bytes; one straddling the cut is left out whole.
  std::string accented = std::string(ProgressLine::kMaxColumns - 1, 'a') + "é";
  CHECK(ProgressLine::Render(accented) ==
        "\r" + std::string(ProgressLine::kMaxColumns - 1, 'a') + "\033[K");
}
