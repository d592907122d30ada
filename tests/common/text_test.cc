// common/text.h: what counts as a blank, and trimming at both ends only.
#include "common/text.h"

#include <doctest/doctest.h>

using namespace aplus;

TEST_CASE("blanks are space, tab, carriage return and line feed") {
  for (char c : std::string_view(" \t\r\n")) CHECK(IsBlank(c));
  for (char c : std::string_view("a0-_\v\f")) CHECK_FALSE(IsBlank(c));
}

TEST_CASE("trimming removes blanks at both ends, keeps those inside, and may leave nothing") {
  CHECK(TrimBlanks("  tcp://a:7400 \r\n") == "tcp://a:7400");
  CHECK(TrimBlanks("\t1m, 5m\t") == "1m, 5m");
  CHECK(TrimBlanks("no-blank") == "no-blank");
  CHECK(TrimBlanks(" \t\r\n ").empty());
  CHECK(TrimBlanks("").empty());
}
