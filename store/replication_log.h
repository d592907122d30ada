// The leader's write-ahead log as a stream of batches, and their application on the standby
// (docs/AVAILABILITY.md, "Replication protocol"). One mechanism for catch-up and live shipping.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rocksdb/transaction_log.h>

#include "common/status.h"
#include "store/rocks_db.h"

namespace aplus {

// One WriteBatch as the log holds it.
struct LoggedBatch {
  uint64_t sequence = 0;  // its first write's sequence number
  std::string data;       // rocksdb::WriteBatch::Data()
};

// Where one reader's last ReadLogSince stopped, kept so that the next call goes on from there.
// RocksDB's GetUpdatesSince reads and checksums the current log file from its start up to the
// sequence asked for, so a fresh iterator per shipment costs a read of the whole live log file
// (tens of MB under load): the leader's loop spent most of its CPU there (docs/BENCHMARKS.md,
// "Issue 12: the pair"). Used only when the next call asks for exactly `next_sequence`; a file
// rotated since, an error or any other sequence opens a fresh iterator. Thread rules: one
// reader, one thread.
struct LogCursor {
  std::unique_ptr<rocksdb::TransactionLogIterator> iterator;
  uint64_t next_sequence = 0;  // the first sequence the iterator's next batch must start at
  uint64_t reads_resumed = 0;  // reads answered by the kept iterator, without a seek
  void Reset() {
    iterator.reset();
    next_sequence = 0;
  }
};

// The batches of `db`'s log starting exactly at `from_sequence` (a batch boundary: the standby
// asks for its last batch's end + 1), in order, up to about `max_bytes` (at least one batch when
// any). Empty when the log holds nothing from there yet (caught up). nullopt when the log no
// longer holds `from_sequence` (archived files deleted, or it falls inside a batch): the standby
// must resync from a checkpoint. INVALID_ARGUMENT for 0 or a sequence past the latest + 1 (the
// asker is ahead of this log); UNAVAILABLE for a log that cannot be read. Batches read before
// an error are returned (whole, checksums verified); the next call starts after them.
// Thread rules: any thread (RocksDB's log reader is thread-safe); without `cursor` each call
// reads afresh; with one, it goes on from where the previous call with it stopped when that is
// `from_sequence` (same answers, without seeking again), and leaves it where this call stopped.
Result<std::optional<std::vector<LoggedBatch>>> ReadLogSince(const RocksDb& db,
                                                             uint64_t from_sequence,
                                                             size_t max_bytes,
                                                             LogCursor* cursor = nullptr);

// The last sequence number of `batch` (its first + its count - 1; its first - 1 when empty).
uint64_t LastSequenceOf(const LoggedBatch& batch);

// Standby: writes `batch` with sync = true and checks that it landed on `batch.sequence` (the
// databases are aligned batch for batch). INTERNAL when it would not land there (nothing is
// written then: the check is made before the write, on the database's latest sequence);
// INVALID_ARGUMENT, nothing written, for data that is not a batch of puts and deletes of this
// database's families (so a bad frame never trips the sticky failure); UNAVAILABLE (sticky,
// fail-stop) when the write fails. Inside a group (RocksDb::BeginGroup) the write is not
// synced: the batches of one Batches frame can share CommitGroup's single fsync, and Applied
// is sent only after it returned OK.
Status ApplyLoggedBatch(RocksDb& db, const LoggedBatch& batch);

// Erasure: deletes the archived log files whose every batch is at or below `applied_sequence`
// (the standby has them) or last written more than `max_age_seconds` ago (whatever the
// standby has; >= 0, INVALID_ARGUMENT otherwise). Returns how many files went. Live
// (unarchived) files are never touched. RocksDB's own sweep (RocksDbOptions::log_ttl_seconds)
// runs only when a flush or compaction ends: call this on a timer too so that the archive's
// age bound holds on an idle node. A file's last sequence is the next non-empty file's first
// minus one (the latest sequence for the last one).
Result<size_t> DeleteArchivedLogs(const RocksDb& db, uint64_t applied_sequence,
                                  int64_t max_age_seconds);

}  // namespace aplus
