// The RocksDB wrapper's counter families (RocksDbOptions::counter_families): a rewritten
// counter is overwritten in place in the memtable (the memtable holds one entry per key, not
// one per write), every write still reaches the write-ahead log (replication reads it), and
// the values read back, after a reopen too, are the last ones written. Bloom filters by how a
// family is read (RocksDbOptions::point_reads), and the memory estimates. Universal
// compaction for the families written all over their key space
// (RocksDbOptions::scattered_families), on a store written with leveled compaction too.
#include "store/rocks_db.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/metadata.h>
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


// Keys spread over the whole key space, as random idempotency keys are.
std::string ScatteredKey(int i) { return "K-" + Fixed(static_cast<int>((i * 7919L) % 100003)); }

void PutRange(RocksDb& db, const std::string& family, int first, int count,
              const std::string& value) {
  rocksdb::WriteBatch batch;
  for (int i = first; i < first + count; ++i) {
    REQUIRE(batch.Put(db.Family(family), ScatteredKey(i), value).ok());
  }
  REQUIRE(db.Write(batch).ok());
}

// The number of table files on each level of `family`.
std::vector<size_t> FilesPerLevel(RocksDb& db, const std::string& family) {
  rocksdb::ColumnFamilyMetaData meta;
  db.raw()->GetColumnFamilyMetaData(db.Family(family), &meta);
  std::vector<size_t> files;
  for (const auto& level : meta.levels) files.push_back(level.files.size());
  return files;
}

// A universal family's sorted runs: each level-0 file, and each other non-empty level.
size_t SortedRuns(RocksDb& db, const std::string& family) {
  const auto files = FilesPerLevel(db, family);
  size_t runs = files[0];
  for (size_t level = 1; level < files.size(); ++level) runs += files[level] > 0 ? 1 : 0;
  return runs;
}

// Waits until universal compaction has merged `family` down to RocksDB's trigger (4 sorted
// runs, level0_file_num_compaction_trigger; it merges no further on its own) and nothing runs.
void AwaitMerges(RocksDb& db, const std::string& family) {
  for (int i = 0; i < 1000; ++i) {
    uint64_t running = 0;
    REQUIRE(db.raw()->GetIntProperty("rocksdb.num-running-compactions", &running));
    if (running == 0 && SortedRuns(db, family) <= 4) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string levels;
  db.raw()->GetProperty(db.Family(family), "rocksdb.levelstats", &levels);
  FAIL("not merged after 10 s:\n" << levels);
}

TEST_CASE("a scattered family is compacted in sorted runs, also when written leveled before" *
          doctest::timeout(60)) {
  testing::TempDir dir("rocks-scattered");
  std::vector<std::string> newest(3000);  // what each key must read
  auto put = [&](RocksDb& db, int first, int count, const std::string& value) {
    PutRange(db, "scattered", first, count, value);
    for (int i = first; i < first + count; ++i) newest[i] = value;
  };
  {
    // The store as an earlier release wrote it, leveled, over three levels: the first values
    // on level 4, overwrites of some on level 1, more overwrites flushed to level 0.
    auto opened = RocksDb::Open(dir.Sub("db"), {"scattered", "appended"});
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    RocksDb& db = **opened;
    CHECK(db.raw()->GetOptions(db.Family("scattered")).compaction_style ==
          rocksdb::kCompactionStyleLevel);
    put(db, 0, 3000, "first");
    rocksdb::CompactRangeOptions to_level_4;
    to_level_4.change_level = true;
    to_level_4.target_level = 4;
    REQUIRE(db.raw()->CompactRange(to_level_4, db.Family("scattered"), nullptr, nullptr).ok());
    put(db, 0, 1000, "second");
    REQUIRE(db.FlushAll().ok());
    rocksdb::ColumnFamilyMetaData meta;
    db.raw()->GetColumnFamilyMetaData(db.Family("scattered"), &meta);
    std::vector<std::string> level_0;
    for (const auto& file : meta.levels[0].files) level_0.push_back(file.name);
    REQUIRE(db.raw()
                ->CompactFiles(rocksdb::CompactionOptions(), db.Family("scattered"), level_0, 1)
                .ok());
    put(db, 200, 100, "third");
    REQUIRE(db.FlushAll().ok());
    const auto files = FilesPerLevel(db, "scattered");
    REQUIRE(files.size() >= 5);
    CHECK(files[0] == 1);
    CHECK(files[1] > 0);
    CHECK(files[4] > 0);
  }
  RocksDbOptions options;
  options.scattered_families = {"scattered"};
  auto opened = RocksDb::Open(dir.Sub("db"), {"scattered", "appended"}, options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  RocksDb& db = **opened;
  CHECK(db.raw()->GetOptions(db.Family("scattered")).compaction_style ==
        rocksdb::kCompactionStyleUniversal);
  CHECK(db.raw()->GetOptions(db.Family("appended")).compaction_style ==
        rocksdb::kCompactionStyleLevel);
  auto check_all = [&] {
    for (int i = 0; i < 3000; ++i) {
      auto value = db.Get(db.Family("scattered"), ScatteredKey(i));
      REQUIRE(value.ok());
      REQUIRE_MESSAGE(value->has_value(), "key " << i << " lost");
      CHECK_MESSAGE(**value == newest[i], "key " << i);
    }
    CHECK_FALSE(db.Get(db.Family("scattered"), ScatteredKey(5000))->has_value());
  };
  check_all();

  // Enough flushes for universal merges, the runs of the leveled store among them.
  for (int flush = 0; flush < 8; ++flush) {
    put(db, 500 + flush * 100, 100, "fourth");
    REQUIRE(db.FlushAll().ok());
  }
  // Merged: the leveled store's three runs and eight flushes, down to four runs at most.
  AwaitMerges(db, "scattered");
  check_all();
  // A full compaction ends in one sorted run that still reads every key's newest value.
  REQUIRE(db.CompactAll().ok());
  CHECK(SortedRuns(db, "scattered") == 1);
  check_all();
}
}  // namespace
