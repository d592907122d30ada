// The read-only open (store/read_only_db.h): it sees what the owner of the directory wrote,
// its log included (not yet flushed), writes nothing there, and says why it cannot open.
#include "store/read_only_db.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "store/rocks_db.h"
#include "tests/support/child_process.h"

namespace {

using namespace aplus;

TEST_CASE("a read-only open sees the owner's writes, log included, and leaves the directory as it is" *
          doctest::timeout(60)) {
  testing::TempDir dir("read-only-db");
  auto owner = RocksDb::Open(dir.Sub("db"), {"cases", "due"});
  REQUIRE_MESSAGE(owner.ok(), owner.status().ToString());
  rocksdb::WriteBatch batch;
  REQUIRE(batch.Put((*owner)->Family("due"), "flushed", "1").ok());
  REQUIRE((*owner)->Write(batch).ok());
  REQUIRE((*owner)->FlushAll().ok());
  batch.Clear();
  REQUIRE(batch.Put((*owner)->Family("due"), "logged", "2").ok());
  REQUIRE((*owner)->Write(batch).ok());
  const uint64_t sequence = (*owner)->raw()->GetLatestSequenceNumber();

  auto files_in = [&] {
    size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.Sub("db"))) {
      (void)entry;
      ++count;
    }
    return count;
  };
  const size_t files_before = files_in();
  {
    auto reader = ReadOnlyDb::Open(dir.Sub("db"));  // while the owner has it open
    REQUIRE_MESSAGE(reader.ok(), reader.status().ToString());
    CHECK((*reader)->db().GetLatestSequenceNumber() == sequence);
    auto* due = (*reader)->Family("due");
    REQUIRE(due != nullptr);
    CHECK((*reader)->Family("cases") != nullptr);
    CHECK((*reader)->Family("alerts") == nullptr);
    std::string value;
    REQUIRE((*reader)->db().Get(rocksdb::ReadOptions(), due, "flushed", &value).ok());
    CHECK(value == "1");
    REQUIRE((*reader)->db().Get(rocksdb::ReadOptions(), due, "logged", &value).ok());
    CHECK(value == "2");
  }
  CHECK(files_in() == files_before);
  // The owner goes on writing.
  batch.Clear();
  REQUIRE(batch.Put((*owner)->Family("due"), "after", "3").ok());
  CHECK((*owner)->Write(batch).ok());
}

TEST_CASE("a directory that holds no database is an error, not an empty database" *
          doctest::timeout(60)) {
  testing::TempDir dir("read-only-db-missing");
  auto missing = ReadOnlyDb::Open(dir.Sub("nothing-here"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == wire::UNAVAILABLE);
  CHECK(missing.status().message().find("nothing-here") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.Sub("nothing-here")));
}

}  // namespace
