// Retention of the local cache's copies: the sweep that erases the personal data of the cases
// whose period is over, and the compaction that makes the overwritten values leave the files.
// The erasure's batch durably marks a compaction as owed; the mark is cleared once the
// compactor has flushed and compacted (store/compaction_debt.h), so a stop in between compacts again at start-up.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent-gateway/agent_gateway.h"
#include "store/outbox.h"

namespace aplus {

Status AgentGateway::StartRetention() {
  Status indexed = cache_->IndexEndedCases();
  if (!indexed.ok()) return indexed;
  compaction_debt_ = std::make_unique<CompactionDebt>(
      *db_, FixedDurationMs(retention_.compaction_interval).value_or(3600 * 1000),
      [this] { return cache_->ClearCompactionOwed(); });
  auto owed = cache_->CompactionOwed();
  if (!owed.ok()) return owed.status();
  if (*owed) {
    // Which ranges the interrupted erasure rewrote is not known any more: all of them.
    spdlog::info("retention: a compaction after an erasure is still owed; running it");
    std::vector<KeyRange> ranges = cache_->PersonalDataRanges();
    ranges.push_back(KeyRange{db_->Family(kOutboxFamily), {}, {}});
    compaction_debt_->Owe(std::move(ranges));
  }
  return Status::Ok();
}

void AgentGateway::SweepRetention() {
  compaction_debt_->Settle();
  const int64_t now = SteadyNowMs();
  if (now < next_retention_sweep_ms_) return;
  next_retention_sweep_ms_ = now + RetentionSweepIntervalMs(retention_.personal_data_after);
  auto erasure = cache_->ErasePersonalDataDue();
  if (!erasure.ok()) {
    // A failed write of the erasure is a lost fsync like any other (common/fail_stop.h).
    fail_stop_.Trip("retention: cannot erase the personal data due", erasure.status());
    return;
  }
  if (erasure->more) next_retention_sweep_ms_ = now;  // the rest at the next turn
  TrimEventFeed();
  if (erasure->cases == 0) return;
  spdlog::info("retention: personal data of {} cached case(s) erased", erasure->cases);
  // The outbox held the submissions and answers of these cases before they were forwarded:
  // their deleted entries go with the compaction too.
  std::vector<KeyRange> ranges = std::move(erasure->ranges);
  ranges.push_back(KeyRange{db_->Family(kOutboxFamily), {}, {}});
  compaction_debt_->Owe(std::move(ranges));
}

void AgentGateway::TrimEventFeed() {
  // The feed carries texts (replies, questions): kept 7 days, never longer than the network's
  // personal-data period (gateway/event_feed.h).
  constexpr int64_t kFeedKeepMs = 7LL * 24 * 3600 * 1000;
  int64_t keep = std::min<int64_t>(
      kFeedKeepMs, FixedDurationMs(retention_.personal_data_after).value_or(kFeedKeepMs));
  rocksdb::WriteBatch batch;
  auto trimmed = feed_->TrimBefore(batch, clock_.NowMs() - keep);
  if (!trimmed.ok()) {
    spdlog::error("retention: cannot read the event feed: {}", trimmed.status().ToString());
    return;
  }
  if (*trimmed == 0) return;
  Status written = db_->Write(batch);
  if (!written.ok()) return fail_stop_.Trip("retention: cannot trim the event feed", written);
  spdlog::info("retention: {} event(s) of the feed trimmed", *trimmed);
}

}  // namespace aplus
