// The partner gateway's durable inbox: every escalation delivered to this partner, with the
// gateway's view of its state. One column family ("inbox") of the gateway's database:
//
//   "c" + case id                 -> wire::CaseView (summary, body, citizen name, reply text,
//                                    and a timeline of what happened here: DELIVERED at the
//                                    receive time, then ACKNOWLEDGED / ANSWERED as the broker
//                                    confirmed them; summary.delivery_attempts = the attempt
//                                    number of the delivery that was stored)
//   "a" + arrival (big-endian 64) -> case id, in arrival order (for "newest last" listings)
//
// A case is written once with both keys in one fsynced WriteBatch; later updates rewrite only
// its "c" record.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aplus.pb.h"
#include "store/rocks_db.h"

namespace aplus {

inline constexpr const char* kInboxFamily = "inbox";

// Thread rules: used from the owning gateway's loop thread only.
class PartnerInbox {
 public:
  struct Arrival {
    wire::Escalation escalation;
    uint32_t attempt = 1;
  };

  // `db` must have been opened with kInboxFamily and outlive the inbox.
  explicit PartnerInbox(RocksDb& db);

  // The stored record of `case_id`, nullopt when it is not here, or a storage error.
  Result<std::optional<wire::CaseView>> Find(const std::string& case_id) const;

  // Stores every arrival (case ids must be distinct and not yet stored) in ONE fsynced batch,
  // in state DELIVERED, received at `received_at_ms`. Nothing is stored on error.
  Status StoreNew(const std::vector<Arrival>& arrivals, int64_t received_at_ms);

  // Records what the broker confirmed: the new state, the reply text when `reply_text` is set,
  // and an event by `actor` at `at_ms`. UNKNOWN_CASE when the case is not here.
  Status ApplyUpdate(const std::string& case_id, wire::CaseState state,
                     const std::optional<std::string>& reply_text, const std::string& actor,
                     int64_t at_ms);

  // The last `limit` arrivals, oldest first (newest last).
  Result<std::vector<wire::CaseView>> Newest(size_t limit) const;

  // Conversions between the wire's two views of an escalation.
  static wire::CaseView ViewOf(const wire::Escalation& escalation, uint32_t attempt,
                               int64_t received_at_ms);
  static wire::Escalation EscalationOf(const wire::CaseView& view);

 private:
  static std::string CaseKey(const std::string& case_id);
  static std::string ArrivalKey(uint64_t arrival);

  RocksDb& db_;
  rocksdb::ColumnFamilyHandle* family_;
  uint64_t next_arrival_ = 1;
};

}  // namespace aplus
