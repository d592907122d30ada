// Retention of the local cache's copies: the cache's own erasure, scheduled and compacted by
// the sweeper both gateways share (gateway/retention_sweeper.h).
#include "agent-gateway/agent_gateway.h"

namespace aplus {

Status AgentGateway::StartRetention() {
  Status indexed = cache_->IndexEndedCases();
  if (!indexed.ok()) return indexed;
  RetentionSweeper::Hooks hooks;
  hooks.erase_due = [this]() -> Result<RetentionSweeper::Erasure> {
    auto erasure = cache_->ErasePersonalDataDue();
    if (!erasure.ok()) return erasure.status();
    return RetentionSweeper::Erasure{erasure->cases, std::move(erasure->ranges), erasure->more};
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
