#include <doctest/doctest.h>

#include <string>

#include "store/recent_values.h"

using namespace aplus;

TEST_CASE("recent values keep the newest writes up to their capacity") {
  RecentValues<int> recent(3);
  recent.Put("a", 1);
  recent.Put("b", 2);
  recent.Put("c", 3);
  REQUIRE(recent.Find("a"));
  CHECK(*recent.Find("a") == 1);
  recent.Put("d", 4);  // the oldest write (a) leaves
  CHECK(recent.Find("a") == nullptr);
  CHECK(*recent.Find("d") == 4);
  CHECK(recent.size() == 3);
}

TEST_CASE("a key written again is refreshed, and its older place in line does not evict it") {
  RecentValues<int> recent(2);
  recent.Put("a", 1);
  recent.Put("b", 2);
  recent.Put("a", 10);  // a is now the newest
  recent.Put("c", 3);   // b leaves, not a
  CHECK(recent.Find("b") == nullptr);
  REQUIRE(recent.Find("a"));
  CHECK(*recent.Find("a") == 10);
  // Many rewrites of one key never grow the line without bound nor evict the others early.
  for (int i = 0; i < 1000; ++i) recent.Put("a", i);
  CHECK(*recent.Find("a") == 999);
  CHECK(*recent.Find("c") == 3);
  CHECK(recent.size() == 2);
}

TEST_CASE("an erased key is read from the database again") {
  RecentValues<std::string> recent(4);
  recent.Put("q/1", "item");
  recent.Erase("q/1");
  CHECK(recent.Find("q/1") == nullptr);
  RecentValues<int> none(0);
  none.Put("a", 1);
  CHECK(none.Find("a") == nullptr);
}
