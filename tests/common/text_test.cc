// common/text.h: what counts as a blank, trimming at both ends only, excerpts for messages.
#include "common/text.h"

#include <doctest/doctest.h>

using namespace aplus;

TEST_CASE("blanks are space, tab, carriage return and line feed") {
  for (char c : std::string_view(" \t\r\n")) CHECK(IsBlank(c));
  for (char c : std::string_view("a0-_\v\f")) CHECK_FALSE(IsBlank(c));
}

TEST_CASE("id characters are ASCII letters, digits, '.', '_' and '-'") {
  for (char c : std::string_view("azAZ09._-")) CHECK(IsIdChar(c));
  for (char c : std::string_view(" /\\\"':@,\t")) CHECK_FALSE(IsIdChar(c));
  CHECK_FALSE(IsIdChar('\xc3'));  // the first byte of "é" in UTF-8
}

TEST_CASE("trimming removes blanks at both ends, keeps those inside, and may leave nothing") {
  CHECK(TrimBlanks("  tcp://a:7400 \r\n") == "tcp://a:7400");
  CHECK(TrimBlanks("\t1m, 5m\t") == "1m, 5m");
  CHECK(TrimBlanks("no-blank") == "no-blank");
  CHECK(TrimBlanks(" \t\r\n ").empty());
  CHECK(TrimBlanks("").empty());
}

TEST_CASE("a quoted excerpt is the text in single quotes, cut to its first 64 characters") {
  CHECK(QuotedExcerpt("superuser") == "'superuser'");
  CHECK(QuotedExcerpt("") == "''");
  CHECK(QuotedExcerpt(std::string(64, 'a')) == "'" + std::string(64, 'a') + "'");
  CHECK(QuotedExcerpt(std::string(64, 'a') + "tail") == "'" + std::string(64, 'a') + "'");
}
