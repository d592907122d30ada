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
//   "e" + erase-at ms (big-endian 64) + case id
//                                 -> "": the case's personal data falls due for erasure then
//                                    (its summary.personal_data_erase_at_ms); removed when
//                                    erased
//   "p"                           -> "1" from the batch of an erasure until the files have
//                                    been compacted
//   "r"                           -> "1" once the cases answered before the retention index
//                                    existed are in it
//
// Every change is one fsynced WriteBatch: a case record and its arrival key, or a stored
// notice / alert and the case record it changed.
//
// Retention. The partner gateway is not told when the contact point closes a case, so its
// copy is not kept until then: the inbox erases a case's personal data the network's
// `[retention] personal_data_after` after the case left the partner's hands, that is when the
// broker accepted its reply (ANSWERED; also CLOSED or CANCELLED if the broker ever answers
// so). It records summary.answered_at_ms and summary.personal_data_erase_at_ms then. The
// erasure clears the subject, body, citizen name, reply, open question, the free text of the
// timeline (common/personal_data.h) and of the stored notices (the contact point's answers);
// the case's ids, parties, dates and state stay, with summary.personal_data_erased. A case
// transferred away loses the same content at once (RecordTransfer). The broker's
// ERASE_PERSONAL_DATA notice, sent when the broker itself purges the case, erases it at once
// too (PartnerGateway::EraseOnNotice): the end of a case the partner never replied to.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "aplus.pb.h"
#include "common/retention_period.h"
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

  // One page of the inbox in arrival order (GET /v1/inbox).
  struct Page {
    std::vector<wire::CaseView> views;
    uint64_t next_after = 0;  // the last arrival scanned: pass back as `after`
    bool more = false;        // arrivals remain after next_after
  };
  // Adds the caller's own writes (a feed event, a webhook) to an inbox batch, so that they are
  // durable together or not at all.
  using BatchExtra = std::function<void(rocksdb::WriteBatch& batch)>;

  // A case whose personal data is due for erasure.
  struct Due {
    std::string case_id;
    int64_t erase_at_ms = 0;
  };
  // What one erasure did.
  struct Erasure {
    size_t cases = 0;             // cases whose personal data was erased
    std::vector<KeyRange> ranges;  // key ranges rewritten, to compact (empty when cases == 0)
  };
  // At most this many cases are erased per sweep, so that one batch stays small.
  static constexpr size_t kMaxErasuresPerSweep = 1000;

  // `db` must have been opened with kInboxFamily and outlive the inbox. `personal_data_after`
  // is the network's retention period.
  explicit PartnerInbox(RocksDb& db, RetentionPeriod personal_data_after = RetentionPeriod{});

  // Once per database: dates and indexes the cases answered before the retention index
  // existed, so that they are erased too. Returns at once when that was done before.
  Status IndexAnsweredCases(int64_t now_ms);

  // The stored record of `case_id`, nullopt when it is not here, or a storage error.
  Result<std::optional<wire::CaseView>> Find(const std::string& case_id) const;

  // Stores every arrival (case ids must be distinct and either not yet stored or stored as
  // TRANSFERRED away) in ONE fsynced batch, in state DELIVERED, received at `received_at_ms`.
  // Nothing is stored on error.
  // `extra` adds the caller's writes to the same batch.
  Status StoreNew(const std::vector<Arrival>& arrivals, int64_t received_at_ms,
                  const BatchExtra& extra = nullptr);

  // Records what the broker confirmed: the new state, the reply text when `reply_text` is set,
  // and an event by `actor` at `at_ms`. A case that leaves the partner's hands (ANSWERED,
  // CLOSED, CANCELLED) is dated and indexed for erasure in the same batch. UNKNOWN_CASE when
  // the case is not here.
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
  // INVALID_ARGUMENT when it carries neither a mail item nor an alert with a case id. A notice
  // about a case already erased is stored without its text.
  // `extra` adds the caller's writes to the same batch (not called for a redelivery); it gets
  // the case record as stored (nullopt when the case is not here).
  using NoticeExtra =
      std::function<void(rocksdb::WriteBatch& batch, const std::optional<wire::CaseView>& view)>;
  Result<bool> StoreNotice(const wire::Delivery& delivery, int64_t received_at_ms,
                           const NoticeExtra& extra = nullptr);

  // Up to `limit` cases that arrived after arrival number `after` (0 = from the first), oldest
  // first, in `state` when set. Arrival numbers only grow, so a page is stable under new
  // arrivals. Scans at most 10 * limit + 100 arrivals per call (a page may then be short with
  // `more` set). A case transferred back here arrived twice and is listed at both arrivals.
  Result<Page> ListAfter(uint64_t after, size_t limit,
                         std::optional<wire::CaseState> state) const;

  // The last `limit` arrivals, oldest first (newest last), each case once.
  Result<std::vector<wire::CaseView>> Newest(size_t limit) const;

  // The cases whose erase time is at or before `now_ms`, soonest first, at most `limit`. Cheap
  // when none is: one seek.
  Result<std::vector<Due>> DueForErasure(int64_t now_ms,
                                         size_t limit = kMaxErasuresPerSweep) const;
  // Erases the personal data of `due` cases (as DueForErasure returned them) in one fsynced
  // batch, drops them from the index and marks a compaction as owed.
  // `extra` adds the caller's writes to the same batch (called only when something is erased).
  Result<Erasure> ErasePersonalData(const std::vector<Due>& due,
                                    const BatchExtra& extra = nullptr);
  // Whether the files still hold what an erasure overwrote: set by ErasePersonalData, cleared
  // by ClearCompactionOwed once a flush and compaction of the ranges has completed.
  Result<bool> CompactionOwed() const;
  Status ClearCompactionOwed();
  // The inbox's whole key range, for a compaction whose ranges were lost (the process stopped
  // before it ran).
  KeyRange PersonalDataRange() const;

  // Conversions between the wire's two views of an escalation.
  static wire::CaseView ViewOf(const wire::Escalation& escalation, uint32_t attempt,
                               int64_t received_at_ms);
  static wire::Escalation EscalationOf(const wire::CaseView& view);

 private:
  static std::string CaseKey(const std::string& case_id);
  static std::string ArrivalKey(uint64_t arrival);
  static std::string NoticeKey(const std::string& queue, uint64_t delivery_id);
  static std::string DueKey(int64_t erase_at_ms, const std::string& case_id);
  Status Rewrite(const wire::CaseView& view);
  // Dates `view` and indexes it for erasure (in `batch`) when it just left the partner's hands
  // at `at_ms`.
  void TrackRetention(rocksdb::WriteBatch& batch, wire::CaseView& view, int64_t at_ms) const;

  RocksDb& db_;
  const RetentionPeriod personal_data_after_;
  rocksdb::ColumnFamilyHandle* family_;
  uint64_t next_arrival_ = 1;
};

}  // namespace aplus
