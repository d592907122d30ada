#include "store/broker_store.h"

#include "store/key_layout.h"

namespace aplus {
namespace {

template <typename Message>
bool ParseSlice(Message& message, const rocksdb::Slice& slice) {
  return message.ParseFromArray(slice.data(), static_cast<int>(slice.size()));
}

std::string BigEndian64(uint64_t value) {
  std::string out;
  AppendBigEndian64(out, value);
  return out;
}

}  // namespace

Result<std::unique_ptr<BrokerStore>> BrokerStore::Open(const std::string& path) {
  auto db = RocksDb::Open(path, {keys::kCases, keys::kEvents, keys::kQueues, keys::kDedup,
                                 keys::kByContactPoint, keys::kMeta, keys::kDue, keys::kAlerts,
                                 keys::kOpenAlerts, keys::kAudit, keys::kAlertsBySequence});
  if (!db.ok()) return db.status();
  std::unique_ptr<BrokerStore> store(new BrokerStore(std::move(db).value()));
  store->LoadCounters();
  Status indexed = store->BackfillAlertIndex();
  if (!indexed.ok()) return indexed;
  return store;
}

BrokerStore::BrokerStore(std::unique_ptr<RocksDb> db)
    : db_(std::move(db)),
      cases_(db_->Family(keys::kCases)),
      events_(db_->Family(keys::kEvents)),
      queues_(db_->Family(keys::kQueues)),
      dedup_(db_->Family(keys::kDedup)),
      by_contact_point_(db_->Family(keys::kByContactPoint)),
      meta_(db_->Family(keys::kMeta)),
      due_(db_->Family(keys::kDue)),
      alerts_(db_->Family(keys::kAlerts)),
      open_alerts_(db_->Family(keys::kOpenAlerts)),
      alerts_by_sequence_(db_->Family(keys::kAlertsBySequence)),
      audit_(db_->Family(keys::kAudit)) {}

void BrokerStore::LoadCounters() {
  auto counter = db_->Get(meta_, std::string(keys::kCaseCounter));
  if (counter.ok() && counter->has_value() && (*counter)->size() == 8) {
    case_counter_ = ReadBigEndian64((*counter)->data());
  }
  auto alerts = db_->Get(meta_, std::string(keys::kAlertCounter));
  if (alerts.ok() && alerts->has_value() && (*alerts)->size() == 8) {
    alert_counter_ = ReadBigEndian64((*alerts)->data());
  }
  auto audit = db_->Get(meta_, std::string(keys::kAuditCounter));
  if (audit.ok() && audit->has_value() && (*audit)->size() == 8) {
    audit_counter_ = ReadBigEndian64((*audit)->data());
  }
  auto owed = db_->Get(meta_, std::string(keys::kPurgeCompactionOwed));
  if (owed.ok() && owed->has_value() && (*owed)->size() == 8) {
    purge_compaction_owed_ = ReadBigEndian64((*owed)->data());
  }
  auto it = db_->NewIterator(meta_);
  std::string prefix(keys::kStateCountPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string name = it->key().ToString().substr(prefix.size());
    wire::CaseState state;
    if (wire::CaseState_Parse(name, &state) && it->value().size() == 8) {
      state_counts_[state] = ReadBigEndian64(it->value().data());
    }
  }
  std::string open_prefix(keys::kOpenCasesPrefix);
  for (it->Seek(open_prefix); it->Valid() && it->key().starts_with(open_prefix); it->Next()) {
    if (it->value().size() == 8) {
      open_cases_[it->key().ToString().substr(open_prefix.size())] =
          ReadBigEndian64(it->value().data());
    }
  }
}

Status BrokerStore::BackfillAlertIndex() {
  auto index = db_->NewIterator(alerts_by_sequence_);
  index->SeekToFirst();
  if (!index->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the alert index: " + index->status().ToString());
  }
  if (index->Valid()) return Status::Ok();  // written since the index exists
  rocksdb::WriteBatch batch;
  size_t indexed = 0;
  auto it = db_->NewIterator(alerts_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    wire::Alert alert;
    if (!ParseSlice(alert, it->value())) {
      return Status(wire::INTERNAL, "stored alert " + it->key().ToString() + " is unreadable");
    }
    batch.Put(alerts_by_sequence_, keys::AlertSequenceKey(alert.sequence()), alert.alert_id());
    ++indexed;
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the alerts: " + it->status().ToString());
  }
  return indexed == 0 ? Status::Ok() : db_->Write(batch);
}

Result<std::vector<wire::Alert>> BrokerStore::AlertsAfter(uint64_t after_sequence, size_t limit) {
  std::vector<wire::Alert> alerts;
  if (after_sequence == UINT64_MAX) return alerts;
  // The committed index and this batch's entries, merged in sequence order.
  auto pending = pending_alert_sequences_.upper_bound(after_sequence);
  auto it = db_->NewIterator(alerts_by_sequence_);
  it->Seek(keys::AlertSequenceKey(after_sequence + 1));
  while (alerts.size() < limit) {
    std::optional<uint64_t> committed;
    if (it->Valid() && it->key().size() == 8) committed = ReadBigEndian64(it->key().data());
    bool take_pending = pending != pending_alert_sequences_.end() &&
                        (!committed || pending->first <= *committed);
    if (!take_pending && !committed) break;
    std::string alert_id;
    if (take_pending) {
      alert_id = pending->second;
      if (committed && *committed == pending->first) it->Next();
      ++pending;
    } else {
      alert_id = it->value().ToString();
      it->Next();
    }
    auto alert = GetAlert(alert_id);
    if (!alert.ok()) return alert.status();
    if (!alert->has_value()) {
      return Status(wire::INTERNAL, "the alert index names a missing alert " + alert_id);
    }
    alerts.push_back(std::move(**alert));
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the alert index: " + it->status().ToString());
  }
  return alerts;
}

Result<std::vector<BrokerStore::DeadLetterEntry>> BrokerStore::ReadDeadLetters(
    const std::string& queue_prefix) {
  std::string prefix = std::string(keys::kDeadLetterPrefix) + queue_prefix;
  auto parse_key = [](std::string_view key, DeadLetterEntry& entry) {
    if (key.size() < keys::kDeadLetterPrefix.size() + 9 || key[key.size() - 9] != '\0') return false;
    entry.queue.assign(key.substr(keys::kDeadLetterPrefix.size(),
                                  key.size() - 9 - keys::kDeadLetterPrefix.size()));
    entry.sequence = ReadBigEndian64(key.data() + key.size() - 8);
    return true;
  };
  std::map<std::pair<std::string, uint64_t>, records::QueueItem> found;
  auto it = db_->NewIterator(queues_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    DeadLetterEntry entry;
    if (!parse_key(std::string_view(it->key().data(), it->key().size()), entry)) continue;
    if (!ParseSlice(entry.item, it->value())) {
      return Status(wire::INTERNAL, "dead-lettered item " + std::to_string(entry.sequence) +
                                        " of " + entry.queue + " is unreadable");
    }
    found[{entry.queue, entry.sequence}] = std::move(entry.item);
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the dead-letter queues: " + it->status().ToString());
  }
  for (const auto& [key, item] : pending_queue_items_) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    DeadLetterEntry entry;
    if (!parse_key(key, entry)) continue;
    if (item) {
      found[{entry.queue, entry.sequence}] = *item;
    } else {
      found.erase({entry.queue, entry.sequence});
    }
  }
  std::vector<DeadLetterEntry> entries;
  for (auto& [key, item] : found) entries.push_back(DeadLetterEntry{key.first, key.second, std::move(item)});
  return entries;
}

namespace {
bool WaitsForPartner(wire::CaseState state) {
  switch (state) {
    case wire::SUBMITTED:
    case wire::DELIVERED:
    case wire::ACKNOWLEDGED:
    case wire::INFO_REQUESTED:
    case wire::TRANSFERRED:
      return true;
    default:
      return false;
  }
}
}  // namespace

uint64_t BrokerStore::open_cases(const std::string& contact_point) const {
  auto it = open_cases_.find(contact_point);
  return it == open_cases_.end() ? 0 : it->second;
}

Result<std::optional<records::CaseRecord>> BrokerStore::GetCase(const std::string& case_id) {
  auto pending = pending_cases_.find(case_id);
  if (pending != pending_cases_.end()) return std::optional(pending->second);
  auto value = db_->Get(cases_, case_id);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<records::CaseRecord>();
  records::CaseRecord record;
  if (!record.ParseFromString(**value)) {
    return Status(wire::INTERNAL, "stored record of case " + case_id + " is unreadable");
  }
  return std::optional(std::move(record));
}

Result<std::vector<wire::Event>> BrokerStore::GetEvents(const std::string& case_id) {
  std::vector<wire::Event> events;
  std::string prefix = keys::EventPrefix(case_id);
  auto it = db_->NewIterator(events_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    wire::Event event;
    if (!ParseSlice(event, it->value())) {
      return Status(wire::INTERNAL, "stored event of case " + case_id + " is unreadable");
    }
    events.push_back(std::move(event));
  }
  auto pending = pending_events_.find(case_id);
  if (pending != pending_events_.end()) {
    // A pending event either follows the stored ones or rewrites one of them (the retention
    // purge rewrites details in place): merge by sequence.
    for (const auto& event : pending->second) {
      if (event.sequence() < events.size() && events[event.sequence()].sequence() == event.sequence()) {
        events[event.sequence()] = event;
      } else {
        events.push_back(event);
      }
    }
  }
  return events;
}

Result<std::optional<records::DedupEntry>> BrokerStore::GetDedup(const std::string& principal,
                                                                 const std::string& key) {
  std::string dedup_key = keys::DedupKey(principal, key);
  auto pending = pending_dedup_.find(dedup_key);
  if (pending != pending_dedup_.end()) return std::optional(pending->second);
  auto value = db_->Get(dedup_, dedup_key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<records::DedupEntry>();
  records::DedupEntry entry;
  if (!entry.ParseFromString(**value)) {
    return Status(wire::INTERNAL, "stored idempotency entry is unreadable");
  }
  return std::optional(std::move(entry));
}

std::vector<std::string> BrokerStore::ListCaseIds(const std::string& contact_point,
                                                  const std::string& after, size_t limit) {
  std::vector<std::string> ids;
  std::string prefix = keys::ByContactPointKey(contact_point, "");
  auto it = db_->NewIterator(by_contact_point_);
  if (after.empty()) {
    it->Seek(prefix);
  } else {
    std::string start = keys::ByContactPointKey(contact_point, after);
    it->Seek(start);
    if (it->Valid() && it->key() == start) it->Next();
  }
  for (; it->Valid() && it->key().starts_with(prefix) && ids.size() < limit; it->Next()) {
    ids.push_back(it->key().ToString().substr(prefix.size()));
  }
  return ids;
}

std::vector<BrokerStore::QueueEntry> BrokerStore::ReadQueue(const std::string& queue,
                                                            uint64_t from, size_t limit) {
  std::vector<QueueEntry> entries;
  std::string prefix = keys::QueuePrefix(queue);
  // Stop at the end of this queue: without a bound, reading past its last item walks the next
  // queue's deleted (acknowledged) items, tombstone by tombstone, until compaction.
  std::string upper(queue);
  upper.push_back('\x01');
  rocksdb::Slice upper_bound(upper);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper_bound;
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator(options, queues_));
  for (it->Seek(keys::QueueKey(queue, from));
       it->Valid() && it->key().starts_with(prefix) && entries.size() < limit; it->Next()) {
    if (!pending_queue_items_.empty()) {
      auto pending = pending_queue_items_.find(it->key().ToString());
      if (pending != pending_queue_items_.end() && !pending->second) continue;  // deleted in this batch
    }
    QueueEntry entry;
    entry.sequence = ReadBigEndian64(it->key().data() + prefix.size());
    if (!ParseSlice(entry.item, it->value())) continue;  // unreadable: left for an operator
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::optional<records::QueueItem> BrokerStore::GetQueueItem(const std::string& queue,
                                                            uint64_t sequence) {
  std::string key = keys::QueueKey(queue, sequence);
  if (!pending_queue_items_.empty()) {
    auto pending = pending_queue_items_.find(key);
    if (pending != pending_queue_items_.end()) return pending->second;
  }
  auto value = db_->Get(queues_, key);
  if (!value.ok() || !value->has_value()) return std::nullopt;
  records::QueueItem item;
  if (!item.ParseFromString(**value)) return std::nullopt;
  return item;
}

std::map<std::string, BrokerStore::QueueInfo> BrokerStore::ScanQueues() {
  std::map<std::string, QueueInfo> queues;
  auto it = db_->NewIterator(queues_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = it->key();
    if (key.size() < 9) continue;
    std::string name(key.data(), key.size() - 9);
    uint64_t sequence = ReadBigEndian64(key.data() + key.size() - 8);
    auto& info = queues[name];
    info.depth += 1;
    info.next_sequence = std::max(info.next_sequence, sequence + 1);
  }
  auto marks = db_->NewIterator(meta_);
  std::string prefix(keys::kQueueNextPrefix);
  for (marks->Seek(prefix); marks->Valid() && marks->key().starts_with(prefix); marks->Next()) {
    if (marks->value().size() != 8) continue;
    auto& info = queues[marks->key().ToString().substr(prefix.size())];
    info.next_sequence = std::max(info.next_sequence, ReadBigEndian64(marks->value().data()));
  }
  return queues;
}

std::optional<int64_t> BrokerStore::EarliestTimerMs() {
  auto it = db_->NewIterator(due_);
  it->SeekToFirst();
  if (!it->Valid() || it->key().size() < 8) return std::nullopt;
  return static_cast<int64_t>(ReadBigEndian64(it->key().data()));
}

std::vector<BrokerStore::Timer> BrokerStore::DueTimers(int64_t from_ms, int64_t now_ms,
                                                       size_t limit,
                                                       std::optional<int64_t>& next_due_ms) {
  std::vector<Timer> timers;
  next_due_ms.reset();
  auto it = db_->NewIterator(due_);
  std::string start;
  AppendBigEndian64(start, static_cast<uint64_t>(std::max<int64_t>(from_ms, 0)));
  for (it->Seek(start); it->Valid(); it->Next()) {
    auto key = it->key();
    if (key.size() < 10) continue;
    Timer timer;
    timer.due_ms = static_cast<int64_t>(ReadBigEndian64(key.data()));
    if (timer.due_ms > now_ms || timers.size() >= limit) {
      next_due_ms = timer.due_ms;
      break;
    }
    timer.case_id.assign(key.data() + 8, key.size() - 10);
    timer.kind = key[key.size() - 1];
    timer.generation = it->value().size() == 4 ? ReadBigEndian32(it->value().data()) : 0;
    timers.push_back(std::move(timer));
  }
  return timers;
}

Result<std::optional<wire::Alert>> BrokerStore::GetAlert(const std::string& alert_id) {
  auto pending = pending_alerts_.find(alert_id);
  if (pending != pending_alerts_.end()) return std::optional(pending->second);
  auto value = db_->Get(alerts_, alert_id);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<wire::Alert>();
  wire::Alert alert;
  if (!alert.ParseFromString(**value)) return Status(wire::INTERNAL, "stored alert is unreadable");
  return std::optional(std::move(alert));
}

std::vector<wire::Alert> BrokerStore::ListAlerts(bool include_acked, size_t scan_limit) {
  std::vector<wire::Alert> alerts;
  auto it = db_->NewIterator(include_acked ? alerts_ : open_alerts_);
  for (it->SeekToFirst(); it->Valid() && alerts.size() < scan_limit; it->Next()) {
    if (include_acked) {
      wire::Alert alert;
      if (ParseSlice(alert, it->value())) alerts.push_back(std::move(alert));
    } else {
      auto alert = GetAlert(it->key().ToString());
      if (alert.ok() && alert->has_value()) alerts.push_back(std::move(**alert));
    }
  }
  return alerts;
}

void BrokerStore::ForEachCase(const std::function<bool(const records::CaseRecord&)>& visit) {
  auto it = db_->NewIterator(cases_);
  records::CaseRecord record;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!ParseSlice(record, it->value())) continue;
    if (!visit(record)) return;
  }
}

std::vector<BrokerStore::QueueEntry> BrokerStore::MailItemsWithText(const std::string& queue) {
  auto wanted = [](const records::QueueItem& item) {
    return item.has_mail() && !item.mail().text().empty();
  };
  std::map<uint64_t, records::QueueItem> found;
  std::string prefix = keys::QueuePrefix(queue);
  auto it = db_->NewIterator(queues_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) continue;
    records::QueueItem item;
    if (!ParseSlice(item, it->value()) || !wanted(item)) continue;
    found[ReadBigEndian64(it->key().data() + prefix.size())] = std::move(item);
  }
  for (const auto& [key, item] : pending_queue_items_) {
    if (key.size() != prefix.size() + 8 || key.compare(0, prefix.size(), prefix) != 0) continue;
    uint64_t sequence = ReadBigEndian64(key.data() + prefix.size());
    if (item && wanted(*item)) {
      found[sequence] = *item;
    } else {
      found.erase(sequence);
    }
  }
  std::vector<QueueEntry> entries;
  for (auto& [sequence, item] : found) entries.push_back(QueueEntry{sequence, std::move(item)});
  return entries;
}

std::vector<KeyRange> BrokerStore::CaseRanges(const std::string& case_id) const {
  std::string last_event = keys::EventKey(case_id, UINT32_MAX);
  return {KeyRange{cases_, case_id, case_id},
          KeyRange{events_, keys::EventPrefix(case_id), last_event}};
}

KeyRange BrokerStore::QueueItemRange(const std::string& queue, uint64_t sequence) const {
  std::string key = keys::QueueKey(queue, sequence);
  return KeyRange{queues_, key, key};
}

std::vector<KeyRange> BrokerStore::CaseDataFamilies() const {
  return {KeyRange{cases_, {}, {}}, KeyRange{events_, {}, {}}, KeyRange{queues_, {}, {}}};
}

Result<std::vector<wire::AuditEntry>> BrokerStore::GetAudit(const std::string& case_id) {
  std::vector<wire::AuditEntry> entries;
  std::string prefix = keys::AuditPrefix(case_id);
  auto it = db_->NewIterator(audit_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    wire::AuditEntry entry;
    if (!ParseSlice(entry, it->value())) {
      return Status(wire::INTERNAL, "stored audit entry of case " + case_id + " is unreadable");
    }
    entries.push_back(std::move(entry));
  }
  auto pending = pending_audit_.find(case_id);
  if (pending != pending_audit_.end()) {
    entries.insert(entries.end(), pending->second.begin(), pending->second.end());
  }
  return entries;
}

void BrokerStore::PutTimer(const Timer& timer) {
  std::string value;
  AppendBigEndian32(value, timer.generation);
  batch_.Put(due_, keys::DueKey(timer.due_ms, timer.case_id, timer.kind), value);
  ++pending_writes_;
}

void BrokerStore::DeleteTimer(int64_t due_ms, const std::string& case_id, char kind) {
  batch_.Delete(due_, keys::DueKey(due_ms, case_id, kind));
  ++pending_writes_;
}

void BrokerStore::PutAlert(const wire::Alert& alert, bool open) {
  batch_.Put(alerts_, alert.alert_id(), alert.SerializeAsString());
  if (open) {
    batch_.Put(open_alerts_, alert.alert_id(), "");
  } else {
    batch_.Delete(open_alerts_, alert.alert_id());
  }
  // Rewritten on an acknowledgement too: same key, same value.
  batch_.Put(alerts_by_sequence_, keys::AlertSequenceKey(alert.sequence()), alert.alert_id());
  pending_alert_sequences_[alert.sequence()] = alert.alert_id();
  pending_alerts_[alert.alert_id()] = alert;
  pending_writes_ += 3;
}

uint64_t BrokerStore::NextAlertSequence() {
  counters_dirty_ = true;
  return ++alert_counter_;
}

void BrokerStore::PutCase(const records::CaseRecord& record, wire::CaseState previous_state) {
  const std::string& id = record.summary().case_id();
  batch_.Put(cases_, id, record.SerializeAsString());
  pending_cases_[id] = record;
  ++pending_writes_;
  wire::CaseState state = record.summary().state();
  if (state != previous_state) {
    if (previous_state != wire::STATE_UNSPECIFIED && state_counts_[previous_state] > 0) {
      --state_counts_[previous_state];
    }
    ++state_counts_[state];
    counters_dirty_ = true;
    bool was_open = WaitsForPartner(previous_state), is_open = WaitsForPartner(state);
    if (was_open != is_open) {
      const std::string& contact_point = record.summary().contact_point();
      uint64_t& open = open_cases_[contact_point];
      open = is_open ? open + 1 : (open > 0 ? open - 1 : 0);
      open_cases_dirty_.insert(contact_point);
    }
  }
}

void BrokerStore::PutEvent(const std::string& case_id, const wire::Event& event) {
  batch_.Put(events_, keys::EventKey(case_id, event.sequence()), event.SerializeAsString());
  pending_events_[case_id].push_back(event);
  ++pending_writes_;
}

void BrokerStore::PutQueueItem(const std::string& queue, uint64_t sequence,
                               const records::QueueItem& item) {
  batch_.Put(queues_, keys::QueueKey(queue, sequence), item.SerializeAsString());
  pending_queue_items_[keys::QueueKey(queue, sequence)] = item;
  ++pending_writes_;
}

void BrokerStore::SetQueueNext(const std::string& queue, uint64_t next_sequence) {
  pending_queue_next_[queue] = next_sequence;
  ++pending_writes_;
}

void BrokerStore::DeleteQueueItem(const std::string& queue, uint64_t sequence) {
  batch_.Delete(queues_, keys::QueueKey(queue, sequence));
  pending_queue_items_[keys::QueueKey(queue, sequence)] = std::nullopt;
  ++pending_writes_;
}

void BrokerStore::PutDedup(const std::string& principal, const std::string& key,
                           const records::DedupEntry& entry) {
  std::string dedup_key = keys::DedupKey(principal, key);
  batch_.Put(dedup_, dedup_key, entry.SerializeAsString());
  pending_dedup_[dedup_key] = entry;
  ++pending_writes_;
}

void BrokerStore::IndexCaseForContactPoint(const std::string& contact_point,
                                           const std::string& case_id) {
  batch_.Put(by_contact_point_, keys::ByContactPointKey(contact_point, case_id), "");
  ++pending_writes_;
}

uint64_t BrokerStore::AppendAudit(wire::AuditEntry entry) {
  uint64_t sequence = ++audit_counter_;
  counters_dirty_ = true;
  entry.set_sequence(sequence);
  batch_.Put(audit_, keys::AuditKey(entry.case_id(), sequence), entry.SerializeAsString());
  pending_audit_[entry.case_id()].push_back(std::move(entry));
  ++pending_writes_;
  return sequence;
}

void BrokerStore::SetPurgeCompactionOwed(uint64_t generation) {
  purge_compaction_owed_ = generation;
  compaction_owed_dirty_ = true;
  ++pending_writes_;
}

uint64_t BrokerStore::NextCaseNumber() {
  counters_dirty_ = true;
  ++pending_writes_;
  return case_counter_++;
}

Status BrokerStore::Commit() {
  if (pending_writes_ == 0) return Status::Ok();
  if (counters_dirty_) {
    batch_.Put(meta_, std::string(keys::kCaseCounter), BigEndian64(case_counter_));
    batch_.Put(meta_, std::string(keys::kAlertCounter), BigEndian64(alert_counter_));
    batch_.Put(meta_, std::string(keys::kAuditCounter), BigEndian64(audit_counter_));
    for (const auto& [state, count] : state_counts_) {
      batch_.Put(meta_, keys::StateCountKey(wire::CaseState_Name(state)), BigEndian64(count));
    }
  }
  for (const auto& contact_point : open_cases_dirty_) {
    batch_.Put(meta_, std::string(keys::kOpenCasesPrefix) + contact_point,
               BigEndian64(open_cases_[contact_point]));
  }
  open_cases_dirty_.clear();
  for (const auto& [queue, next] : pending_queue_next_) {
    batch_.Put(meta_, std::string(keys::kQueueNextPrefix) + queue, BigEndian64(next));
  }
  if (compaction_owed_dirty_) {
    if (purge_compaction_owed_ == 0) {
      batch_.Delete(meta_, std::string(keys::kPurgeCompactionOwed));
    } else {
      batch_.Put(meta_, std::string(keys::kPurgeCompactionOwed), BigEndian64(purge_compaction_owed_));
    }
  }
  Status status = db_->Write(batch_);
  batch_.Clear();
  pending_writes_ = 0;
  counters_dirty_ = false;
  compaction_owed_dirty_ = false;
  pending_cases_.clear();
  pending_dedup_.clear();
  pending_queue_items_.clear();
  pending_queue_next_.clear();
  pending_events_.clear();
  pending_alerts_.clear();
  pending_alert_sequences_.clear();
  pending_audit_.clear();
  return status;
}

}  // namespace aplus
