// A gateway's durable outbox: requests accepted locally and not yet answered by the broker,
// kept in arrival order in one column family ("outbox") of the gateway's database, so they
// are forwarded in order when the link returns, also after a restart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "records.pb.h"
#include "store/rocks_db.h"

namespace aplus {

inline constexpr const char* kOutboxFamily = "outbox";

// Thread rules: used from the owning gateway's loop thread only.
class Outbox {
 public:
  // `db` must have been opened with kOutboxFamily and outlive the outbox. Reads where the
  // sequence stands; load_status() says whether it could (see Append).
  explicit Outbox(RocksDb& db);

  // Not OK when the outbox could not be read at start-up: every Append and All then returns
  // this error (an append that does not know the last sequence could overwrite accepted work).
  const Status& load_status() const { return load_status_; }
  // Appends `entry` durably (fsynced). Returns its sequence number. `also` (may be null) holds
  // writes that must become durable with the entry or not at all (e.g. the agent gateway's
  // Idempotency-Key index): they go in the same WriteBatch, one fsync.
  Result<uint64_t> Append(const records::OutboxEntry& entry, rocksdb::WriteBatch* also = nullptr);
  // Every entry, oldest first, with its sequence number. INTERNAL for an unreadable entry,
  // UNAVAILABLE on a read error: never a silently shorter or emptier list.
  Result<std::vector<std::pair<uint64_t, records::OutboxEntry>>> All() const;
  // Rewrites the entry stored under `sequence` in place (fsynced): an entry set aside as
  // FAILED_LOCALLY, or put back in line, keeps its place. `also`: as for Append.
  Status Put(uint64_t sequence, const records::OutboxEntry& entry,
             rocksdb::WriteBatch* also = nullptr);
  // Removes the entry once the broker answered it (fsynced).
  Status Remove(uint64_t sequence);
  size_t size() const { return size_; }

 private:
  RocksDb& db_;
  rocksdb::ColumnFamilyHandle* family_;
  uint64_t next_sequence_ = 1;
  size_t size_ = 0;
  Status load_status_;
};

}  // namespace aplus
