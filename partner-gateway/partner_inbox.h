// The partner gateway's durable inbox: every escalation delivered to this partner, with the
// gateway's view of its state, and the notices and SLA alerts the broker delivered about them.
// One column family ("inbox") of the gateway's database:
//
//   "c" + case id                 -> wire::CaseView (summary, body, citizen name, reply text,
//                                    open question, and a timeline of what happened here:
//                                    DELIVERED at the receive time, then ACKNOWLEDGED /
//                                    INFO_REQUESTED / ANSWERED / TRANSFERRED as the broker
//                                    confirmed them, SLA_WARNING / SLA_BREACH reminders and
//                                    INFO_ANSWERED notices as they were delivered;
//                                    summary.delivery_attempts = the attempt number of the
//                                    delivery that was stored)
//   "a" + arrival (big-endian 64) -> case id, in arrival order (for "newest last" listings); a
//                                    case transferred back to this partner arrives again and
//                                    gets a second arrival key (listings show it once, newest)
//   "d" + queue + 0x00 + delivery id (big-endian 64)
//                                 -> wire::Delivery: a stored notice or alert, so that a
//                                    redelivery is recognised and not applied twice
//
// Every change is one fsynced WriteBatch: a case record and its arrival key, or a stored
// notice / alert and the case record it changed.
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
    // The record of a case this partner had transferred away and now receives again: its
    // timeline is kept in front of the new DELIVERED event.
    std::optional<wire::CaseView> previous;
  };

  // `db` must have been opened with kInboxFamily and outlive the inbox.
  explicit PartnerInbox(RocksDb& db);

  // The stored record of `case_id`, nullopt when it is not here, or a storage error.
  Result<std::optional<wire::CaseView>> Find(const std::string& case_id) const;

  // Stores every arrival (case ids must be distinct and either not yet stored or stored as
  // TRANSFERRED away) in ONE fsynced batch, in state DELIVERED, received at `received_at_ms`.
  // Nothing is stored on error.
  Status StoreNew(const std::vector<Arrival>& arrivals, int64_t received_at_ms);

  // Records what the broker confirmed: the new state, the reply text when `reply_text` is set,
  // and an event by `actor` at `at_ms`. UNKNOWN_CASE when the case is not here.
  Status ApplyUpdate(const std::string& case_id, wire::CaseState state,
                     const std::optional<std::string>& reply_text, const std::string& actor,
                     int64_t at_ms);

  // The broker confirmed this partner's question: the new state, the open question and an
  // event carrying it.
  Status RecordQuestion(const std::string& case_id, wire::CaseState state,
                        const std::string& question, const std::string& actor, int64_t at_ms);

  // The broker confirmed the transfer of `case_id` to `to_partner`: the case is no longer this
  // partner's. Its personal content (subject, body, citizen name, reply, question and the free
  // text of every event) is erased; ids, dates and the kinds of events stay.
  Status RecordTransfer(const std::string& case_id, wire::CaseState state,
                        const std::string& to_partner, const std::string& actor, int64_t at_ms);

  // Stores a delivered notice (mail item, e.g. the contact point's answer to a question) or
  // SLA alert and applies it to its case record, if the case is here, in one batch. Returns
  // false (and stores nothing) when this delivery (same queue and id) was stored before.
  // INVALID_ARGUMENT when it carries neither a mail item nor an alert with a case id.
  Result<bool> StoreNotice(const wire::Delivery& delivery, int64_t received_at_ms);

  // The last `limit` arrivals, oldest first (newest last), each case once.
  Result<std::vector<wire::CaseView>> Newest(size_t limit) const;

  // Conversions between the wire's two views of an escalation.
  static wire::CaseView ViewOf(const wire::Escalation& escalation, uint32_t attempt,
                               int64_t received_at_ms);
  static wire::Escalation EscalationOf(const wire::CaseView& view);

 private:
  static std::string CaseKey(const std::string& case_id);
  static std::string ArrivalKey(uint64_t arrival);
  static std::string NoticeKey(const std::string& queue, uint64_t delivery_id);
  Status Rewrite(const wire::CaseView& view);

  RocksDb& db_;
  rocksdb::ColumnFamilyHandle* family_;
  uint64_t next_arrival_ = 1;
};

}  // namespace aplus
