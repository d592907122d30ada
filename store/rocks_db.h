// One owner for a RocksDB database and its column families, shared by the broker's store and
// the gateways' local stores. Errors from RocksDB become Status values here, where they enter.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/status.h"

namespace aplus {

// Keys `first` to `last` (inclusive) of one family; nullopt = unbounded on that side.
struct KeyRange {
  rocksdb::ColumnFamilyHandle* family = nullptr;
  std::optional<std::string> first;
  std::optional<std::string> last;
};

// How a family is read, which decides its bloom filters (a filter costs about 10 bits of
// memory per key, resident for as long as its table file is open: with millions of cases,
// filters nobody consults were most of the broker's memory).
enum class PointReads {
  kMayMiss,  // Gets of keys often absent (a new idempotency key): a filter at every level
  kHit,      // Gets of keys that exist: no filter at the last level, where most keys rest and
             // a Get that got that far finds its key anyway (RocksDB's optimize_filters_for_hits)
  kNone,     // read only by iterators, which whole-key filters never serve: no filter at all
};

// What a database holds in memory, from RocksDB's own estimates.
struct StoreMemoryUsage {
  uint64_t memtables = 0;      // active and immutable memtables of every family
  uint64_t table_readers = 0;  // index and filter blocks held with the open table files
  uint64_t block_cache = 0;    // the shared block cache's current use
};

// How a database keeps its write-ahead log. The default is a single node's: RocksDB deletes a
// log file as soon as no family needs it. A node of a pair (docs/AVAILABILITY.md) archives
// them instead, so that a standby can catch up from batches already flushed to table files
// (store/replication_log.h reads them with DB::GetUpdatesSince).
struct RocksDbOptions {
  // Log files no family needs any more are moved to `<path>/archive/` (RocksDB's
  // WAL_ttl_seconds) rather than deleted. Log files are never recycled (recycle_log_file_num
  // stays 0: a recycled file would be overwritten, and the archive reads it).
  bool archive_log = false;
  // With archive_log: RocksDB itself deletes archived files last written more than this many
  // seconds ago (it looks every log_ttl_seconds / 2, at its next flush or compaction). Must be
  // > 0 with archive_log (RocksDB reads 0 as "no archive"), and 0 without. The pair passes the
  // retention's compaction interval: archived personal data is never kept longer than that.
  // DeleteArchivedLogs (store/replication_log.h) deletes sooner what the standby has applied.
  uint64_t log_ttl_seconds = 0;
  // Families holding only small counters that nearly every batch rewrites (the broker's and
  // the gateways' `meta`): RocksDB overwrites such a value in place in the memtable
  // (inplace_update_support) instead of inserting one more version of the key. A rewrite then
  // searches a skip list of a few dozen keys, not one holding every version written since the
  // last flush: a cold search of that list was a large part of a light load's CPU (issue 11).
  // Iterators and snapshots of these families are not point-in-time, and an iterator may read
  // a value while it is rewritten (RocksDB's rule); they are read with Get, and iterated only
  // at start-up, before any write. No DeleteRange either (an in-place value keeps the sequence
  // number of its first write, so a later range tombstone would hide it). The write-ahead log,
  // hence replication, is unchanged: every write is still a record of its batch. A memtable
  // that no longer grows with each rewrite is flushed with the others (max_total_wal_size, a
  // purge's FlushAll).
  std::vector<std::string> counter_families;
  // How each family is read (PointReads); a family not named here gets kMayMiss.
  std::map<std::string, PointReads> point_reads;
  // The block cache shared by every family (decompressed data blocks; indexes and filters stay
  // with their table files, outside it).
  size_t block_cache_bytes = 32 << 20;
  // Families whose writes land all over their key space instead of at its end (random
  // idempotency keys; an index growing at one tail per contact point): universal (tiered)
  // compaction instead of leveled. With leveled compaction every flush of such a family
  // overlaps nearly every table file of the level below, which is rewritten whole: at
  // 10,000,000 cases the two broker families so keyed were compacted 13 and 17 times the
  // bytes they flushed (docs/BENCHMARKS.md). Universal compaction merges sorted runs of
  // similar size instead, each byte a few times on its way to the largest run, at the cost
  // of more runs for a read to look at (their bloom filters answer a missing key) and of a
  // family's size on disk, twice at worst while a whole-family merge runs. A store written
  // with leveled compaction opens as it is: each of its levels is read as one sorted run.
  std::vector<std::string> scattered_families;
};

// Thread rules: RocksDB itself is thread-safe; this wrapper adds no state after Open, except
// the sticky write failure, which is atomic, and the group commit's state (BeginGroup), which
// belongs to the one thread that writes.
class RocksDb {
 public:
  // Opens (creating if needed) the database at `path` with `column_families` (the default
  // family always exists too). Returns UNAVAILABLE with RocksDB's message on failure,
  // INVALID_ARGUMENT for inconsistent `options` (see RocksDbOptions).
  static Result<std::unique_ptr<RocksDb>> Open(const std::string& path,
                                               const std::vector<std::string>& column_families,
                                               const RocksDbOptions& options = {});
  ~RocksDb();
  RocksDb(const RocksDb&) = delete;
  RocksDb& operator=(const RocksDb&) = delete;

  // The handle of a family named at Open. Asserts on an unknown name (a programming error).
  rocksdb::ColumnFamilyHandle* Family(const std::string& name) const;

  // Writes `batch` with sync = true: when this returns OK the batch is on disk. A failed
  // write is sticky: every later Write fails too, so nothing is acknowledged after a lost fsync.
  // Inside a group (BeginGroup), the batch is written without sync and is on disk only once
  // CommitGroup returns OK: the caller acts on it (answers, acknowledges) only then.
  Status Write(rocksdb::WriteBatch& batch);

  // Group commit (gateway/group_commit.h): the writes of the calling thread until CommitGroup
  // share one fsync of the write-ahead log. Reads see them at once. Not nested. Writes from any
  // other thread meanwhile (the partner gateway's webhook sender) stay synced one by one.
  void BeginGroup() { group_owner_.store(std::this_thread::get_id()); }
  bool group_open() const { return group_owner_.load() == std::this_thread::get_id(); }
  // The open group has writes, so CommitGroup will fsync (the owner thread only).
  bool group_dirty() const { return group_dirty_; }
  // Ends the group: fsyncs the write-ahead log if anything was written in it. A failure is
  // sticky as for Write (never retried: see common/fail_stop.h).
  Status CommitGroup();

  // Returns the value, nullopt when absent, or an error status.
  Result<std::optional<std::string>> Get(rocksdb::ColumnFamilyHandle* family,
                                         const rocksdb::Slice& key) const;

  std::unique_ptr<rocksdb::Iterator> NewIterator(rocksdb::ColumnFamilyHandle* family) const;

  // Full compaction of every family (used by tests).
  Status CompactAll();

  // Flushes the memtables of every family and waits. A write-ahead log file that no family
  // needs any more is then deleted by RocksDB (log recycling is always off; archiving is off by
  // default): what was overwritten before this call is no longer in any log file. With
  // RocksDbOptions::archive_log the file is moved to `<path>/archive/` instead and still holds
  // it, until DeleteArchivedLogs (store/replication_log.h) or the archive's time-to-live
  // removes the file.
  Status FlushAll();
  // At a program's clean stop: FlushAll, so that the next start replays no log (re-inserting a
  // log's writes into memtables and flushing them then costs more than writing the memtables
  // out now, and a restart is both). A failure is logged, not fatal: the log still holds it all.
  // Nothing after a failed write (the store is failed) is flushed.
  void FlushAtCleanStop();
  // Compacts `range` down to the bottommost level, rewriting the bottommost files too: overwritten values and
  // deleted keys in that range leave the table files. Safe alongside writes from other
  // threads. When `canceled` becomes true the compaction stops early with UNAVAILABLE.
  Status CompactRangeForced(const KeyRange& range, std::atomic<bool>* canceled = nullptr);
  // Every family, the default one included.
  const std::vector<rocksdb::ColumnFamilyHandle*>& families() const { return handles_; }

  // RocksDB's memory estimates, summed over every family. Any thread.
  StoreMemoryUsage MemoryUsage() const;

  rocksdb::DB* raw() const { return db_.get(); }
  // As given to Open.
  const RocksDbOptions& options() const { return options_; }
  bool failed() const { return failed_.load(); }

  // Fault injection: the next Write fails as a failed WAL fsync would (UNAVAILABLE, and the
  // failure is sticky), without writing anything. Any thread may call it.
  void FailNextWriteForTest() { fail_next_write_.store(true); }

 private:
  RocksDb() = default;
  // FlushAll; with `stall_writes`, at once even when the flush stalls writes until compaction
  // catches up (RocksDB's allow_write_stall).
  Status Flush(bool stall_writes);
  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  RocksDbOptions options_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> fail_next_write_{false};
  // The thread whose writes go without sync until CommitGroup (none: every write is synced).
  std::atomic<std::thread::id> group_owner_{};
  bool group_dirty_ = false;  // the owner wrote without sync in the open group (owner only)
  std::string failure_;  // written by the thread that writes, before failed_ is set
};

// Big-endian encodings keep numeric keys in numeric order under RocksDB's bytewise comparator.
void AppendBigEndian64(std::string& out, uint64_t value);
// The 8 bytes of `value` alone (a stored counter).
std::string BigEndian64(uint64_t value);
void AppendBigEndian32(std::string& out, uint32_t value);
uint64_t ReadBigEndian64(const char* data);
uint32_t ReadBigEndian32(const char* data);

}  // namespace aplus
