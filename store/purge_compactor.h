// The second half of the retention purge. Overwriting a case's personal data in a batch is not
// enough: RocksDB keeps the old values in the write-ahead log and in table files until they are
// rewritten. This worker makes them leave the files: it flushes every family (the old log
// files are then deleted) and compacts the purged key ranges down to the bottommost level with
// the bottommost files rewritten too (the old table files are then deleted). It runs on its own
// thread, at most once per interval, because a forced compaction costs I/O that the broker's
// loop must not wait for; RocksDB allows compactions alongside writes.
//
// Each request names a purge pass (a generation, increasing) and the ranges it rewrote; the
// worker merges what is pending into one bounding range per family, and completed() tells the
// broker which pass is now really gone from the files.
//
// Thread rules: construct, Request() and completed() on the owner's thread (the broker's loop);
// the work runs on the worker thread, started by the constructor. The destructor cancels a
// compaction in progress and joins the thread. Members below `mutex_` are guarded by it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "store/rocks_db.h"

namespace aplus {

class PurgeCompactor {
 public:
  // `db` must outlive the compactor. Runs start at least `min_interval_ms` apart.
  PurgeCompactor(RocksDb& db, int64_t min_interval_ms);
  ~PurgeCompactor();
  PurgeCompactor(const PurgeCompactor&) = delete;
  PurgeCompactor& operator=(const PurgeCompactor&) = delete;

  // Asks for a flush and a compaction of `ranges` covering purge pass `generation`; call it
  // once the batch of that pass is committed. Requests made while a run is waiting or working
  // are merged into the next run.
  void Request(uint64_t generation, std::vector<KeyRange> ranges);
  // The highest generation whose flush and compaction completed (0 = none yet).
  uint64_t completed() const { return completed_.load(); }
  // Runs completed and runs failed so far (a failed run is retried at the next interval).
  uint64_t runs() const { return runs_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  void Run();
  // One flush + compaction of `ranges`; OK or the first failure.
  Status Compact(const std::vector<KeyRange>& ranges);

  RocksDb& db_;
  const std::chrono::milliseconds min_interval_;
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> runs_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<bool> canceled_{false};  // read by RocksDB during a compaction

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  uint64_t requested_ = 0;  // highest generation asked for
  // Pending ranges merged per family into one bounding range.
  std::map<rocksdb::ColumnFamilyHandle*, KeyRange> pending_;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace aplus
