#include "store/compaction_debt.h"

#include <spdlog/spdlog.h>

namespace aplus {

CompactionDebt::CompactionDebt(RocksDb& db, int64_t min_interval_ms,
                               std::function<Status()> clear_mark)
    : compactor_(db, min_interval_ms), clear_mark_(std::move(clear_mark)) {}

void CompactionDebt::Owe(std::vector<KeyRange> ranges) {
  owed_ = true;
  compactor_.Request(++generation_, std::move(ranges));
}

void CompactionDebt::Settle() {
  if (!owed_ || compactor_.completed() < generation_) return;
  Status cleared = clear_mark_();
  if (cleared.ok()) {
    owed_ = false;
  } else {
    spdlog::error("retention: cannot clear the compaction mark: {}", cleared.ToString());
  }
}

}  // namespace aplus
