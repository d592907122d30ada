#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "store/checkpoint_transfer.h"
#include "store/replication_log.h"
#include "store/rocks_db.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {

std::map<size_t, std::map<std::string, std::string>> Contents(const RocksDb& db) {
  std::map<size_t, std::map<std::string, std::string>> out;
  for (size_t i = 0; i < db.families().size(); ++i) {
    auto it = db.NewIterator(db.families()[i]);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out[i][it->key().ToString()] = it->value().ToString();
    }
    REQUIRE(it->status().ok());
  }
  return out;
}

uint64_t Latest(const RocksDb& db) { return db.raw()->GetLatestSequenceNumber(); }

const RocksDbOptions kArchive = [] {
  RocksDbOptions options;
  options.archive_log = true;
  options.log_ttl_seconds = 3600;
  return options;
}();

std::unique_ptr<RocksDb> OpenDb(const std::string& path, const RocksDbOptions& options = {}) {
  auto db = RocksDb::Open(path, {"a", "b"}, options);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

void WriteBatches(RocksDb& db, int count, int first = 0) {
  for (int n = first; n < first + count; ++n) {
    rocksdb::WriteBatch batch;
    batch.Put(db.Family("a"), "k" + std::to_string(n), std::string(100, 'x') + std::to_string(n));
    batch.Put(db.Family("b"), "last", std::to_string(n));
    if (n % 7 == 0 && n > 0) batch.Delete(db.Family("a"), "k" + std::to_string(n - 1));
    REQUIRE(db.Write(batch).ok());
  }
}

// Streams `manifest` into a receiver for `data_dir` in chunks of `chunk` bytes and installs it.
void Transfer(const CheckpointManifest& manifest, const std::string& data_dir, size_t chunk) {
  std::vector<std::string> names;
  for (const auto& file : manifest.files) names.push_back(file.name);
  auto receiver = CheckpointReceiver::Begin(data_dir, names);
  REQUIRE_MESSAGE(receiver.ok(), receiver.status().ToString());
  for (const auto& file : manifest.files) {
    for (uint64_t offset = 0; offset < file.size;) {
      auto data = ReadCheckpointChunk(manifest, file.name, offset, chunk);
      REQUIRE_MESSAGE(data.ok(), data.status().ToString());
      REQUIRE_FALSE(data->empty());
      REQUIRE((*receiver)->Write(file.name, offset, *data).ok());
      offset += data->size();
    }
  }
  CHECK((*receiver)->received_bytes() == manifest.total_bytes);
  auto installed = (*receiver)->Install();
  REQUIRE_MESSAGE(installed.ok(), installed.ToString());
}

// Applies the leader's log from `from` on `standby` until caught up.
void CatchUp(const RocksDb& leader, RocksDb& standby, uint64_t from) {
  for (;;) {
    auto read = ReadLogSince(leader, from, 64 << 10);
    REQUIRE_MESSAGE(read.ok(), read.status().ToString());
    REQUIRE(read->has_value());
    if ((*read)->empty()) return;
    for (const auto& batch : **read) {
      auto status = ApplyLoggedBatch(standby, batch);
      REQUIRE_MESSAGE(status.ok(), status.ToString());
      from = LastSequenceOf(batch) + 1;
    }
  }
}

}  // namespace

TEST_CASE("a checkpoint streamed in chunks and installed opens as the leader's database") {
  testing::TempDir dir("checkpoint");
  auto leader = OpenDb(dir.Sub("leader"), kArchive);
  WriteBatches(*leader, 200);
  REQUIRE(leader->FlushAll().ok());
  WriteBatches(*leader, 50, 200);  // some in the memtable: the checkpoint flushes them

  // The standby had an old copy of its own (replaced), or none.
  bool had_copy = false;
  SUBCASE("replacing an old copy") { had_copy = true; }
  SUBCASE("where there was none") { had_copy = false; }
  CAPTURE(had_copy);
  const std::string standby_dir = dir.Sub(had_copy ? "standby-old" : "standby-new");
  if (had_copy) {
    auto old = OpenDb(standby_dir);
    rocksdb::WriteBatch batch;
    batch.Put(old->Family("a"), "stale", "never acknowledged");
    REQUIRE(old->Write(batch).ok());
  }

  auto manifest = MakeCheckpoint(*leader, dir.Sub("checkpoint"));
  REQUIRE_MESSAGE(manifest.ok(), manifest.status().ToString());
  CHECK(manifest->sequence == Latest(*leader));
  uint64_t total = 0;
  bool has_current = false;
  for (const auto& file : manifest->files) {
    total += file.size;
    has_current = has_current || file.name == "CURRENT";
    CHECK(file.name.find("archive") == std::string::npos);
  }
  CHECK(total == manifest->total_bytes);
  CHECK(has_current);
  MESSAGE("checkpoint files: " << [&] {
    std::string names;
    for (const auto& file : manifest->files) names += file.name + " ";
    return names;
  }());

  Transfer(*manifest, standby_dir, 1000);
  CHECK_FALSE(std::filesystem::exists(standby_dir + ".incoming"));
  CHECK_FALSE(std::filesystem::exists(standby_dir + ".old"));
  {
    auto standby = OpenDb(standby_dir);
    CHECK(Latest(*standby) == manifest->sequence);
    CHECK(Contents(*standby) == Contents(*leader));
    // Then the log from the checkpoint's sequence, as the leader streams it after.
    WriteBatches(*leader, 30, 250);
    CatchUp(*leader, *standby, manifest->sequence + 1);
    CHECK(Latest(*standby) == Latest(*leader));
    CHECK(Contents(*standby) == Contents(*leader));
  }
  REQUIRE(RemoveCheckpoint(*manifest).ok());
  CHECK_FALSE(std::filesystem::exists(dir.Sub("checkpoint")));
}

TEST_CASE("a checkpoint made while another thread writes names the sequence it holds" *
          doctest::timeout(60)) {
  testing::TempDir dir("checkpoint");
  auto leader = OpenDb(dir.Sub("leader"), kArchive);
  WriteBatches(*leader, 100);
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int n = 1000; !stop.load(); ++n) {
      rocksdb::WriteBatch batch;
      batch.Put(leader->Family("a"), "w" + std::to_string(n), "x");
      batch.Put(leader->Family("b"), "w" + std::to_string(n), "y");
      if (!leader->Write(batch).ok()) return;
      written.fetch_add(1);
    }
  });
  while (written.load() < 20) std::this_thread::yield();
  auto manifest = MakeCheckpoint(*leader, dir.Sub("checkpoint"));
  const int during = written.load();
  stop.store(true);
  writer.join();
  REQUIRE_MESSAGE(manifest.ok(), manifest.status().ToString());
  std::string names;
  for (const auto& file : manifest->files) names += file.name + " ";
  MESSAGE("batches written by the other thread so far: " << during << "; files: " << names);
  Transfer(*manifest, dir.Sub("standby"), 4096);
  auto standby = OpenDb(dir.Sub("standby"));
  CHECK(Latest(*standby) == manifest->sequence);
  CatchUp(*leader, *standby, manifest->sequence + 1);
  CHECK(Latest(*standby) == Latest(*leader));
  CHECK(Contents(*standby) == Contents(*leader));
}

TEST_CASE("leftovers of an interrupted transfer are removed at the next Begin") {
  testing::TempDir dir("checkpoint");
  const std::string data_dir = dir.Sub("standby");
  std::filesystem::create_directories(data_dir + ".old");
  std::filesystem::create_directories(data_dir + ".incoming");
  std::ofstream(data_dir + ".old/000001.sst") << "old personal data";
  std::ofstream(data_dir + ".incoming/000002.sst") << "half a file";
  auto receiver = CheckpointReceiver::Begin(data_dir, {"CURRENT", "000009.sst"});
  REQUIRE(receiver.ok());
  CHECK_FALSE(std::filesystem::exists(data_dir + ".old"));
  std::vector<std::string> staged;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir + ".incoming")) {
    staged.push_back(entry.path().filename().string());
    CHECK(entry.file_size() == 0);
  }
  std::sort(staged.begin(), staged.end());
  CHECK(staged == std::vector<std::string>{"000009.sst", "CURRENT"});
}

TEST_CASE("names, files and offsets a receiver does not expect are refused") {
  testing::TempDir dir("checkpoint");
  const std::string data_dir = dir.Sub("standby");
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"../escape"}, {"/etc/passwd"}, {"sub/file"}, {""}, {"."}, {".."},
           {"CURRENT", "CURRENT"}, {std::string("nul\0byte", 8)}}) {
    CAPTURE(bad.front());
    CHECK(CheckpointReceiver::Begin(data_dir, bad).status().code() == wire::INVALID_ARGUMENT);
  }
  CHECK_FALSE(std::filesystem::exists(dir.path().parent_path() / "escape"));

  auto receiver = CheckpointReceiver::Begin(data_dir, {"CURRENT"});
  REQUIRE(receiver.ok());
  auto& r = **receiver;
  CHECK(r.Write("OTHER", 0, "x").code() == wire::INVALID_ARGUMENT);
  CHECK(r.Write("CURRENT", 5, "x").code() == wire::INVALID_ARGUMENT);
  REQUIRE(r.Write("CURRENT", 0, "MANI").ok());
  CHECK(r.Write("CURRENT", 0, "MANI").code() == wire::INVALID_ARGUMENT);
  REQUIRE(r.Write("CURRENT", 4, "FEST\n").ok());
  CHECK(r.received_bytes() == 9);
  REQUIRE(r.Install().ok());
  CHECK(r.Install().code() == wire::INTERNAL);
  CHECK(r.Write("CURRENT", 9, "x").code() == wire::INTERNAL);
  std::ifstream in(data_dir + "/CURRENT");
  std::string line;
  std::getline(in, line);
  CHECK(line == "MANIFEST");

  // The leader's side: only the files it listed, within their size.
  auto leader = OpenDb(dir.Sub("leader"));
  WriteBatches(*leader, 3);
  auto manifest = MakeCheckpoint(*leader, dir.Sub("checkpoint"));
  REQUIRE(manifest.ok());
  CHECK(ReadCheckpointChunk(*manifest, "../leader/LOCK", 0, 10).status().code() ==
        wire::INVALID_ARGUMENT);
  const auto& first = manifest->files.front();
  CHECK(ReadCheckpointChunk(*manifest, first.name, first.size + 1, 10).status().code() ==
        wire::INVALID_ARGUMENT);
  auto at_end = ReadCheckpointChunk(*manifest, first.name, first.size, 10);
  REQUIRE(at_end.ok());
  CHECK(at_end->empty());
  auto whole = ReadCheckpointChunk(*manifest, first.name, 0, first.size + 100);
  REQUIRE(whole.ok());
  CHECK(whole->size() == first.size);
}
