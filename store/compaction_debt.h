// A gateway's side of "erased data must leave the files": after an erasure whose batch set a
// durable "compaction owed" mark, Owe() hands the rewritten ranges to a PurgeCompactor; once
// the compactor has caught up, Settle() clears the mark (so a stop in between compacts again
// at the next start). The broker keeps its mark in its own batches (broker_retention.cc).
//
// Thread rules: the owner's loop thread only (the compactor works on its own thread).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/status.h"
#include "store/purge_compactor.h"
#include "store/rocks_db.h"

namespace aplus {

class CompactionDebt {
 public:
  // `clear_mark` removes the durable mark. `db` must outlive this object.
  CompactionDebt(RocksDb& db, int64_t min_interval_ms, std::function<Status()> clear_mark);

  // Call once the batch holding the mark is committed.
  void Owe(std::vector<KeyRange> ranges);
  // Clears the mark if every range owed so far has been flushed and compacted.
  void Settle();

 private:
  PurgeCompactor compactor_;
  std::function<Status()> clear_mark_;
  uint64_t generation_ = 0;  // the last erasure handed to the compactor
  bool owed_ = false;        // the durable mark is set, not yet cleared
};

}  // namespace aplus
