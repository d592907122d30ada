#include <doctest/doctest.h>

#include <map>
#include <random>

#include "store/rocks_db.h"
#include "store/staged_batch.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {
// The state of one family read back whole.
std::map<std::string, std::string> ReadAll(RocksDb& db, rocksdb::ColumnFamilyHandle* family) {
  std::map<std::string, std::string> out;
  auto it = db.NewIterator(family);
  for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
  return out;
}

// Every write of a batch, in the order they come out of it.
struct Recorder : rocksdb::WriteBatch::Handler {
  std::vector<std::pair<uint32_t, std::string>> writes;
  rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice& key, const rocksdb::Slice&) override {
    writes.emplace_back(family, key.ToString());
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t family, const rocksdb::Slice& key) override {
    writes.emplace_back(family, "-" + key.ToString());
    return rocksdb::Status::OK();
  }
};
}  // namespace

TEST_CASE("a staged batch leaves the database as the writes applied in order would") {
  testing::TempDir dir("staged");
  auto opened = RocksDb::Open(dir.Sub("db"), {"a", "b"});
  REQUIRE(opened.ok());
  RocksDb& db = **opened;
  auto* a = db.Family("a");
  auto* b = db.Family("b");
  // Reference: the same writes one by one, in the order made, into a second pair of families
  // of the same database ("reference" copies); compared family by family.
  std::map<std::string, std::string> expect_a, expect_b;
  std::mt19937 random(7);
  StagedBatch staged;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 400; ++i) {
      bool family_a = random() % 2 == 0;
      std::string key = "k" + std::to_string(random() % 60);
      auto& expect = family_a ? expect_a : expect_b;
      if (random() % 4 == 0) {
        staged.Delete(family_a ? a : b, key);
        expect.erase(key);
      } else {
        std::string value = "v" + std::to_string(round) + "." + std::to_string(i);
        staged.Put(family_a ? a : b, key, value);
        expect[key] = value;
      }
    }
    CHECK(staged.size() == 400);
    rocksdb::WriteBatch batch;
    staged.BuildInto(batch);
    // Each key once, in key order within a family, families in id order.
    Recorder recorder;
    REQUIRE(batch.Iterate(&recorder).ok());
    CHECK(recorder.writes.size() <= 120);
    for (size_t i = 1; i < recorder.writes.size(); ++i) {
      auto strip = [](const std::string& key) { return key[0] == '-' ? key.substr(1) : key; };
      const auto& [family_before, key_before] = recorder.writes[i - 1];
      const auto& [family, key] = recorder.writes[i];
      CHECK((family_before < family || (family_before == family && strip(key_before) < strip(key))));
    }
    REQUIRE(db.Write(batch).ok());
    staged.Clear();
    CHECK(staged.empty());
    CHECK(ReadAll(db, a) == expect_a);
    CHECK(ReadAll(db, b) == expect_b);
  }
}

TEST_CASE("the last write of a key in a batch wins, a delete included") {
  testing::TempDir dir("staged-last");
  auto opened = RocksDb::Open(dir.Sub("db"), {"a"});
  REQUIRE(opened.ok());
  RocksDb& db = **opened;
  auto* a = db.Family("a");
  StagedBatch staged;
  staged.Put(a, "x", "1");
  staged.Put(a, "y", "1");
  REQUIRE(([&] { rocksdb::WriteBatch batch; staged.BuildInto(batch); return db.Write(batch); })().ok());
  staged.Clear();
  staged.Put(a, "x", "2");
  staged.Delete(a, "x");   // put then delete: gone
  staged.Delete(a, "y");
  staged.Put(a, "y", "3");  // delete then put: the put
  staged.Put(a, "z", "4");
  staged.Put(a, "z", "5");
  rocksdb::WriteBatch batch;
  staged.BuildInto(batch);
  CHECK(batch.Count() == 3);
  REQUIRE(db.Write(batch).ok());
  CHECK(ReadAll(db, a) == std::map<std::string, std::string>{{"y", "3"}, {"z", "5"}});
}
