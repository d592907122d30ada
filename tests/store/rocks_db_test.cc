// The RocksDB wrapper's counter families (RocksDbOptions::counter_families): a rewritten
// counter is overwritten in place in the memtable (the memtable holds one entry per key, not
// one per write), every write still reaches the write-ahead log (replication reads it), and
// the values read back, after a reopen too, are the last ones written. Bloom filters by how a
// family is read (RocksDbOptions::point_reads), and the memory estimates.
#include "store/rocks_db.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include <rocksdb/table_properties.h>

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

// Bloom filters by how a family is read (RocksDbOptions::point_reads): read out of the table
// files' own properties, which record the filter block each file was written with.
uint64_t FilterBytes(RocksDb& db, const std::string& family) {
  rocksdb::TablePropertiesCollection tables;
  REQUIRE(db.raw()->GetPropertiesOfAllTables(db.Family(family), &tables).ok());
  REQUIRE_FALSE(tables.empty());
  uint64_t bytes = 0;
  for (const auto& [file, properties] : tables) bytes += properties->filter_size;
  return bytes;
}

TEST_CASE("filters only where a Get may miss; memory estimates follow the data" *
          doctest::timeout(60)) {
  testing::TempDir dir("rocks-filters");
  RocksDbOptions options;
  options.point_reads = {{"hits", PointReads::kHit}, {"scans", PointReads::kNone}};
  auto opened = RocksDb::Open(dir.Sub("db"), {"lookups", "hits", "scans"}, options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  RocksDb& db = **opened;

  const StoreMemoryUsage empty = db.MemoryUsage();
  for (int i = 0; i < 5000; ++i) {
    rocksdb::WriteBatch batch;
    for (const char* family : {"lookups", "hits", "scans"}) {
      REQUIRE(batch.Put(db.Family(family), "PER-" + Fixed(i), "record").ok());
    }
    REQUIRE(db.Write(batch).ok());
  }
  CHECK(db.MemoryUsage().memtables > empty.memtables);
  CHECK(empty.table_readers == 0);  // no table file yet

  // Flushed to level 0, above the last level: only the iterator-only family has no filter.
  REQUIRE(db.FlushAll().ok());
  CHECK(FilterBytes(db, "lookups") > 0);
  CHECK(FilterBytes(db, "hits") > 0);
  CHECK(FilterBytes(db, "scans") == 0);
  CHECK(db.MemoryUsage().table_readers > 0);

  // Compacted to the last level: a family read by Gets that find their key keeps no filter
  // there; one whose Gets may miss keeps it.
  REQUIRE(db.CompactAll().ok());
  CHECK(FilterBytes(db, "lookups") > 0);
  CHECK(FilterBytes(db, "hits") == 0);
  CHECK(FilterBytes(db, "scans") == 0);
  // Reads are unchanged by the filters: each family finds its keys and misses the others.
  for (const char* family : {"lookups", "hits", "scans"}) {
    CHECK(**db.Get(db.Family(family), "PER-" + Fixed(4321)) == "record");
    CHECK_FALSE(db.Get(db.Family(family), "PER-99999999")->has_value());
  }
  // Those reads went through the one shared block cache, counted once.
  const uint64_t cached = db.MemoryUsage().block_cache;
  CHECK(cached > 0);
  CHECK(cached < 32u << 20);
}

}  // namespace
