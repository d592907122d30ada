#include <doctest/doctest.h>

#include "store/outbox.h"
#include "tests/support/child_process.h"

using namespace aplus;

TEST_CASE("the outbox keeps order across reopen and forgets removed entries") {
  testing::TempDir dir("outbox");
  {
    auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
    REQUIRE(db.ok());
    Outbox outbox(**db);
    for (int i = 0; i < 3; ++i) {
      records::OutboxEntry entry;
      entry.set_local_ref("LOC-" + std::to_string(i));
      REQUIRE(outbox.Append(entry).ok());
    }
    auto front = outbox.Front();
    REQUIRE(front);
    CHECK(front->second.local_ref() == "LOC-0");
    REQUIRE(outbox.Remove(front->first).ok());
    CHECK(outbox.size() == 2);
  }
  auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
  REQUIRE(db.ok());
  Outbox outbox(**db);
  CHECK(outbox.size() == 2);
  auto all = outbox.All();
  REQUIRE(all.size() == 2);
  CHECK(all[0].second.local_ref() == "LOC-1");
  CHECK(all[1].second.local_ref() == "LOC-2");
  records::OutboxEntry entry;
  auto sequence = outbox.Append(entry);
  REQUIRE(sequence.ok());
  CHECK(*sequence > all[1].first);  // sequences never go back after a restart
}
