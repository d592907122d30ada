// Retention of the local cache's copies: the cache's own erasure and the trimming of the event
// feed, scheduled and compacted by the sweeper both gateways share (gateway/retention_sweeper.h).
#include <spdlog/spdlog.h>

#include "agent-gateway/agent_gateway.h"

namespace aplus {

Status AgentGateway::StartRetention() {
  Status indexed = cache_->IndexEndedCases();
  if (!indexed.ok()) return indexed;
  RetentionSweeper::Hooks hooks;
  hooks.erase_due = [this]() -> Result<RetentionSweeper::Erasure> {
    // The feed carries texts (replies, questions): trimmed with the same sweep.
    auto trimmed = feed_->TrimExpired(clock_.NowMs(), retention_.personal_data_after);
    if (!trimmed.ok()) return trimmed.status();
    auto erasure = cache_->ErasePersonalDataDue();
    if (!erasure.ok()) return erasure.status();
    RetentionSweeper::Erasure done{erasure->cases, {}, erasure->more};
    if (erasure->cases > 0) done.ranges = std::move(erasure->ranges);
    if (*trimmed > 0) {
      spdlog::info("retention: {} event(s) of the feed trimmed", *trimmed);
      done.ranges.push_back(KeyRange{db_->Family(kEventFeedFamily), {}, {}});
    }
    return done;
  };
  hooks.compaction_owed = [this] { return cache_->CompactionOwed(); };
  hooks.clear_compaction_owed = [this] { return cache_->ClearCompactionOwed(); };
  hooks.personal_data_ranges = [this] { return cache_->PersonalDataRanges(); };
  auto sweeper =
      RetentionSweeper::Start(*db_, fail_stop_, retention_, "cached case(s)", std::move(hooks));
  if (!sweeper.ok()) return sweeper.status();
  retention_sweeper_ = std::move(sweeper).value();
  return Status::Ok();
}

void AgentGateway::SweepRetention() { retention_sweeper_->Tick(); }


}  // namespace aplus
