#include "store/cases_at_risk.h"

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "store/broker_store.h"
#include "store/key_layout.h"

namespace aplus {

bool IsAtRisk(const wire::CaseSummary& summary) {
  return summary.warned() && !summary.breached() && summary.answered_at_ms() == 0 &&
         summary.state() != wire::CANCELLED && summary.state() != wire::CLOSED;
}

void BrokerStore::CountAtRisk(records::CaseRecord& record, const std::string& counted_before) {
  const wire::CaseSummary& summary = record.summary();
  const std::string& now = IsAtRisk(summary) ? summary.partner() : kNotAtRisk;
  if (now != counted_before) {
    if (!counted_before.empty()) {
      uint64_t& count = at_risk_[counted_before];
      if (count > 0) --count;
      at_risk_dirty_.insert(counted_before);
    }
    if (!now.empty()) {
      ++at_risk_[now];
      at_risk_dirty_.insert(now);
    }
  }
  // Always: the record may come from a copy made before this batch marked it.
  record.set_at_risk_partner(now);
}

Status BrokerStore::CountCasesAtRiskOnce() {
  auto counted = db_->Get(meta_, std::string(keys::kAtRiskCounted));
  if (!counted.ok()) {
    return Status(wire::INTERNAL, "the mark of the cases at risk cannot be read: " +
                                      counted.status().message());
  }
  if (counted->has_value()) return Status::Ok();
  auto it = db_->NewIterator(cases_);
  it->SeekToFirst();
  if (!it->Valid() && it->status().ok()) {
    // A new store: nothing to count. The mark goes with its first batch (an open writes
    // nothing: a pair's nodes keep their sequences aligned).
    at_risk_mark_owed_ = true;
    return Status::Ok();
  }
  // A store written before the counters: one pass over the cases, at this start only. Records
  // whose mark disagrees with the rule are rewritten (in synced batches of about 8 MB, each
  // whole); the counters and the mark go in the last batch. A stop midway counts again from
  // the start at the next one: the rule, not the marks, decides.
  const int64_t started_ms = SteadyNowMs();
  std::map<std::string, uint64_t> counts;
  rocksdb::WriteBatch batch;
  size_t rewritten = 0, cases = 0, unreadable = 0;
  records::CaseRecord record;
  for (; it->Valid(); it->Next()) {
    ++cases;
    if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      // Not counted, and the broker still starts: every request about the case answers
      // INTERNAL until the record is repaired or restored, as it would without this count.
      std::string id = it->key().size() > 8 ? it->key().ToString().substr(8) : "?";
      spdlog::error("store: the record of case {} is unreadable: not counted among the cases "
                    "at risk",
                    id);
      ++unreadable;
      continue;
    }
    const std::string& partner = IsAtRisk(record.summary()) ? record.summary().partner() : kNotAtRisk;
    if (!partner.empty()) ++counts[partner];
    if (record.at_risk_partner() == partner) continue;
    record.set_at_risk_partner(partner);
    batch.Put(cases_, it->key(), record.SerializeAsString());
    ++rewritten;
    if (batch.GetDataSize() >= kMigrationBatchBytes) {
      Status written = db_->Write(batch);
      if (!written.ok()) return written;
      batch.Clear();
    }
  }
  if (!it->status().ok()) {
    // A corrupt block, a read error: the store still serves (the requests that read those
    // cases answer the error), with the counts made so far, and no mark: the next start
    // counts again.
    at_risk_ = std::move(counts);
    at_risk_dirty_.clear();
    spdlog::error("store: reading the cases to count those at risk failed after {} cases ({}); "
                  "the gauge of cases at risk counts only those, until a start counts them all",
                  cases, it->status().ToString());
    return Status::Ok();
  }
  // Counters of an earlier count (a downgrade in between): replaced whole.
  std::string prefix(keys::kAtRiskPrefix);
  auto stale = db_->NewIterator(meta_);
  for (stale->Seek(prefix); stale->Valid() && stale->key().starts_with(prefix); stale->Next()) {
    batch.Delete(meta_, stale->key());
  }
  if (!stale->status().ok()) {
    return Status(wire::UNAVAILABLE, "reading the counters of cases at risk failed: " +
                                         stale->status().ToString());
  }
  for (const auto& [partner, count] : counts) {
    batch.Put(meta_, keys::AtRiskKey(partner), BigEndian64(count));
  }
  batch.Put(meta_, std::string(keys::kAtRiskCounted), BigEndian64(1));
  Status written = db_->Write(batch);
  if (!written.ok()) return written;
  at_risk_ = std::move(counts);
  if (cases > 0) {
    spdlog::info("store: {} cases at risk counted among {} cases (a store written before the "
                 "counters; {} records marked, {} unreadable) in {} ms",
                 [&] {
                   uint64_t total = 0;
                   for (const auto& [partner, count] : at_risk_) total += count;
                   return total;
                 }(),
                 cases, rewritten, unreadable, SteadyNowMs() - started_ms);
  }
  return Status::Ok();
}

}  // namespace aplus
