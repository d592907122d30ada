#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include <rocksdb/transaction_log.h>

#include "store/broker_store.h"
#include "store/replication_log.h"
#include "store/rocks_db.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {

// Every family of `db`, read back whole, by family position.
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

// `count` batches of `writes` puts each (keys "k<n>" in family a, one "last" in b).
void WriteBatches(RocksDb& db, int count, int writes = 1, int first = 0) {
  for (int n = first; n < first + count; ++n) {
    rocksdb::WriteBatch batch;
    for (int w = 0; w < writes; ++w) {
      batch.Put(db.Family(w % 2 == 0 ? "a" : "b"), "k" + std::to_string(n) + "." + std::to_string(w),
                "value " + std::to_string(n));
    }
    REQUIRE(db.Write(batch).ok());
  }
}

// Reads the leader's log from `from` to its end and applies it on `standby`, `max_bytes` at a
// time. Returns the number of batches applied.
size_t CatchUp(const RocksDb& leader, RocksDb& standby, uint64_t from, size_t max_bytes) {
  size_t applied = 0;
  for (;;) {
    auto read = ReadLogSince(leader, from, max_bytes);
    REQUIRE_MESSAGE(read.ok(), read.status().ToString());
    REQUIRE_MESSAGE(read->has_value(), "the log no longer holds " << from);
    if ((*read)->empty()) return applied;
    for (const auto& batch : **read) {
      REQUIRE(batch.sequence == from);
      auto status = ApplyLoggedBatch(standby, batch);
      REQUIRE_MESSAGE(status.ok(), status.ToString());
      from = LastSequenceOf(batch) + 1;
      ++applied;
    }
  }
}

// The archived log files of `db`: (path, first sequence).
std::vector<std::pair<std::string, uint64_t>> ArchivedFiles(const RocksDb& db) {
  rocksdb::VectorLogPtr files;
  REQUIRE(db.raw()->GetSortedWalFiles(files).ok());
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& file : files) {
    if (file->Type() == rocksdb::kArchivedLogFile) {
      out.emplace_back(db.raw()->GetName() + file->PathName(), file->StartSequence());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("a broker store's log read from 1 and applied on an empty store gives the same store") {
  testing::TempDir dir("replog");
  auto leader = BrokerStore::Open(dir.Sub("leader"));
  REQUIRE(leader.ok());
  // The same families in the same order (BrokerStore opens them so): family ids in the
  // batches match.
  auto standby = BrokerStore::Open(dir.Sub("standby"));
  REQUIRE(standby.ok());
  REQUIRE(Latest((*standby)->db()) == 0);
  auto& s = **leader;
  for (int n = 0; n < 60; ++n) {
    std::string id = "PER-AAAA-" + std::to_string(1000 + n);
    records::CaseRecord record;
    record.mutable_summary()->set_case_id(id);
    record.mutable_summary()->set_state(wire::SUBMITTED);
    record.mutable_summary()->set_contact_point("mairie-berdhuis");
    s.NextCaseNumber();
    s.PutCase(record, wire::STATE_UNSPECIFIED);
    wire::Event event;
    event.set_kind("SUBMITTED");
    s.PutEvent(id, event);
    records::QueueItem item;
    item.set_case_id(id);
    s.PutQueueItem("partner/msa", static_cast<uint64_t>(n), item);
    s.SetQueueNext("partner/msa", static_cast<uint64_t>(n) + 1);
    if (n % 3 == 2) s.DeleteQueueItem("partner/msa", static_cast<uint64_t>(n) - 1);
    REQUIRE(s.Commit().ok());
  }
  RocksDb& leader_db = s.db();
  RocksDb& standby_db = (*standby)->db();
  REQUIRE(Latest(leader_db) > 60);  // batches of several writes
  size_t applied = CatchUp(leader_db, standby_db, 1, 700);
  CHECK(applied == 60);
  CHECK(Latest(standby_db) == Latest(leader_db));
  CHECK(Contents(standby_db) == Contents(leader_db));
}

TEST_CASE("the log is read from batch boundaries only") {
  testing::TempDir dir("replog");
  auto db = OpenDb(dir.Sub("db"));
  WriteBatches(*db, 5, /*writes=*/3);  // batches at 1, 4, 7, 10, 13
  REQUIRE(Latest(*db) == 15);

  auto from_4 = ReadLogSince(*db, 4, 1 << 20);
  REQUIRE(from_4.ok());
  REQUIRE(from_4->has_value());
  REQUIRE((*from_4)->size() == 4);
  CHECK((**from_4)[0].sequence == 4);
  CHECK(LastSequenceOf((**from_4)[0]) == 6);
  CHECK(LastSequenceOf((**from_4)[3]) == 15);
  // RocksDB positions on the batch holding 5, which starts at 4: not a boundary.
  auto inside = ReadLogSince(*db, 5, 1 << 20);
  REQUIRE(inside.ok());
  CHECK_FALSE(inside->has_value());
  // Caught up: nothing yet.
  auto caught_up = ReadLogSince(*db, 16, 1 << 20);
  REQUIRE(caught_up.ok());
  REQUIRE(caught_up->has_value());
  CHECK((*caught_up)->empty());
  // Past the end, or 0: the asker is wrong.
  CHECK(ReadLogSince(*db, 17, 1 << 20).status().code() == wire::INVALID_ARGUMENT);
  CHECK(ReadLogSince(*db, 0, 1 << 20).status().code() == wire::INVALID_ARGUMENT);
  // At least one batch, however small max_bytes.
  auto one = ReadLogSince(*db, 1, 1);
  REQUIRE(one.ok());
  REQUIRE(one->has_value());
  CHECK((*one)->size() == 1);
}

TEST_CASE("with the log archived a flush loses nothing; without, flushed sequences are gone") {
  testing::TempDir dir("replog");
  for (bool archive : {true, false}) {
    CAPTURE(archive);
    auto db = OpenDb(dir.Sub(archive ? "archived" : "plain"), archive ? kArchive : RocksDbOptions{});
    WriteBatches(*db, 20);
    REQUIRE(db->FlushAll().ok());
    WriteBatches(*db, 5, 1, 20);
    auto from_1 = ReadLogSince(*db, 1, 1 << 20);
    REQUIRE(from_1.ok());
    if (archive) {
      REQUIRE(from_1->has_value());
      CHECK((*from_1)->size() == 25);
      CHECK(std::filesystem::exists(dir.Sub("archived") + "/archive"));
    } else {
      CHECK_FALSE(from_1->has_value());
    }
    // The live file holds what was written since the flush, either way.
    auto from_21 = ReadLogSince(*db, 21, 1 << 20);
    REQUIRE(from_21.ok());
    REQUIRE(from_21->has_value());
    CHECK((*from_21)->size() == 5);
  }
}

TEST_CASE("the archive survives a restart and the sequences go on") {
  testing::TempDir dir("replog");
  {
    auto db = OpenDb(dir.Sub("db"), kArchive);
    WriteBatches(*db, 10);
    REQUIRE(db->FlushAll().ok());
    WriteBatches(*db, 10, 1, 10);
  }
  auto db = OpenDb(dir.Sub("db"), kArchive);
  WriteBatches(*db, 5, 1, 20);
  auto all = ReadLogSince(*db, 1, 1 << 20);
  REQUIRE(all.ok());
  REQUIRE(all->has_value());
  CHECK((*all)->size() == 25);
  auto standby = OpenDb(dir.Sub("standby"));
  CHECK(CatchUp(*db, *standby, 1, 1 << 20) == 25);
  CHECK(Contents(*standby) == Contents(*db));
}

TEST_CASE("archive_log and log_ttl_seconds go together") {
  testing::TempDir dir("replog");
  CHECK(RocksDb::Open(dir.Sub("a"), {"a"}, {.archive_log = true, .log_ttl_seconds = 0, .counter_families = {}})
            .status()
            .code() == wire::INVALID_ARGUMENT);
  CHECK(RocksDb::Open(dir.Sub("b"), {"a"}, {.archive_log = false, .log_ttl_seconds = 60, .counter_families = {}})
            .status()
            .code() == wire::INVALID_ARGUMENT);
}

TEST_CASE("a batch that would not land on its sequence is refused and nothing is written") {
  testing::TempDir dir("replog");
  auto leader = OpenDb(dir.Sub("leader"));
  WriteBatches(*leader, 3, 2);  // 1, 3, 5
  auto read = ReadLogSince(*leader, 1, 1 << 20);
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  const auto& batches = **read;
  REQUIRE(batches.size() == 3);
  auto standby = OpenDb(dir.Sub("standby"));

  SUBCASE("out of order") {
    auto status = ApplyLoggedBatch(*standby, batches[1]);
    CHECK(status.code() == wire::INTERNAL);
    CHECK(Latest(*standby) == 0);
    CHECK(Contents(*standby).empty());
  }
  SUBCASE("twice") {
    REQUIRE(ApplyLoggedBatch(*standby, batches[0]).ok());
    auto before = Contents(*standby);
    CHECK(ApplyLoggedBatch(*standby, batches[0]).code() == wire::INTERNAL);
    CHECK(Latest(*standby) == 2);
    CHECK(Contents(*standby) == before);
  }
  SUBCASE("not a batch") {
    CHECK(ApplyLoggedBatch(*standby, LoggedBatch{1, "short"}).code() == wire::INVALID_ARGUMENT);
    CHECK(ApplyLoggedBatch(*standby, LoggedBatch{1, std::string(12, '\0')}).code() ==
          wire::INVALID_ARGUMENT);
    // A header that promises a record, then garbage.
    std::string garbage = batches[0].data.substr(0, 12) + "\x7fgarbage";
    CHECK(ApplyLoggedBatch(*standby, LoggedBatch{1, garbage}).code() == wire::INVALID_ARGUMENT);
    // A family this database does not have (a third one on the writer's side).
    auto other = RocksDb::Open(dir.Sub("other"), {"a", "b", "c"});
    REQUIRE(other.ok());
    rocksdb::WriteBatch third;
    third.Put((*other)->Family("c"), "k", "v");
    CHECK(ApplyLoggedBatch(*standby, LoggedBatch{1, third.Data()}).code() ==
          wire::INVALID_ARGUMENT);
    // None of it tripped the sticky failure: a good batch still applies.
    CHECK(Latest(*standby) == 0);
    CHECK(ApplyLoggedBatch(*standby, batches[0]).ok());
    CHECK_FALSE(standby->failed());
  }
  SUBCASE("a failed write is sticky") {
    standby->FailNextWriteForTest();
    CHECK(ApplyLoggedBatch(*standby, batches[0]).code() == wire::UNAVAILABLE);
    CHECK(ApplyLoggedBatch(*standby, batches[0]).code() == wire::UNAVAILABLE);
    CHECK(Latest(*standby) == 0);
  }
}

TEST_CASE("DeleteArchivedLogs deletes what the standby has applied, and what is too old") {
  testing::TempDir dir("replog");
  auto db = OpenDb(dir.Sub("db"), kArchive);
  // Archived files holding 1-10, 11-20, 21-30; the live one 31-35.
  for (int round = 0; round < 3; ++round) {
    WriteBatches(*db, 10, 1, round * 10);
    REQUIRE(db->FlushAll().ok());
  }
  WriteBatches(*db, 5, 1, 30);
  auto files = ArchivedFiles(*db);
  REQUIRE(files.size() == 3);
  CHECK(files[0].second == 1);
  CHECK(files[1].second == 11);
  CHECK(files[2].second == 21);

  // Applied to 15: the first file only (the second holds 16-20).
  auto deleted = DeleteArchivedLogs(*db, 15, 3600);
  REQUIRE(deleted.ok());
  CHECK(*deleted == 1);
  CHECK_FALSE(std::filesystem::exists(files[0].first));
  CHECK(std::filesystem::exists(files[1].first));
  // The standby reads on from what it applied; from before, the log no longer holds it.
  auto from_16 = ReadLogSince(*db, 16, 1 << 20);
  REQUIRE(from_16.ok());
  REQUIRE(from_16->has_value());
  CHECK((*from_16)->size() == 20);
  auto from_1 = ReadLogSince(*db, 1, 1 << 20);
  REQUIRE(from_1.ok());
  CHECK_FALSE(from_1->has_value());

  // Applied to 20 exactly: the second file goes.
  deleted = DeleteArchivedLogs(*db, 20, 3600);
  REQUIRE(deleted.ok());
  CHECK(*deleted == 1);
  auto from_21 = ReadLogSince(*db, 21, 1 << 20);
  REQUIRE(from_21.ok());
  REQUIRE(from_21->has_value());
  CHECK((*from_21)->size() == 15);
  auto from_11 = ReadLogSince(*db, 11, 1 << 20);
  REQUIRE(from_11.ok());
  CHECK_FALSE(from_11->has_value());

  // Too old: goes whatever the standby applied.
  std::filesystem::last_write_time(files[2].first, std::filesystem::file_time_type::clock::now() -
                                                       std::chrono::hours(2));
  deleted = DeleteArchivedLogs(*db, 0, 3600);
  REQUIRE(deleted.ok());
  CHECK(*deleted == 1);
  CHECK(ArchivedFiles(*db).empty());

  // Never the live file, however far the standby is.
  deleted = DeleteArchivedLogs(*db, Latest(*db), 0);
  REQUIRE(deleted.ok());
  CHECK(*deleted == 0);
  auto from_31 = ReadLogSince(*db, 31, 1 << 20);
  REQUIRE(from_31.ok());
  REQUIRE(from_31->has_value());
  CHECK((*from_31)->size() == 5);
  // RocksDB does not mind: more writes, a flush (its archive sweep), a restart.
  WriteBatches(*db, 5, 1, 35);
  REQUIRE(db->FlushAll().ok());
  db.reset();
  db = OpenDb(dir.Sub("db"), kArchive);
  CHECK(Latest(*db) == 40);
  auto from_31_again = ReadLogSince(*db, 31, 1 << 20);
  REQUIRE(from_31_again.ok());
  REQUIRE(from_31_again->has_value());
  CHECK((*from_31_again)->size() == 10);
  CHECK(DeleteArchivedLogs(*db, 0, -1).status().code() == wire::INVALID_ARGUMENT);
}

TEST_CASE("reading and applying 10,000 batches (time printed, not asserted)" *
          doctest::timeout(120)) {
  testing::TempDir dir("replog");
  auto leader = OpenDb(dir.Sub("leader"), kArchive);
  auto standby = OpenDb(dir.Sub("standby"));
  auto synced_one_by_one = OpenDb(dir.Sub("one-by-one"));
  // Written as the broker's group commit does: synced once per group of 100 batches.
  for (int group = 0; group < 100; ++group) {
    leader->BeginGroup();
    WriteBatches(*leader, 100, 4, group * 100);
    REQUIRE(leader->CommitGroup().ok());
  }
  REQUIRE(leader->FlushAll().ok());  // read from the archive
  auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<LoggedBatch>> reads;  // as Batches frames of up to 64 KiB
  size_t read_batches = 0;
  for (uint64_t from = 1;;) {
    auto read = ReadLogSince(*leader, from, 64 << 10);
    REQUIRE(read.ok());
    REQUIRE(read->has_value());
    if ((*read)->empty()) break;
    from = LastSequenceOf((*read)->back()) + 1;
    read_batches += (*read)->size();
    reads.push_back(std::move(**read));
  }
  auto read_done = std::chrono::steady_clock::now();
  // As the standby applies a Batches frame: one group, one fsync, then Applied.
  for (const auto& frame : reads) {
    standby->BeginGroup();
    for (const auto& batch : frame) REQUIRE(ApplyLoggedBatch(*standby, batch).ok());
    REQUIRE(standby->CommitGroup().ok());
  }
  auto apply_done = std::chrono::steady_clock::now();
  // One fsync per batch, on the first 200 only (a few ms each on a shared disk).
  REQUIRE(reads[0].size() >= 200);
  for (size_t i = 0; i < 200; ++i) REQUIRE(ApplyLoggedBatch(*synced_one_by_one, reads[0][i]).ok());
  auto one_by_one_done = std::chrono::steady_clock::now();
  CHECK(read_batches == 10000);
  CHECK(Latest(*standby) == Latest(*leader));
  CHECK(Contents(*standby) == Contents(*leader));
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  MESSAGE("10,000 batches of 4 writes (" << reads.size() << " reads of up to 64 KiB): read in "
          << ms(read_done - start) << " ms; applied one group (one fsync) per read in "
          << ms(apply_done - read_done) << " ms; 200 applied with one fsync each in "
          << ms(one_by_one_done - apply_done) << " ms");
}

namespace {
// The files under `dir` (archive included) whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) found.push_back(entry.path().string());
  }
  return found;
}
}  // namespace

TEST_CASE("an erased value stays in the archived log until DeleteArchivedLogs removes it") {
  testing::TempDir dir("replog");
  auto db = OpenDb(dir.Sub("db"), kArchive);
  const std::string secret = "Citizen-Name-Zorglub-4471";
  rocksdb::WriteBatch put;
  put.Put(db->Family("a"), "case", secret);
  REQUIRE(db->Write(put).ok());
  WriteBatches(*db, 5);
  // The purge, then what the retention does after it: flush and forced compaction.
  rocksdb::WriteBatch erase;
  erase.Delete(db->Family("a"), "case");
  REQUIRE(db->Write(erase).ok());
  REQUIRE(db->FlushAll().ok());
  for (auto* family : db->families()) REQUIRE(db->CompactRangeForced({family, {}, {}}).ok());
  // Only the archive still holds it: the reason a pair keeps the archive short.
  auto holders = FilesContaining(dir.Sub("db"), secret);
  REQUIRE(holders.size() == 1);
  CHECK(holders[0].find("/archive/") != std::string::npos);
  // The standby applied everything: the archived file goes, and the value with it.
  auto deleted = DeleteArchivedLogs(*db, Latest(*db), 3600);
  REQUIRE(deleted.ok());
  CHECK(*deleted == 1);
  CHECK(FilesContaining(dir.Sub("db"), secret).empty());
}

TEST_CASE("a cursor reads on where the last read stopped, across writes and a rotated file") {
  testing::TempDir dir("replog");
  auto db = OpenDb(dir.Sub("db"), kArchive);
  LogCursor cursor;
  uint64_t from = 1;
  std::vector<LoggedBatch> read_with_cursor;
  size_t reads = 0;
  auto read_all = [&] {
    for (;;) {
      auto read = ReadLogSince(*db, from, /*max_bytes=*/200, &cursor);
      REQUIRE_MESSAGE(read.ok(), read.status().ToString());
      REQUIRE(read->has_value());
      if ((*read)->empty()) return;
      ++reads;
      for (auto& batch : **read) {
        REQUIRE(batch.sequence == from);
        from = LastSequenceOf(batch) + 1;
        read_with_cursor.push_back(std::move(batch));
      }
    }
  };
  WriteBatches(*db, 20, /*writes=*/2);
  read_all();                                  // several reads: max_bytes stops each early
  WriteBatches(*db, 5, /*writes=*/3, 20);      // then the live file grows after its end
  read_all();
  REQUIRE(db->FlushAll().ok());                // the live file is archived, a new one starts
  WriteBatches(*db, 5, /*writes=*/1, 25);
  read_all();
  WriteBatches(*db, 3, /*writes=*/2, 30);
  read_all();
  CHECK(from == Latest(*db) + 1);
  // Reads went on from the cursor (a seek per read is what the cursor saves), and gave exactly
  // what reads from scratch give.
  // Every read but the first and the one after the rotation goes on from the kept iterator.
  CAPTURE(reads);
  CHECK(cursor.reads_resumed + 2 >= reads);
  CHECK(cursor.reads_resumed > 5);
  auto fresh = ReadLogSince(*db, 1, 1 << 30);
  REQUIRE(fresh.ok());
  REQUIRE(fresh->has_value());
  REQUIRE((*fresh)->size() == read_with_cursor.size());
  for (size_t i = 0; i < read_with_cursor.size(); ++i) {
    CHECK((**fresh)[i].sequence == read_with_cursor[i].sequence);
    CHECK((**fresh)[i].data == read_with_cursor[i].data);
  }
  // Asked for another sequence than where it stopped: read afresh, same answer.
  auto again = ReadLogSince(*db, 1, 1 << 30, &cursor);
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK((*again)->size() == read_with_cursor.size());
}
