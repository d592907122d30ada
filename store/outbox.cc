#include "store/outbox.h"

namespace aplus {

Outbox::Outbox(RocksDb& db) : db_(db), family_(db.Family(kOutboxFamily)) {
  auto it = db_.NewIterator(family_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 8) {
      load_status_ = Status(wire::INTERNAL, "the outbox holds a malformed key");
      return;
    }
    ++size_;
  }
  if (!it->status().ok()) {
    load_status_ = Status(wire::UNAVAILABLE, "cannot read the outbox: " + it->status().ToString());
    return;
  }
  it->SeekToLast();
  if (it->Valid()) next_sequence_ = ReadBigEndian64(it->key().data()) + 1;
  if (!it->status().ok()) {
    load_status_ = Status(wire::UNAVAILABLE, "cannot read the outbox: " + it->status().ToString());
  }
}

Result<uint64_t> Outbox::Append(const records::OutboxEntry& entry, rocksdb::WriteBatch* also) {
  // Not knowing the last sequence, an append could overwrite an accepted entry.
  if (!load_status_.ok()) return load_status_;
  uint64_t sequence = next_sequence_;
  std::string key;
  AppendBigEndian64(key, sequence);
  rocksdb::WriteBatch own;
  rocksdb::WriteBatch& batch = also != nullptr ? *also : own;
  batch.Put(family_, key, entry.SerializeAsString());
  Status status = db_.Write(batch);
  if (!status.ok()) return status;
  ++next_sequence_;
  ++size_;
  return sequence;
}

Result<std::vector<std::pair<uint64_t, records::OutboxEntry>>> Outbox::All() const {
  if (!load_status_.ok()) return load_status_;
  std::vector<std::pair<uint64_t, records::OutboxEntry>> entries;
  auto it = db_.NewIterator(family_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    records::OutboxEntry entry;
    uint64_t sequence = ReadBigEndian64(it->key().data());
    if (!entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return Status(wire::INTERNAL, "outbox entry " + std::to_string(sequence) + " is unreadable");
    }
    entries.emplace_back(sequence, std::move(entry));
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the outbox: " + it->status().ToString());
  }
  return entries;
}

Status Outbox::Put(uint64_t sequence, const records::OutboxEntry& entry,
                   rocksdb::WriteBatch* also) {
  std::string key;
  AppendBigEndian64(key, sequence);
  rocksdb::WriteBatch own;
  rocksdb::WriteBatch& batch = also != nullptr ? *also : own;
  batch.Put(family_, key, entry.SerializeAsString());
  return db_.Write(batch);
}

Status Outbox::Remove(uint64_t sequence) {
  std::string key;
  AppendBigEndian64(key, sequence);
  rocksdb::WriteBatch batch;
  batch.Delete(family_, key);
  Status status = db_.Write(batch);
  if (status.ok() && size_ > 0) --size_;
  return status;
}

}  // namespace aplus
