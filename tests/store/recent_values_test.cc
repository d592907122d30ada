#include <doctest/doctest.h>

#include <string>

#include "store/recent_values.h"

using namespace aplus;

TEST_CASE("recent values keep the newest writes up to their capacity") {
  RecentValues<int> recent(3, 1 << 20);
  recent.Put("a", 1, 4);
  recent.Put("b", 2, 4);
  recent.Put("c", 3, 4);
  REQUIRE(recent.Find("a"));
  CHECK(*recent.Find("a") == 1);
  recent.Put("d", 4, 4);  // the oldest write (a) leaves
  CHECK(recent.Find("a") == nullptr);
  CHECK(*recent.Find("d") == 4);
  CHECK(recent.size() == 3);
}

TEST_CASE("a key written again is refreshed, and its older place in line does not evict it") {
  RecentValues<int> recent(2, 1 << 20);
  recent.Put("a", 1, 4);
  recent.Put("b", 2, 4);
  recent.Put("a", 10, 4);  // a is now the newest
  recent.Put("c", 3, 4);   // b leaves, not a
  CHECK(recent.Find("b") == nullptr);
  REQUIRE(recent.Find("a"));
  CHECK(*recent.Find("a") == 10);
  // Many rewrites of one key never grow the line without bound nor evict the others early.
  for (int i = 0; i < 1000; ++i) recent.Put("a", i, 4);
  CHECK(*recent.Find("a") == 999);
  CHECK(*recent.Find("c") == 3);
  CHECK(recent.size() == 2);
}

TEST_CASE("an erased key is read from the database again") {
  RecentValues<std::string> recent(4, 1 << 20);
  recent.Put("q/1", "item", 4);
  recent.Erase("q/1");
  CHECK(recent.Find("q/1") == nullptr);
  RecentValues<int> none(0, 1 << 20);
  none.Put("a", 1, 4);
  CHECK(none.Find("a") == nullptr);
}

TEST_CASE("the byte budget evicts the oldest, and a value too large is not kept at all") {
  RecentValues<std::string> recent(100, 800);  // a value may take 100 bytes at most
  recent.Put("a", "old", 50);
  recent.Put("a", "big", 200);  // too large: not kept, and the older value is gone too
  CHECK(recent.Find("a") == nullptr);
  for (int i = 0; i < 10; ++i) recent.Put("k" + std::to_string(i), "v", 98);  // 100 bytes each
  CHECK(recent.bytes() <= 800);
  CHECK(recent.size() == 8);
  CHECK(recent.Find("k0") == nullptr);
  CHECK(recent.Find("k1") == nullptr);
  REQUIRE(recent.Find("k9"));
  recent.Erase("k9");
  CHECK(recent.bytes() == 700);
}
