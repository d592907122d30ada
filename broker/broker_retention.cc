// Retention of personal data. When a case ends (CLOSED or CANCELLED) the broker dates it and
// puts a purge timer ('P') in the `due` family, in the same batch; the timer fires through the
// SLA timer machinery (FireDueTimers), so it survives restarts and catches up after downtime.
// The purge erases the case's personal data in one batch with its audit entry and the timer's
// deletion: the subject, body, citizen, reply and open question of the record, the free-text
// details of its timeline (the broker's own notes, which hold none, are kept), and the texts of
// the mail items about it still waiting in a queue. What stays is the skeleton: ids, parties,
// category, dates, SLA outcome, the mandate reference and consent flag (the proof of consent),
// and the audit log.
//
// Overwritten values still sit in RocksDB's log and table files: the same batch durably marks a
// compaction as owed, and once committed the PurgeCompactor flushes and compacts the purged
// ranges off this thread. The mark is cleared when it has, so a crash in between compacts again
// at start-up.
#include <set>

#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "store/key_layout.h"

namespace aplus {
namespace {

constexpr const char* kBrokerActor = "broker";

}  // namespace

void Broker::StartRetention() {
  compactor_ = std::make_unique<PurgeCompactor>(
      store_->db(), FixedDurationMs(config_.retention.compaction_interval).value_or(3600 * 1000));
  purge_generation_ = store_->purge_compaction_owed();
  if (purge_generation_ > 0) {
    // Which ranges the interrupted pass rewrote is not known any more: all of the case data.
    spdlog::info("retention: the compaction of purge pass {} is still owed; running it",
                 purge_generation_);
    compactor_->Request(purge_generation_, store_->CaseDataFamilies());
  }
}

void Broker::ScheduleRetention(records::CaseRecord& record) {
  auto* summary = record.mutable_summary();
  int64_t now = clock_.NowMs();
  int64_t erase_at = AddRetentionPeriod(now, config_.retention.personal_data_after,
                                        sla::TimeZone::Paris());
  summary->set_ended_at_ms(now);
  summary->set_personal_data_erase_at_ms(erase_at);
  PutTimer({erase_at, summary->case_id(), keys::kTimerPurge, 0, {}});
  store_->PutCase(record, summary->state());
}

bool Broker::PurgePersonalData(records::CaseRecord& record) {
  auto* summary = record.mutable_summary();
  // A purge that fires twice (a replay after a crash) finds nothing left to do.
  if (summary->personal_data_erased() || !IsFinal(summary->state())) return false;
  const std::string case_id = summary->case_id();
  std::vector<KeyRange> ranges = store_->CaseRanges(case_id);

  // The timeline: free texts are in the details written on behalf of people (notes, questions,
  // answers, reasons); the broker's own notes (SLA alerts, deadlines) hold none.
  std::set<std::string> partners = {summary->partner()};
  if (!summary->transferred_from().empty()) partners.insert(summary->transferred_from());
  auto events = store_->GetEvents(case_id);
  if (events.ok()) {
    for (auto& event : *events) {
      if (event.kind() == "TRANSFERRED") partners.insert(event.actor());
      if (event.actor() == kBrokerActor || event.detail().empty()) continue;
      event.clear_detail();
      store_->PutEvent(case_id, event);
    }
  } else {
    spdlog::error("retention: timeline of case {} unreadable, its details are not erased: {}",
                  case_id, events.status().ToString());
  }

  // Mail items still waiting (or parked) in a queue carry copies of the texts: the contact
  // point's mailbox (acknowledgement notes, replies, questions, transfer reasons) and the
  // partners' queues (answers to their questions), dead-letter queues included.
  std::vector<std::string> queues = {MailboxQueueName(summary->contact_point())};
  for (const auto& id : partners) {
    if (const Partner* partner = config_.FindPartner(id)) {
      queues.push_back(PartnerQueueName(*partner, summary->territory()));
    }
  }
  for (size_t i = 0, n = queues.size(); i < n; ++i) {
    queues.push_back(std::string(keys::kDeadLetterPrefix) + queues[i]);
  }
  for (const auto& queue : queues) {
    auto [index, fresh] = purge_mail_index_.try_emplace(queue);
    if (fresh) {
      auto entries = store_->MailItemsWithText(queue);
      if (!entries.ok()) {
        // Unreadable queue: its texts about this case stay. Logged; the timeline and the
        // record are still erased (the erasure is better partial than not at all).
        spdlog::error("retention: queue {} unreadable, mail texts of case {} not erased: {}",
                      queue, case_id, entries.status().ToString());
        purge_mail_index_.erase(index);
        continue;
      }
      for (auto& entry : *entries) index->second.emplace(entry.item.case_id(), std::move(entry));
    }
    auto [first, last] = index->second.equal_range(case_id);
    for (auto it = first; it != last; ++it) {
      BrokerStore::QueueEntry entry = it->second;
      entry.item.mutable_mail()->clear_text();
      store_->PutQueueItem(queue, entry.sequence, entry.item);
      ranges.push_back(store_->QueueItemRange(queue, entry.sequence));
    }
  }

  // Every partner that held the case is told to erase its own copy: a partner gateway learns
  // no other way of a case the contact point ended before the partner replied.
  for (const auto& id : partners) {
    const Partner* partner = config_.FindPartner(id);
    if (!partner) continue;
    records::QueueItem notice;
    notice.set_case_id(case_id);
    auto* mail = notice.mutable_mail();
    mail->set_case_id(case_id);
    mail->set_kind(wire::MailItem::ERASE_PERSONAL_DATA);
    mail->set_partner(id);
    mail->set_at_ms(clock_.NowMs());
    mail->set_state(summary->state());
    AppendToQueue(PartnerQueueName(*partner, summary->territory()), notice);
  }

  summary->clear_subject();
  record.clear_body();
  record.clear_citizen_name();
  store_->DeleteContent(case_id);
  record.clear_reply_text();
  record.clear_question();
  summary->set_personal_data_erased(true);
  store_->PutCase(record, summary->state());
  AuditAs(wire::ROLE_UNSPECIFIED, kBrokerActor, case_id, "erase-personal-data",
          FormatRetentionPeriod(config_.retention.personal_data_after) + " after " +
              wire::CaseState_Name(summary->state()));
  store_->SetPurgeCompactionOwed(purge_generation_ + 1);
  for (auto& range : ranges) purge_ranges_.push_back(std::move(range));
  spdlog::debug("retention: personal data of case {} erased", case_id);
  return true;
}

void Broker::FinishPurgePass(size_t purged) {
  purge_mail_index_.clear();  // the next pass reads the queues as they are then
  if (purged == 0) return;
  // A failed commit stored nothing: there is nothing to compact (and the broker stops).
  if (!durability_failure_) {
    spdlog::info("retention: personal data of {} case(s) erased", purged);
    ++purge_generation_;
    compactor_->Request(purge_generation_, std::move(purge_ranges_));
  }
  purge_ranges_.clear();
}

void Broker::CollectPurgeCompactions() {
  uint64_t owed = store_->purge_compaction_owed();
  if (owed == 0 || durability_failure_ || compactor_->completed() < owed) return;
  // Rides with the next batch; until it commits, a restart merely compacts once more.
  store_->SetPurgeCompactionOwed(0);
}

}  // namespace aplus
