// Progress of long work in a log (common/progress_log.h): quiet under 2 s, then a line every
// 3 s and a last line with the totals.
#include "common/progress_log.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using aplus::ProgressLog;

namespace {
struct Recorder {
  int64_t now = 0;
  std::vector<std::string> lines;
  ProgressLog Log() {
    return ProgressLog("SLA catch-up", [this](const std::string& l) { lines.push_back(l); },
                       [this] { return now; });
  }
};
}  // namespace

TEST_CASE("quick work logs nothing") {
  Recorder r;
  ProgressLog log = r.Log();
  log.Begin();
  for (int i = 0; i < 10; ++i) {
    r.now += 150;
    log.Update(std::to_string(i) + " timers handled");
  }
  CHECK_FALSE(log.Finish("10 timers handled"));
  CHECK(r.lines.empty());
  CHECK_FALSE(log.running());
}

TEST_CASE("long work logs after 2 s, then every 3 s, then the totals") {
  Recorder r;
  ProgressLog log = r.Log();
  log.Begin();
  for (int i = 1; i <= 90; ++i) {  // 9 s in steps of 100 ms
    r.now += 100;
    log.Begin();  // a running piece of work goes on: no restart of its clock
    log.Update(std::to_string(i * 1000) + " timers handled");
  }
  CHECK(log.Finish("90000 timers handled"));
  REQUIRE(r.lines.size() == 4);
  CHECK(r.lines[0] == "SLA catch-up: 20000 timers handled so far (2 s)");
  CHECK(r.lines[1] == "SLA catch-up: 50000 timers handled so far (5 s)");
  CHECK(r.lines[2] == "SLA catch-up: 80000 timers handled so far (8 s)");
  CHECK(r.lines[3] == "SLA catch-up done: 90000 timers handled in 9.0 s");
}

TEST_CASE("a slow last piece still gets its final line; a new piece starts quiet again") {
  Recorder r;
  ProgressLog log = r.Log();
  log.Begin();
  r.now += 2500;  // one long batch, no Update in between
  log.Finish("1 timer handled");
  REQUIRE(r.lines.size() == 1);
  CHECK(r.lines[0] == "SLA catch-up done: 1 timer handled in 2.5 s");
  log.Begin();
  r.now += 100;
  log.Update("x");
  log.Finish("y");
  CHECK(r.lines.size() == 1);
  log.Finish("no piece running: nothing");
  CHECK(r.lines.size() == 1);
}
