#include "gateway/retention_sweeper.h"

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/retention_period.h"
#include "store/outbox.h"

namespace aplus {

RetentionSweeper::RetentionSweeper(RocksDb& db, FailStop& fail_stop,
                                   const RetentionSettings& settings, std::string what,
                                   Hooks hooks)
    : db_(db),
      fail_stop_(fail_stop),
      settings_(settings),
      what_(std::move(what)),
      hooks_(std::move(hooks)),
      debt_(db, FixedDurationMs(settings.compaction_interval).value_or(3600 * 1000),
            hooks_.clear_compaction_owed) {}

Result<std::unique_ptr<RetentionSweeper>> RetentionSweeper::Start(
    RocksDb& db, FailStop& fail_stop, const RetentionSettings& settings, std::string what,
    Hooks hooks) {
  std::unique_ptr<RetentionSweeper> sweeper(
      new RetentionSweeper(db, fail_stop, settings, std::move(what), std::move(hooks)));
  auto owed = sweeper->hooks_.compaction_owed();
  if (!owed.ok()) return owed.status();
  if (*owed) {
    // Which ranges the interrupted erasure rewrote is not known any more: all of them.
    spdlog::info("retention: a compaction after an erasure is still owed; running it");
    sweeper->Owe(sweeper->hooks_.personal_data_ranges());
  }
  return sweeper;
}

void RetentionSweeper::Owe(std::vector<KeyRange> ranges) {
  ranges.push_back(KeyRange{db_.Family(kOutboxFamily), {}, {}});
  debt_.Owe(std::move(ranges));
}

void RetentionSweeper::Tick() {
  debt_.Settle();
  const int64_t now = SteadyNowMs();
  if (now < next_sweep_ms_) return;
  next_sweep_ms_ = now + RetentionSweepIntervalMs(settings_.personal_data_after);
  auto erasure = hooks_.erase_due();
  if (!erasure.ok()) {
    // A failed write of the erasure is a lost fsync like any other (common/fail_stop.h).
    fail_stop_.Trip("retention: cannot erase the personal data due", erasure.status());
    return;
  }
  if (erasure->more) next_sweep_ms_ = now;  // the rest at the next turn
  if (erasure->cases > 0) {
    spdlog::info("retention: personal data of {} {} erased", erasure->cases, what_);
  }
  if (erasure->ranges.empty()) return;
  Owe(std::move(erasure->ranges));
}

}  // namespace aplus
