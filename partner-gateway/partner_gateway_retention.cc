// Retention of the partner's copies: the erasure of the personal data of the inbox cases whose
// period is over (and of their spool files), scheduled and compacted by the sweeper both
// gateways share (gateway/retention_sweeper.h).
#include <spdlog/spdlog.h>

#include "partner-gateway/partner_gateway.h"

namespace aplus {

Status PartnerGateway::StartRetention() {
  Status indexed = inbox_->IndexAnsweredCases(clock_.NowMs());
  if (!indexed.ok()) return indexed;
  RetentionSweeper::Hooks hooks;
  hooks.erase_due = [this]() -> Result<RetentionSweeper::Erasure> {
    size_t trimmed = TrimFeed();
    if (!fail_stop_.status().ok()) return fail_stop_.status();
    auto due = inbox_->DueForErasure(clock_.NowMs());
    if (!due.ok()) {
      spdlog::error("retention: cannot read the cases due for erasure: {}",
                    due.status().ToString());
      return RetentionSweeper::Erasure{};
    }
    RetentionSweeper::Erasure erasure;
    if (trimmed > 0) {
      // The trimmed events and webhooks carried cases as delivered: compact them away too.
      erasure.ranges.push_back(KeyRange{db_->Family(kEventFeedFamily), {}, {}});
      erasure.ranges.push_back(KeyRange{db_->Family(kWebhookFamily), {}, {}});
    }
    erasure.more = due->size() == PartnerInbox::kMaxErasuresPerSweep;
    // EraseCases logs, counts and owes the compaction itself (it also serves erase notices).
    if (!due->empty()) EraseCases(std::move(due).value());
    return erasure;
  };
  hooks.compaction_owed = [this] { return inbox_->CompactionOwed(); };
  hooks.clear_compaction_owed = [this] { return inbox_->ClearCompactionOwed(); };
  hooks.personal_data_ranges = [this] {
    return std::vector<KeyRange>{inbox_->PersonalDataRange()};
  };
  auto sweeper = RetentionSweeper::Start(*db_, fail_stop_, options_.retention,
                                         "inbox case(s)", std::move(hooks));
  if (!sweeper.ok()) return sweeper.status();
  retention_sweeper_ = std::move(sweeper).value();
  return Status::Ok();
}

void PartnerGateway::SweepRetention() { retention_sweeper_->Tick(); }

size_t PartnerGateway::TrimFeed() {
  // Feed events and webhook bodies carry the case as delivered (gateway/event_feed.h).
  auto trimmed = feed_->TrimExpired(clock_.NowMs(), options_.retention.personal_data_after);
  if (!trimmed.ok()) {
    fail_stop_.Trip("retention: cannot trim the event feed", trimmed.status());
    return 0;
  }
  size_t removed = *trimmed;
  if (removed > 0) spdlog::info("retention: {} feed event(s) removed", removed);
  if (webhooks_) {
    int64_t cutoff =
        clock_.NowMs() - EventFeed::RetentionMs(options_.retention.personal_data_after);
    auto purged = webhooks_->PurgeHistory(cutoff);
    if (!purged.ok()) {
      spdlog::error("retention: cannot purge past webhooks: {}", purged.status().ToString());
    } else {
      removed += *purged;
    }
  }
  return removed;
}

bool PartnerGateway::EraseOnNotice(const std::string& case_id) {
  auto found = inbox_->Find(case_id);
  if (!found.ok()) {
    spdlog::error("retention: cannot read {} to erase it: {}", case_id, found.status().ToString());
    return false;
  }
  if (!found->has_value() || (*found)->summary().personal_data_erased()) return true;
  spdlog::info("retention: the broker erased {}; erasing this gateway's copy", case_id);
  // The partner's systems hear of it in the same batch (feed event, webhook).
  nlohmann::json event = {
      {"type", "case.erase_personal_data"}, {"caseId", case_id}, {"partner", options_.partner}};
  const int64_t now_ms = clock_.NowMs();
  return EraseCases({PartnerInbox::Due{case_id, (*found)->summary().personal_data_erase_at_ms()}},
                    [&](rocksdb::WriteBatch& batch) { AppendEvent(batch, event, now_ms); });
}

bool PartnerGateway::EraseCases(std::vector<PartnerInbox::Due> due,
                                const PartnerInbox::BatchExtra& extra) {
  // The spool files first: a case whose files cannot be removed stays due, and both are tried
  // again at the next sweep.
  std::vector<PartnerInbox::Due> erasable;
  for (auto& item : due) {
    Status removed = spool_ ? spool_->RemoveCase(item.case_id) : Status::Ok();
    if (removed.ok()) {
      erasable.push_back(std::move(item));
    } else {
      spdlog::error("retention: cannot remove the spool files of {}, not erased yet: {}",
                    item.case_id, removed.ToString());
    }
  }
  auto erasure = inbox_->ErasePersonalData(erasable, extra);
  if (!erasure.ok()) {
    // A failed write of the erasure is a lost fsync like any other (common/fail_stop.h).
    fail_stop_.Trip("retention: cannot erase the personal data due", erasure.status());
    return false;
  }
  if (extra && !erasable.empty()) EventsPublished();
  if (erasure->cases == 0) return erasable.size() == due.size();
  counters_.cases_erased += erasure->cases;
  spdlog::info("retention: personal data of {} inbox case(s) erased", erasure->cases);
  // The outbox held the replies and questions of these cases before they were forwarded:
  // the sweeper compacts its family with these ranges.
  retention_sweeper_->Owe(std::move(erasure->ranges));
  return erasable.size() == due.size();
}

}  // namespace aplus
