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
    auto all = outbox.All();
    REQUIRE(all.ok());
    REQUIRE(!all->empty());
    CHECK(all->front().second.local_ref() == "LOC-0");
    REQUIRE(outbox.Remove(all->front().first).ok());
    CHECK(outbox.size() == 2);
  }
  auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
  REQUIRE(db.ok());
  Outbox outbox(**db);
  CHECK(outbox.size() == 2);
  auto listed = outbox.All();
  REQUIRE(listed.ok());
  auto& all = *listed;
  REQUIRE(all.size() == 2);
  CHECK(all[0].second.local_ref() == "LOC-1");
  CHECK(all[1].second.local_ref() == "LOC-2");
  records::OutboxEntry entry;
  auto sequence = outbox.Append(entry);
  REQUIRE(sequence.ok());
  CHECK(*sequence > all[1].first);  // sequences never go back after a restart
}

TEST_CASE("an unreadable outbox entry is an error, never a silently empty request") {
  testing::TempDir dir("outbox-unreadable");
  auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
  REQUIRE(db.ok());
  {
    Outbox outbox(**db);
    records::OutboxEntry entry;
    entry.set_local_ref("LOC-1");
    REQUIRE(outbox.Append(entry).ok());
  }
  // Garbage under the next sequence (as a torn or foreign write would leave).
  std::string key;
  AppendBigEndian64(key, 2);
  rocksdb::WriteBatch batch;
  batch.Put((*db)->Family(kOutboxFamily), key, std::string("\xff\xff\xff\xff", 4));
  REQUIRE((*db)->Write(batch).ok());
  Outbox outbox(**db);
  auto all = outbox.All();
  REQUIRE_FALSE(all.ok());
  CHECK(all.status().code() == wire::INTERNAL);
}
