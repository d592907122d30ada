// The RocksDB wrapper's counter families (RocksDbOptions::counter_families): a rewritten
// counter is overwritten in place in the memtable (the memtable holds one entry per key, not
// one per write), every write still reaches the write-ahead log (replication reads it), and
// the values read back, after a reopen too, are the last ones written.
#include "store/rocks_db.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "tests/support/child_process.h"

namespace {

using namespace aplus;

uint64_t Property(RocksDb& db, const std::string& family, const char* name) {
  uint64_t value = 0;
  REQUIRE(db.raw()->GetIntProperty(db.Family(family), name, &value));
  return value;
}

// The broker's counters are fixed-size (be64): a value no larger than the one in the memtable
// is overwritten in place; a larger one is inserted as a new version.
std::string Fixed(int i) {
  std::string text = std::to_string(i);
  return std::string(8 - text.size(), '0') + text;
}

void WriteBoth(RocksDb& db, const std::string& counter_value, int i) {
  rocksdb::WriteBatch batch;
  REQUIRE(batch.Put(db.Family("meta"), "case_counter", counter_value).ok());
  REQUIRE(batch.Put(db.Family("meta"), "audit_counter", Fixed(i)).ok());
  REQUIRE(batch.Put(db.Family("cases"), "PER-" + std::to_string(i), "record").ok());
  REQUIRE(db.Write(batch).ok());
}

TEST_CASE("a counter family rewrites its keys in place; every write is still logged" *
          doctest::timeout(60)) {
  testing::TempDir dir("rocks-counters");
  RocksDbOptions options;
  options.counter_families = {"meta"};
  constexpr int kWrites = 2000;
  {
    auto opened = RocksDb::Open(dir.Sub("db"), {"meta", "cases"}, options);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    RocksDb& db = **opened;
    const uint64_t first_sequence = db.raw()->GetLatestSequenceNumber();
    for (int i = 1; i <= kWrites; ++i) {
      // Same size each time (in place), except the last, larger value (a new version).
      WriteBoth(db, i == kWrites ? std::string(40, 'x') : std::to_string(10000 + i), i);
    }
    // Two counters: one entry each, plus the larger last value; the other family holds every
    // write.
    CHECK(Property(db, "meta", "rocksdb.num-entries-active-mem-table") == 3);
    CHECK(Property(db, "cases", "rocksdb.num-entries-active-mem-table") == kWrites);
    // Each of the 3 x kWrites puts took its own sequence number: the log holds them all.
    CHECK(db.raw()->GetLatestSequenceNumber() - first_sequence == 3 * kWrites);
    CHECK(**db.Get(db.Family("meta"), "case_counter") == std::string(40, 'x'));
    CHECK(**db.Get(db.Family("meta"), "audit_counter") == Fixed(kWrites));
  }
  // The log replayed at reopen gives the same last values.
  auto reopened = RocksDb::Open(dir.Sub("db"), {"meta", "cases"}, options);
  REQUIRE(reopened.ok());
  RocksDb& db = **reopened;
  CHECK(**db.Get(db.Family("meta"), "case_counter") == std::string(40, 'x'));
  CHECK(**db.Get(db.Family("meta"), "audit_counter") == Fixed(kWrites));
  CHECK(**db.Get(db.Family("cases"), "PER-1") == "record");
  // And after a flush, from the table file.
  REQUIRE(db.FlushAll().ok());
  CHECK(**db.Get(db.Family("meta"), "audit_counter") == Fixed(kWrites));
  WriteBoth(db, "after", kWrites + 1);
  CHECK(**db.Get(db.Family("meta"), "case_counter") == "after");
}

TEST_CASE("without counter families every rewrite is a memtable entry of its own" *
          doctest::timeout(60)) {
  testing::TempDir dir("rocks-no-counters");
  auto opened = RocksDb::Open(dir.Sub("db"), {"meta", "cases"});
  REQUIRE(opened.ok());
  RocksDb& db = **opened;
  for (int i = 1; i <= 100; ++i) WriteBoth(db, std::to_string(10000 + i), i);
  CHECK(Property(db, "meta", "rocksdb.num-entries-active-mem-table") == 200);
  CHECK(**db.Get(db.Family("meta"), "case_counter") == "10100");
}

}  // namespace
