#include "store/outbox.h"

namespace aplus {

Outbox::Outbox(RocksDb& db) : db_(db), family_(db.Family(kOutboxFamily)) {
  auto it = db_.NewIterator(family_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++size_;
  it->SeekToLast();
  if (it->Valid() && it->key().size() == 8) next_sequence_ = ReadBigEndian64(it->key().data()) + 1;
}

Result<uint64_t> Outbox::Append(const records::OutboxEntry& entry) {
  uint64_t sequence = next_sequence_;
  std::string key;
  AppendBigEndian64(key, sequence);
  rocksdb::WriteBatch batch;
  batch.Put(family_, key, entry.SerializeAsString());
  Status status = db_.Write(batch);
  if (!status.ok()) return status;
  ++next_sequence_;
  ++size_;
  return sequence;
}

std::optional<std::pair<uint64_t, records::OutboxEntry>> Outbox::Front() const {
  auto it = db_.NewIterator(family_);
  it->SeekToFirst();
  if (!it->Valid()) return std::nullopt;
  records::OutboxEntry entry;
  entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
  return std::make_pair(ReadBigEndian64(it->key().data()), std::move(entry));
}

std::vector<std::pair<uint64_t, records::OutboxEntry>> Outbox::All() const {
  std::vector<std::pair<uint64_t, records::OutboxEntry>> entries;
  auto it = db_.NewIterator(family_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    records::OutboxEntry entry;
    entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
    entries.emplace_back(ReadBigEndian64(it->key().data()), std::move(entry));
  }
  return entries;
}

Status Outbox::Put(uint64_t sequence, const records::OutboxEntry& entry) {
  std::string key;
  AppendBigEndian64(key, sequence);
  rocksdb::WriteBatch batch;
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
