#include "store/broker_store.h"

#include <spdlog/spdlog.h>

#include <functional>

#include "common/clock.h"
#include "store/key_layout.h"

namespace aplus {
namespace {

template <typename Message>
bool ParseSlice(Message& message, const rocksdb::Slice& slice) {
  return message.ParseFromArray(slice.data(), static_cast<int>(slice.size()));
}

// A scan ends either at its bound or because the iterator failed (an I/O error, a corrupt
// block): only the iterator's status tells which. Checked after every loop over an iterator.
Status ScanStatus(const rocksdb::Iterator& it, const std::string& what) {
  if (it.status().ok()) return Status::Ok();
  return Status(wire::UNAVAILABLE, "reading " + what + " failed: " + it.status().ToString());
}

// A stored 8-byte counter, or why it cannot be trusted. Absent is 0 (a new database).
Result<uint64_t> ReadCounter(const RocksDb& db, rocksdb::ColumnFamilyHandle* meta,
                             std::string_view name) {
  auto value = db.Get(meta, rocksdb::Slice(name.data(), name.size()));
  if (!value.ok()) {
    return Status(wire::INTERNAL,
                  "counter '" + std::string(name) + "' cannot be read: " + value.status().message());
  }
  if (!value->has_value()) return uint64_t{0};
  if ((*value)->size() != 8) {
    return Status(wire::INTERNAL, "counter '" + std::string(name) + "' is malformed (" +
                                      std::to_string((*value)->size()) + " bytes, not 8)");
  }
  return ReadBigEndian64((*value)->data());
}

// A stored message under `key`: nullopt when absent, INTERNAL (its text from `unreadable()`,
// built only then) when it cannot be parsed, UNAVAILABLE when RocksDB fails. The one read path
// of every single-key getter.
template <typename Message, typename Describe>
Result<std::optional<Message>> ReadStored(const RocksDb& db, rocksdb::ColumnFamilyHandle* family,
                                          const std::string& key, const Describe& unreadable) {
  auto value = db.Get(family, key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<Message>();
  Message message;
  if (!message.ParseFromString(**value)) return Status(wire::INTERNAL, unreadable());
  return std::optional(std::move(message));
}


// Moves keys to a new layout at open, in synced batches of about 8 MB, each holding whole moves
// (the old key's delete and the new key's put): a stop at any point leaves every entry under
// exactly one of its keys, and the next start carries on from what is left.
class KeyMover {
 public:
  // `before_first_write` runs once, on the first batch, before it is written.
  KeyMover(RocksDb& db, std::function<void(rocksdb::WriteBatch&)> before_first_write = {})
      : db_(db), before_first_write_(std::move(before_first_write)) {}

  Status Move(rocksdb::ColumnFamilyHandle* family, const rocksdb::Slice& old_key,
              const std::string& new_key, const rocksdb::Slice& value) {
    batch_.Delete(family, old_key);
    batch_.Put(family, new_key, value);
    ++moved_;
    return batch_.GetDataSize() >= kBatchBytes ? Write() : Status::Ok();
  }
  // Writes what is left.
  Status Finish() { return Write(); }
  size_t moved() const { return moved_; }

 private:
  static constexpr size_t kBatchBytes = 8 << 20;
  Status Write() {
    if (batch_.Count() == 0) return Status::Ok();
    if (before_first_write_) {
      before_first_write_(batch_);
      before_first_write_ = nullptr;
    }
    Status written = db_.Write(batch_);
    batch_.Clear();
    return written;
  }

  RocksDb& db_;
  std::function<void(rocksdb::WriteBatch&)> before_first_write_;
  rocksdb::WriteBatch batch_;
  size_t moved_ = 0;
};

}  // namespace

RocksDbOptions PairedRocksDbOptions(uint64_t log_ttl_seconds) {
  RocksDbOptions options;
  options.archive_log = true;
  options.log_ttl_seconds = std::max<uint64_t>(log_ttl_seconds, 1);
  return options;
}

std::vector<std::string> BrokerStore::FamilyNames() {
  return {keys::kCases, keys::kEvents,   keys::kQueues,    keys::kDedup,
          keys::kByContactPoint, keys::kMeta, keys::kDue, keys::kAlerts,
          keys::kOpenAlerts, keys::kAudit, keys::kAlertsBySequence, keys::kContent};
}

Result<std::unique_ptr<RocksDb>> BrokerStore::OpenDatabase(const std::string& path,
                                                           const RocksDbOptions& options) {
  RocksDbOptions with_counters = options;
  with_counters.counter_families = {keys::kMeta};
  // Keyed at random (client idempotency keys) and at one tail per contact point.
  with_counters.scattered_families = {keys::kDedup, keys::kByContactPoint};
  // What the broker reads back from its table files is mostly one block per Get at random (a
  // record no longer among the recent values, a filter's false positive for a new idempotency
  // key): few hits for a large cache. 16 MB rather than 32 keeps the broker under 200 MB with
  // 10,000,000 cases (201 MB with 32; docs/BENCHMARKS.md); the OS's page cache still holds the
  // files.
  with_counters.block_cache_bytes = 16 << 20;
  // How each family is read (store/KEY_LAYOUT.md): filters only where a Get may miss.
  with_counters.point_reads = {
      {keys::kDedup, PointReads::kMayMiss},          // a new idempotency key is absent
      {keys::kAlerts, PointReads::kHit},             // listed, acknowledged: ids that exist
      {keys::kCases, PointReads::kHit},
      {keys::kContent, PointReads::kHit},
      {keys::kQueues, PointReads::kHit},
      {keys::kMeta, PointReads::kHit},
      {keys::kEvents, PointReads::kNone},            // a timeline is read by prefix
      {keys::kByContactPoint, PointReads::kNone},
      {keys::kDue, PointReads::kNone},
      {keys::kOpenAlerts, PointReads::kNone},
      {keys::kAlertsBySequence, PointReads::kNone},
      {keys::kAudit, PointReads::kNone},
  };
  return RocksDb::Open(path, FamilyNames(), with_counters);
}

Result<std::unique_ptr<BrokerStore>> BrokerStore::Open(const std::string& path,
                                                      const RocksDbOptions& options) {
  auto db = OpenDatabase(path, options);
  if (!db.ok()) return db.status();
  std::unique_ptr<BrokerStore> store(new BrokerStore(std::move(db).value()));
  Status loaded = store->LoadCounters();
  if (!loaded.ok()) {
    return Status(loaded.code(), "the store at " + path + " cannot be served: " +
                                     loaded.message() +
                                     "; restore it from a backup rather than guess (case "
                                     "numbers must never be handed out twice)");
  }
  Status migrated = store->MigrateCaseKeys();
  if (!migrated.ok()) return migrated;
  migrated = store->MigrateContactPointIndex();
  if (!migrated.ok()) return migrated;
  Status counted = store->CountCasesAtRiskOnce();
  if (!counted.ok()) return counted;
  Status indexed = store->BackfillAlertIndex();
  if (!indexed.ok()) return indexed;
  return store;
}

BrokerStore::BrokerStore(std::unique_ptr<RocksDb> db)
    : db_(std::move(db)),
      cases_(db_->Family(keys::kCases)),
      events_(db_->Family(keys::kEvents)),
      content_(db_->Family(keys::kContent)),
      queues_(db_->Family(keys::kQueues)),
      dedup_(db_->Family(keys::kDedup)),
      by_contact_point_(db_->Family(keys::kByContactPoint)),
      meta_(db_->Family(keys::kMeta)),
      due_(db_->Family(keys::kDue)),
      alerts_(db_->Family(keys::kAlerts)),
      open_alerts_(db_->Family(keys::kOpenAlerts)),
      alerts_by_sequence_(db_->Family(keys::kAlertsBySequence)),
      audit_(db_->Family(keys::kAudit)) {}

Status BrokerStore::LoadCounters() {
  struct Counter {
    std::string_view name;
    uint64_t* value;
  };
  for (const Counter& counter : {Counter{keys::kCaseCounter, &case_counter_},
                                 Counter{keys::kAlertCounter, &alert_counter_},
                                 Counter{keys::kAuditCounter, &audit_counter_},
                                 Counter{keys::kPurgeCompactionOwed, &purge_compaction_owed_}}) {
    auto value = ReadCounter(*db_, meta_, counter.name);
    if (!value.ok()) return value.status();
    *counter.value = *value;
  }
  auto it = db_->NewIterator(meta_);
  std::string prefix(keys::kStateCountPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string name = it->key().ToString().substr(prefix.size());
    wire::CaseState state;
    if (!wire::CaseState_Parse(name, &state) || it->value().size() != 8) {
      return Status(wire::INTERNAL, "counter '" + it->key().ToString() + "' is malformed");
    }
    state_counts_[state] = ReadBigEndian64(it->value().data());
  }
  Status scanned = ScanStatus(*it, "the per-state counters");
  if (!scanned.ok()) return scanned;
  std::string open_prefix(keys::kOpenCasesPrefix);
  for (it->Seek(open_prefix); it->Valid() && it->key().starts_with(open_prefix); it->Next()) {
    if (it->value().size() != 8) {
      return Status(wire::INTERNAL, "counter '" + it->key().ToString() + "' is malformed");
    }
    open_cases_[it->key().ToString().substr(open_prefix.size())] =
        ReadBigEndian64(it->value().data());
  }
  Status open_scanned = ScanStatus(*it, "the open-case counters");
  if (!open_scanned.ok()) return open_scanned;
  std::string at_risk_prefix(keys::kAtRiskPrefix);
  for (it->Seek(at_risk_prefix); it->Valid() && it->key().starts_with(at_risk_prefix);
       it->Next()) {
    if (it->value().size() != 8) {
      return Status(wire::INTERNAL, "counter '" + it->key().ToString() + "' is malformed");
    }
    at_risk_[it->key().ToString().substr(at_risk_prefix.size())] =
        ReadBigEndian64(it->value().data());
  }
  return ScanStatus(*it, "the counters of cases at risk");
}

Status BrokerStore::MigrateCaseKeys() {
  const int64_t started_ms = SteadyNowMs();
  const bool compaction_owed_before = purge_compaction_owed_ != 0;
  // The moved values stay in the table files under their old keys, personal data included,
  // until a compaction drops them: the first batch owes it (the purge's mark, which the
  // retention runs at start-up), so a stop before the compaction below still gets it done.
  KeyMover mover(*db_, [this](rocksdb::WriteBatch& batch) {
    if (purge_compaction_owed_ != 0) return;
    batch.Put(meta_, std::string(keys::kPurgeCompactionOwed), BigEndian64(1));
    purge_compaction_owed_ = 1;
  });
  const rocksdb::Slice first_unnumbered(keys::kFirstUnnumberedCaseKey.data(),
                                        keys::kFirstUnnumberedCaseKey.size());
  const std::initializer_list<rocksdb::ColumnFamilyHandle*> families = {cases_, content_,
                                                                        events_, audit_};
  for (rocksdb::ColumnFamilyHandle* family : families) {
    auto it = db_->NewIterator(family);
    for (it->Seek(first_unnumbered); it->Valid(); it->Next()) {
      Status moved = mover.Move(family, it->key(),
                                keys::NumberedCaseKey(it->key().ToStringView()), it->value());
      if (!moved.ok()) return moved;
    }
    Status scanned = ScanStatus(*it, "the case records to renumber (" + family->GetName() + ")");
    if (!scanned.ok()) return scanned;
  }
  Status written = mover.Finish();
  if (!written.ok()) return written;
  if (mover.moved() == 0) return Status::Ok();
  const int64_t moved_ms = SteadyNowMs();
  // Drop the old copies and their tombstones now rather than leave every start to seek through
  // them (audit is not among the families a purge compacts).
  Status compacted = db_->FlushAll();
  for (rocksdb::ColumnFamilyHandle* family : families) {
    if (!compacted.ok()) break;
    compacted = db_->CompactRangeForced(
        KeyRange{family, std::string(keys::kFirstUnnumberedCaseKey), std::nullopt});
  }
  if (!compacted.ok()) {
    spdlog::warn("store: the renumbered keys' old copies are not compacted yet ({}); the "
                 "retention's compaction runs at start-up",
                 compacted.ToString());
  } else if (!compaction_owed_before) {
    rocksdb::WriteBatch done;
    done.Delete(meta_, std::string(keys::kPurgeCompactionOwed));
    Status cleared = db_->Write(done);
    if (!cleared.ok()) return cleared;
    purge_compaction_owed_ = 0;
  }
  spdlog::info("store: {} keys of cases, contents, timelines and audit logs renumbered by case "
               "number (a store written before that layout) in {} ms, old copies compacted in "
               "{} ms",
               mover.moved(), moved_ms - started_ms, SteadyNowMs() - moved_ms);
  return Status::Ok();
}

Status BrokerStore::MigrateContactPointIndex() {
  // Ids and contact point names only, no personal data: the old keys' values need no forced
  // compaction.
  const int64_t started_ms = SteadyNowMs();
  KeyMover mover(*db_);
  auto it = db_->NewIterator(by_contact_point_);
  it->SeekToFirst();
  while (it->Valid()) {
    std::string_view key = it->key().ToStringView();
    size_t end = key.find('\0');
    if (end == std::string_view::npos) {  // not an index key: left as it is
      it->Next();
      continue;
    }
    std::string_view contact_point = key.substr(0, end);
    if (key.size() > end + 1 && key[end + 1] != '\0') {
      Status moved = mover.Move(by_contact_point_, it->key(),
                                keys::ByContactPointKey(contact_point, key.substr(end + 1)), "");
      if (!moved.ok()) return moved;
      it->Next();
      continue;
    }
    // Numbered keys (a zero byte after the separator) sort before this contact point's old
    // ones: skip them all.
    std::string past_numbered = keys::ByContactPointPrefix(contact_point);
    past_numbered.push_back('\x01');
    it->Seek(past_numbered);
  }
  Status scanned = ScanStatus(*it, "the contact points' case index to renumber");
  if (!scanned.ok()) return scanned;
  Status written = mover.Finish();
  if (!written.ok()) return written;
  if (mover.moved() > 0) {
    // The old keys' tombstones would be walked by every listing that runs to the end of a
    // contact point's entries, and by the next start's check: compacted away now.
    Status compacted = db_->FlushAll();
    if (compacted.ok()) compacted = db_->CompactRangeForced(KeyRange{by_contact_point_, {}, {}});
    if (!compacted.ok()) {
      spdlog::warn("store: the contact points' case index is not compacted after its renumbering "
                   "({}); RocksDB's own compactions will drop the old keys",
                   compacted.ToString());
    }
    spdlog::info("store: {} entries of the contact points' case index renumbered by case number "
                 "(a store written before that layout) in {} ms",
                 mover.moved(), SteadyNowMs() - started_ms);
  }
  return Status::Ok();
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
  if (const auto* recent = recent_cases_.Find(case_id)) return std::optional(*recent);
  return ReadStored<records::CaseRecord>(*db_, cases_, keys::CaseKey(case_id), [&] {
    return "stored record of case " + case_id + " is unreadable";
  });
}

Result<std::optional<records::CaseContent>> BrokerStore::GetContent(const std::string& case_id) {
  auto pending = pending_content_.find(case_id);
  if (pending != pending_content_.end()) return pending->second;
  if (const auto* recent = recent_content_.Find(case_id)) return std::optional(*recent);
  return ReadStored<records::CaseContent>(*db_, content_, keys::CaseKey(case_id), [&] {
    return "stored content of case " + case_id + " is unreadable";
  });
}

Result<std::vector<wire::Event>> BrokerStore::GetEvents(const std::string& case_id) {
  std::vector<wire::Event> events;
  std::string prefix = keys::CaseEntryPrefix(case_id);
  auto it = db_->NewIterator(events_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    wire::Event event;
    if (!ParseSlice(event, it->value())) {
      return Status(wire::INTERNAL, "stored event of case " + case_id + " is unreadable");
    }
    events.push_back(std::move(event));
  }
  Status scanned = ScanStatus(*it, "the timeline of case " + case_id);
  if (!scanned.ok()) return scanned;
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
  return ReadStored<records::DedupEntry>(*db_, dedup_, dedup_key, [] {
    return std::string("stored idempotency entry is unreadable");
  });
}

Result<std::vector<std::string>> BrokerStore::ListCaseIds(const std::string& contact_point,
                                                          const std::string& after,
                                                          size_t limit) {
  std::vector<std::string> ids;
  std::string prefix = keys::ByContactPointPrefix(contact_point);
  auto it = db_->NewIterator(by_contact_point_);
  if (after.empty()) {
    it->Seek(prefix);
  } else {
    std::string start = keys::ByContactPointKey(contact_point, after);
    it->Seek(start);
    if (it->Valid() && it->key() == start) it->Next();
  }
  // After the prefix: be64(case number) + case id (store/KEY_LAYOUT.md).
  const size_t id_at = prefix.size() + 8;
  for (; it->Valid() && it->key().starts_with(prefix) && ids.size() < limit; it->Next()) {
    const rocksdb::Slice key = it->key();
    if (key.size() <= id_at) continue;
    ids.emplace_back(key.data() + id_at, key.size() - id_at);
  }
  Status scanned = ScanStatus(*it, "the case index of " + contact_point);
  if (!scanned.ok()) return scanned;
  return ids;
}

Result<std::vector<BrokerStore::QueueEntry>> BrokerStore::ReadQueue(const std::string& queue,
                                                                    uint64_t from,
                                                                    size_t limit) {
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
    if (!ParseSlice(entry.item, it->value())) {
      spdlog::error("queue {} item {} is unreadable: skipped, left stored for an operator", queue,
                    entry.sequence);
      continue;
    }
    entries.push_back(std::move(entry));
  }
  Status scanned = ScanStatus(*it, "queue " + queue);
  if (!scanned.ok()) return scanned;
  return entries;
}

Result<std::optional<records::QueueItem>> BrokerStore::GetQueueItem(const std::string& queue,
                                                                    uint64_t sequence) {
  std::string key = keys::QueueKey(queue, sequence);
  if (!pending_queue_items_.empty()) {
    auto pending = pending_queue_items_.find(key);
    if (pending != pending_queue_items_.end()) return pending->second;
  }
  if (const auto* recent = recent_queue_items_.Find(key)) return std::optional(*recent);
  return ReadStored<records::QueueItem>(*db_, queues_, key, [&] {
    return "queue " + queue + " item " + std::to_string(sequence) + " is unreadable";
  });
}

const records::QueueItem* BrokerStore::RecentQueueItem(const std::string& queue,
                                                       uint64_t sequence) const {
  std::string key = keys::QueueKey(queue, sequence);
  if (pending_queue_items_.count(key)) return nullptr;
  return recent_queue_items_.Find(key);
}

Result<std::map<std::string, BrokerStore::QueueInfo>> BrokerStore::ScanQueues() {
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
  Status scanned = ScanStatus(*it, "the queues");
  if (!scanned.ok()) return scanned;
  auto marks = db_->NewIterator(meta_);
  std::string prefix(keys::kQueueNextPrefix);
  for (marks->Seek(prefix); marks->Valid() && marks->key().starts_with(prefix); marks->Next()) {
    // A mark read wrong would hand out delivery ids again: refuse rather than guess.
    if (marks->value().size() != 8) {
      return Status(wire::INTERNAL, "queue mark '" + marks->key().ToString() + "' is malformed");
    }
    auto& info = queues[marks->key().ToString().substr(prefix.size())];
    info.next_sequence = std::max(info.next_sequence, ReadBigEndian64(marks->value().data()));
  }
  scanned = ScanStatus(*marks, "the queue marks");
  if (!scanned.ok()) return scanned;
  return queues;
}

Result<std::optional<int64_t>> BrokerStore::EarliestTimerMs() {
  auto it = db_->NewIterator(due_);
  it->SeekToFirst();
  Status scanned = ScanStatus(*it, "the timers");
  if (!scanned.ok()) return scanned;
  if (!it->Valid() || it->key().size() < 8) return std::optional<int64_t>();
  return std::optional<int64_t>(static_cast<int64_t>(ReadBigEndian64(it->key().data())));
}

Result<BrokerStore::DueTimersFound> BrokerStore::DueTimers(int64_t from_ms, int64_t now_ms,
                                                           size_t limit) {
  DueTimersFound found;
  auto it = db_->NewIterator(due_);
  std::string start;
  AppendBigEndian64(start, static_cast<uint64_t>(std::max<int64_t>(from_ms, 0)));
  for (it->Seek(start); it->Valid(); it->Next()) {
    auto key = it->key();
    if (key.size() < 10) continue;
    Timer timer;
    timer.due_ms = static_cast<int64_t>(ReadBigEndian64(key.data()));
    if (timer.due_ms > now_ms || found.timers.size() >= limit) {
      found.next_due_ms = timer.due_ms;
      break;
    }
    timer.case_id = keys::DueKeyCaseId(std::string_view(key.data(), key.size()));
    timer.kind = key[key.size() - 1];
    timer.key = key.ToString();
    timer.generation = it->value().size() == 4 ? ReadBigEndian32(it->value().data()) : 0;
    found.timers.push_back(std::move(timer));
  }
  Status scanned = ScanStatus(*it, "the timers");
  if (!scanned.ok()) return scanned;
  return found;
}

Result<std::optional<wire::Alert>> BrokerStore::GetAlert(const std::string& alert_id) {
  auto pending = pending_alerts_.find(alert_id);
  if (pending != pending_alerts_.end()) return std::optional(pending->second);
  return ReadStored<wire::Alert>(*db_, alerts_, alert_id,
                                 [] { return std::string("stored alert is unreadable"); });
}

Result<std::vector<wire::Alert>> BrokerStore::ListAlerts(bool include_acked,
                                                         size_t scan_limit) {
  std::vector<wire::Alert> alerts;
  auto it = db_->NewIterator(include_acked ? alerts_ : open_alerts_);
  for (it->SeekToFirst(); it->Valid() && alerts.size() < scan_limit; it->Next()) {
    if (include_acked) {
      wire::Alert alert;
      if (!ParseSlice(alert, it->value())) {
        return Status(wire::INTERNAL, "stored alert " + it->key().ToString() + " is unreadable");
      }
      alerts.push_back(std::move(alert));
    } else {
      auto alert = GetAlert(it->key().ToString());
      if (!alert.ok()) return alert.status();
      if (alert->has_value()) alerts.push_back(std::move(**alert));
    }
  }
  Status scanned = ScanStatus(*it, "the alerts");
  if (!scanned.ok()) return scanned;
  return alerts;
}

Result<std::vector<BrokerStore::QueueEntry>> BrokerStore::MailItemsWithText(
    const std::string& queue) {
  auto wanted = [](const records::QueueItem& item) {
    return item.has_mail() && !item.mail().text().empty();
  };
  std::map<uint64_t, records::QueueItem> found;
  std::string prefix = keys::QueuePrefix(queue);
  auto it = db_->NewIterator(queues_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) continue;
    records::QueueItem item;
    // Unparsable: not provably a mail item with a text; ReadQueue logs it for an operator.
    if (!ParseSlice(item, it->value()) || !wanted(item)) continue;
    found[ReadBigEndian64(it->key().data() + prefix.size())] = std::move(item);
  }
  Status scanned = ScanStatus(*it, "queue " + queue);
  if (!scanned.ok()) return scanned;
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
  std::string key = keys::CaseKey(case_id);
  return {KeyRange{cases_, key, key}, KeyRange{content_, key, key},
          KeyRange{events_, keys::CaseEntryPrefix(case_id), last_event}};
}

KeyRange BrokerStore::QueueItemRange(const std::string& queue, uint64_t sequence) const {
  std::string key = keys::QueueKey(queue, sequence);
  return KeyRange{queues_, key, key};
}

std::vector<KeyRange> BrokerStore::CaseDataFamilies() const {
  return {KeyRange{cases_, {}, {}}, KeyRange{content_, {}, {}}, KeyRange{events_, {}, {}},
          KeyRange{queues_, {}, {}}};
}

Result<std::vector<wire::AuditEntry>> BrokerStore::GetAudit(const std::string& case_id) {
  std::vector<wire::AuditEntry> entries;
  std::string prefix = keys::CaseEntryPrefix(case_id);
  auto it = db_->NewIterator(audit_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    wire::AuditEntry entry;
    if (!ParseSlice(entry, it->value())) {
      return Status(wire::INTERNAL, "stored audit entry of case " + case_id + " is unreadable");
    }
    entries.push_back(std::move(entry));
  }
  Status scanned = ScanStatus(*it, "the audit log of case " + case_id);
  if (!scanned.ok()) return scanned;
  auto pending = pending_audit_.find(case_id);
  if (pending != pending_audit_.end()) {
    entries.insert(entries.end(), pending->second.begin(), pending->second.end());
  }
  return entries;
}

void BrokerStore::PutTimer(const Timer& timer) {
  std::string value;
  AppendBigEndian32(value, timer.generation);
  staged_.Put(due_, keys::DueKey(timer.due_ms, timer.case_id, timer.kind), value);
  ++pending_writes_;
}

void BrokerStore::DeleteTimer(int64_t due_ms, const std::string& case_id, char kind) {
  staged_.Delete(due_, keys::DueKey(due_ms, case_id, kind));
  ++pending_writes_;
}

void BrokerStore::DeleteFoundTimer(const Timer& timer) {
  staged_.Delete(due_, timer.key);
  ++pending_writes_;
}

void BrokerStore::PutAlert(const wire::Alert& alert, bool open) {
  staged_.Put(alerts_, alert.alert_id(), alert.SerializeAsString());
  if (open) {
    staged_.Put(open_alerts_, alert.alert_id(), "");
  } else {
    staged_.Delete(open_alerts_, alert.alert_id());
  }
  // Rewritten on an acknowledgement too: same key, same value.
  staged_.Put(alerts_by_sequence_, keys::AlertSequenceKey(alert.sequence()), alert.alert_id());
  pending_alert_sequences_[alert.sequence()] = alert.alert_id();
  pending_alerts_[alert.alert_id()] = alert;
  pending_writes_ += 3;
}

uint64_t BrokerStore::NextAlertSequence() {
  alert_counter_dirty_ = true;
  return ++alert_counter_;
}

void BrokerStore::PutCase(const records::CaseRecord& record, wire::CaseState previous_state) {
  const std::string& id = record.summary().case_id();
  records::CaseRecord& stored = pending_cases_[id];
  // Where the case is counted now: as this batch last wrote it, else as the caller read it.
  std::string counted_before =
      stored.has_summary() ? stored.at_risk_partner() : record.at_risk_partner();
  stored = record;
  CountAtRisk(stored, counted_before);
  staged_.Put(cases_, keys::CaseKey(id), stored.SerializeAsString());
  ++pending_writes_;
  wire::CaseState state = record.summary().state();
  if (state != previous_state) {
    if (previous_state != wire::STATE_UNSPECIFIED && state_counts_[previous_state] > 0) {
      --state_counts_[previous_state];
      state_counts_dirty_.insert(previous_state);
    }
    ++state_counts_[state];
    state_counts_dirty_.insert(state);
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
  staged_.Put(events_, keys::EventKey(case_id, event.sequence()), event.SerializeAsString());
  pending_events_[case_id].push_back(event);
  ++pending_writes_;
}

void BrokerStore::PutContent(const std::string& case_id, const records::CaseContent& content) {
  staged_.Put(content_, keys::CaseKey(case_id), content.SerializeAsString());
  pending_content_[case_id] = content;
  ++pending_writes_;
}

void BrokerStore::DeleteContent(const std::string& case_id) {
  staged_.Delete(content_, keys::CaseKey(case_id));
  pending_content_[case_id] = std::nullopt;
  ++pending_writes_;
}

void BrokerStore::PutQueueItem(const std::string& queue, uint64_t sequence,
                               const records::QueueItem& item) {
  staged_.Put(queues_, keys::QueueKey(queue, sequence), item.SerializeAsString());
  pending_queue_items_[keys::QueueKey(queue, sequence)] = item;
  ++pending_writes_;
}

void BrokerStore::SetQueueNext(const std::string& queue, uint64_t next_sequence) {
  pending_queue_next_[queue] = next_sequence;
  ++pending_writes_;
}

void BrokerStore::DeleteQueueItem(const std::string& queue, uint64_t sequence) {
  staged_.Delete(queues_, keys::QueueKey(queue, sequence));
  pending_queue_items_[keys::QueueKey(queue, sequence)] = std::nullopt;
  ++pending_writes_;
}

void BrokerStore::PutDedup(const std::string& principal, const std::string& key,
                           const records::DedupEntry& entry) {
  std::string dedup_key = keys::DedupKey(principal, key);
  staged_.Put(dedup_, dedup_key, entry.SerializeAsString());
  pending_dedup_[dedup_key] = entry;
  ++pending_writes_;
}

void BrokerStore::IndexCaseForContactPoint(const std::string& contact_point,
                                           const std::string& case_id) {
  staged_.Put(by_contact_point_, keys::ByContactPointKey(contact_point, case_id), "");
  ++pending_writes_;
}

uint64_t BrokerStore::AppendAudit(wire::AuditEntry entry) {
  uint64_t sequence = ++audit_counter_;
  audit_counter_dirty_ = true;
  entry.set_sequence(sequence);
  staged_.Put(audit_, keys::AuditKey(entry.case_id(), sequence), entry.SerializeAsString());
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
  case_counter_dirty_ = true;
  ++pending_writes_;
  return case_counter_++;
}

Status BrokerStore::Commit() {
  if (pending_writes_ == 0) return Status::Ok();
  if (case_counter_dirty_) {
    staged_.Put(meta_, std::string(keys::kCaseCounter), BigEndian64(case_counter_));
  }
  if (alert_counter_dirty_) {
    staged_.Put(meta_, std::string(keys::kAlertCounter), BigEndian64(alert_counter_));
  }
  if (audit_counter_dirty_) {
    staged_.Put(meta_, std::string(keys::kAuditCounter), BigEndian64(audit_counter_));
  }
  for (wire::CaseState state : state_counts_dirty_) {
    staged_.Put(meta_, keys::StateCountKey(wire::CaseState_Name(state)),
                BigEndian64(state_counts_[state]));
  }
  for (const auto& contact_point : open_cases_dirty_) {
    staged_.Put(meta_, std::string(keys::kOpenCasesPrefix) + contact_point,
               BigEndian64(open_cases_[contact_point]));
  }
  open_cases_dirty_.clear();
  for (const auto& partner : at_risk_dirty_) {
    staged_.Put(meta_, keys::AtRiskKey(partner), BigEndian64(at_risk_[partner]));
  }
  if (at_risk_mark_owed_) staged_.Put(meta_, std::string(keys::kAtRiskCounted), BigEndian64(1));
  for (const auto& [queue, next] : pending_queue_next_) {
    staged_.Put(meta_, std::string(keys::kQueueNextPrefix) + queue, BigEndian64(next));
  }
  if (compaction_owed_dirty_) {
    if (purge_compaction_owed_ == 0) {
      staged_.Delete(meta_, std::string(keys::kPurgeCompactionOwed));
    } else {
      staged_.Put(meta_, std::string(keys::kPurgeCompactionOwed), BigEndian64(purge_compaction_owed_));
    }
  }
  staged_.BuildInto(batch_);
  Status status = db_->Write(batch_);
  if (status.ok()) {
    KeepRecent();
    at_risk_mark_owed_ = false;
  }
  ClearPending();
  return status;
}

void BrokerStore::KeepRecent() {
  for (auto& [id, record] : pending_cases_) {
    size_t bytes = record.ByteSizeLong();
    recent_cases_.Put(id, std::move(record), bytes);
  }
  for (auto& [id, content] : pending_content_) {
    if (content) {
      size_t bytes = content->ByteSizeLong();
      recent_content_.Put(id, std::move(*content), bytes);
    } else {
      recent_content_.Erase(id);
    }
  }
  for (auto& [key, item] : pending_queue_items_) {
    if (item) {
      size_t bytes = item->ByteSizeLong();
      recent_queue_items_.Put(key, std::move(*item), bytes);
    } else {
      recent_queue_items_.Erase(key);
    }
  }
}

void BrokerStore::ClearPending() {
  staged_.Clear();
  batch_.Clear();
  pending_writes_ = 0;
  case_counter_dirty_ = false;
  alert_counter_dirty_ = false;
  audit_counter_dirty_ = false;
  state_counts_dirty_.clear();
  compaction_owed_dirty_ = false;
  pending_cases_.clear();
  pending_dedup_.clear();
  pending_content_.clear();
  pending_queue_items_.clear();
  pending_queue_next_.clear();
  pending_events_.clear();
  pending_alerts_.clear();
  pending_alert_sequences_.clear();
  pending_audit_.clear();
  open_cases_dirty_.clear();
  at_risk_dirty_.clear();
}

}  // namespace aplus
