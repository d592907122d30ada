#include "store/replication_log.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>

#include <rocksdb/transaction_log.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

namespace aplus {

namespace {

// Behaviour of RocksDB 7.8 this file relies on (checked on this machine, and by
// tests/store/replication_log_test.cc):
// - GetUpdatesSince(s) positions on the batch that CONTAINS s, so a sequence inside a batch
//   yields a batch starting before it.
// - It answers NotFound "Requested sequence not yet written" for any s past the latest
//   sequence (s == latest + 1 is the caught-up case).
// - When the log no longer holds s (files deleted: not archived and flushed, or archived and
//   deleted), it does NOT fail: it answers OK and starts at the first batch it still has, after
//   a gap, or yields nothing. Only the first batch's sequence tells.
// - An archived file deleted after the iterator was made (DeleteArchivedLogs, or the archive's
//   own time-to-live) ends the iteration with an IOError "No such file or directory" once the
//   iterator reaches that file; the batches before it were good.
std::string RocksMessage(const rocksdb::Status& status) { return status.ToString(); }

// Walks a batch received from the network before it is written: RocksDB would answer a
// malformed one, or one naming a family this database lacks, with a failed Write, and a failed
// Write is sticky (it would stop this node for good over one bad frame). Only the kinds of
// record A+ writes are admitted; anything else (merges, blob indexes, transaction markers) is
// refused the same way.
class BatchChecker : public rocksdb::WriteBatch::Handler {
 public:
  explicit BatchChecker(const RocksDb& db) {
    for (auto* family : db.families()) families_.push_back(family->GetID());
  }
  rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return Count(family);
  }
  rocksdb::Status DeleteCF(uint32_t family, const rocksdb::Slice&) override {
    return Count(family);
  }
  rocksdb::Status SingleDeleteCF(uint32_t family, const rocksdb::Slice&) override {
    return Count(family);
  }
  rocksdb::Status DeleteRangeCF(uint32_t family, const rocksdb::Slice&,
                                const rocksdb::Slice&) override {
    return Count(family);
  }
  uint32_t records() const { return records_; }

 private:
  rocksdb::Status Count(uint32_t family) {
    if (std::find(families_.begin(), families_.end(), family) == families_.end()) {
      return rocksdb::Status::InvalidArgument("unknown column family " + std::to_string(family));
    }
    ++records_;
    return rocksdb::Status::OK();
  }
  std::vector<uint32_t> families_;
  uint32_t records_ = 0;
};

// Reads `it`'s batches from where it stands while each starts at `*expected`, up to about
// `max_bytes`, appending them to `batches` and moving `*expected` past each. Returns whether the
// iterator can go on from there with Next(): it stopped on the last batch taken (max_bytes) or
// at the end of the log with an OK status; not after a batch that did not start at
// `*expected` (a gap, or a sequence inside a batch: taken from the iterator, never handed out).
bool ReadBatches(rocksdb::TransactionLogIterator& it, size_t max_bytes, uint64_t* expected,
                 std::vector<LoggedBatch>* batches) {
  size_t bytes = 0;
  for (; it.Valid(); it.Next()) {
    rocksdb::BatchResult result = it.GetBatch();
    // Not where the log must go on: for the first batch, the log does not start a batch at
    // from_sequence (files gone, or from_sequence falls inside a batch: nullopt below); later,
    // a gap inside the log: stop at the last good batch.
    if (result.sequence != *expected) return false;
    LoggedBatch batch;
    batch.sequence = result.sequence;
    batch.data = result.writeBatchPtr->Data();
    *expected = LastSequenceOf(batch) + 1;
    bytes += batch.data.size();
    batches->push_back(std::move(batch));
    if (bytes >= max_bytes) return true;
  }
  return it.status().ok();
}

}  // namespace

Result<std::optional<std::vector<LoggedBatch>>> ReadLogSince(const RocksDb& db,
                                                             uint64_t from_sequence,
                                                             size_t max_bytes,
                                                             LogCursor* cursor) {
  using Batches = std::optional<std::vector<LoggedBatch>>;
  if (from_sequence == 0) {
    return Status(wire::INVALID_ARGUMENT, "log sequences start at 1");
  }
  const uint64_t latest = db.raw()->GetLatestSequenceNumber();
  if (from_sequence > latest + 1) {
    return Status(wire::INVALID_ARGUMENT, "sequence " + std::to_string(from_sequence) +
                                              " is past the log's end (" +
                                              std::to_string(latest) + ")");
  }
  if (from_sequence == latest + 1) return Batches(std::vector<LoggedBatch>());

  if (cursor != nullptr && cursor->iterator && cursor->next_sequence == from_sequence) {
    // The iterator stands on the last batch handed out, or past the end of the live file:
    // Next() reads on (RocksDB re-reads a file it had reached the end of). Something was
    // written at from_sequence (checked above), so nothing read means the file rotated (the
    // iterator answers TryAgain) or the iterator failed: a fresh one below.
    std::unique_ptr<rocksdb::TransactionLogIterator> it = std::move(cursor->iterator);
    it->Next();
    std::vector<LoggedBatch> batches;
    uint64_t expected = from_sequence;
    if (ReadBatches(*it, max_bytes, &expected, &batches)) {
      cursor->iterator = std::move(it);
      cursor->next_sequence = expected;
    }
    if (!batches.empty()) {
      ++cursor->reads_resumed;
      return Batches(std::move(batches));
    }
  }

  if (cursor != nullptr) cursor->Reset();
  std::unique_ptr<rocksdb::TransactionLogIterator> it;
  auto status = db.raw()->GetUpdatesSince(from_sequence, &it);
  // A file listed and then removed by the archive's sweep before it was opened.
  if (status.IsPathNotFound()) return Batches();
  if (!status.ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the write-ahead log from " +
                                         std::to_string(from_sequence) + ": " +
                                         RocksMessage(status));
  }
  std::vector<LoggedBatch> batches;
  uint64_t expected = from_sequence;
  bool can_go_on = ReadBatches(*it, max_bytes, &expected, &batches);
  if (cursor != nullptr && can_go_on && !batches.empty()) {
    cursor->iterator = std::move(it);
    cursor->next_sequence = expected;
    return Batches(std::move(batches));
  }
  if (batches.empty()) {
    // Nothing from a sequence that was written (or not from its start): the log no longer
    // holds it.
    status = it->status();
    if (status.ok() || status.IsNotFound() || status.IsPathNotFound()) return Batches();
    return Status(wire::UNAVAILABLE, "cannot read the write-ahead log from " +
                                         std::to_string(from_sequence) + ": " +
                                         RocksMessage(status));
  }
  // Batches read before an error are whole (checksums verified): the caller asks again from
  // after them and learns then what the error means.
  return Batches(std::move(batches));
}

uint64_t LastSequenceOf(const LoggedBatch& batch) {
  // A WriteBatch's data starts with a 12-byte header (sequence, count).
  if (batch.data.size() < 12) return batch.sequence - 1;
  rocksdb::WriteBatch parsed(batch.data);
  uint32_t count = parsed.Count();
  return batch.sequence + count - 1;
}

Status ApplyLoggedBatch(RocksDb& db, const LoggedBatch& batch) {
  if (batch.data.size() < 12) {
    return Status(wire::INVALID_ARGUMENT, "a logged batch is at least a 12-byte header");
  }
  rocksdb::WriteBatch write(batch.data);
  if (write.Count() == 0) {
    return Status(wire::INVALID_ARGUMENT, "a logged batch holds at least one write");
  }
  BatchChecker checker(db);
  auto parsed = write.Iterate(&checker);
  if (!parsed.ok() || checker.records() != write.Count()) {
    return Status(wire::INVALID_ARGUMENT,
                  "batch " + std::to_string(batch.sequence) + " cannot be applied here: " +
                      (parsed.ok() ? "its count says " + std::to_string(write.Count()) +
                                         " records, it holds " +
                                         std::to_string(checker.records())
                                   : parsed.ToString()));
  }
  // The header's own sequence field is overwritten by RocksDB at Write: what decides where
  // the batch lands is this database's latest sequence, checked first.
  const uint64_t before = db.raw()->GetLatestSequenceNumber();
  if (before + 1 != batch.sequence) {
    return Status(wire::INTERNAL, "batch " + std::to_string(batch.sequence) +
                                      " does not follow this database's sequence " +
                                      std::to_string(before));
  }
  auto written = db.Write(write);
  if (!written.ok()) return written;
  const uint64_t after = db.raw()->GetLatestSequenceNumber();
  if (after != LastSequenceOf(batch)) {
    // Someone else wrote to the replicated database meanwhile: the databases are no longer
    // aligned, and this node must resync.
    return Status(wire::INTERNAL, "batch " + std::to_string(batch.sequence) + " landed at " +
                                      std::to_string(after - write.Count() + 1) +
                                      " (another writer on the replicated database)");
  }
  return Status::Ok();
}

Result<size_t> DeleteArchivedLogs(const RocksDb& db, uint64_t applied_sequence,
                                  int64_t max_age_seconds) {
  if (max_age_seconds < 0) {
    return Status(wire::INVALID_ARGUMENT, "the archive's maximum age cannot be negative");
  }
  // Read before the list: a batch written after it only makes a file's computed end later,
  // which keeps the file (never deletes one the standby may lack).
  const uint64_t latest = db.raw()->GetLatestSequenceNumber();
  rocksdb::VectorLogPtr files;
  auto status = db.raw()->GetSortedWalFiles(files);
  if (!status.ok()) {
    return Status(wire::UNAVAILABLE, "cannot list the write-ahead log: " + RocksMessage(status));
  }
  // RocksDB's reaction to an archived file deleted under it (RocksDB 7.8, verified): none.
  // The file leaves GetSortedWalFiles' list, GetUpdatesSince starts past it (ReadLogSince
  // then answers nullopt for the sequences it held), the archive's own time-to-live sweep
  // lists the directory and never sees it, and Close and the next Open are clean. An iterator
  // made before the deletion stops with an IOError when it reaches the file (ReadLogSince
  // returns the batches read before it).
  std::string wal_dir = db.raw()->GetDBOptions().wal_dir;
  if (wal_dir.empty()) wal_dir = db.raw()->GetName();
  const auto now = std::filesystem::file_time_type::clock::now();
  size_t deleted = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& file = files[i];
    if (file->Type() != rocksdb::kArchivedLogFile) continue;
    // Its last batch ends where the next file that holds anything starts (files are sorted
    // by number, sequences increase with them); with no such file, at the latest sequence.
    uint64_t last = latest;
    for (size_t j = i + 1; j < files.size(); ++j) {
      if (files[j]->StartSequence() > 0) {
        last = files[j]->StartSequence() - 1;
        break;
      }
    }
    const std::string path = wal_dir + file->PathName();  // PathName() starts with "/"
    std::error_code error;
    auto written = std::filesystem::last_write_time(path, error);
    if (error) {
      if (error == std::errc::no_such_file_or_directory) continue;  // the ttl sweep took it
      return Status(wire::UNAVAILABLE, "cannot read the age of " + path + ": " + error.message());
    }
    const bool expired = now - written > std::chrono::seconds(max_age_seconds);
    if (last > applied_sequence && !expired) continue;
    const bool removed = std::filesystem::remove(path, error);
    if (error) return Status(wire::UNAVAILABLE, "cannot delete " + path + ": " + error.message());
    if (!removed) continue;  // the ttl sweep took it meanwhile
    ++deleted;
    spdlog::debug("deleted archived log {} (sequences to {}, applied {}{})", path, last,
                  applied_sequence, expired ? ", expired" : "");
  }
  return deleted;
}

}  // namespace aplus
