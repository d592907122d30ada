// What an agent gateway knows about its contact point's cases without asking the broker:
// the outcome of each local reference, a cached CaseView per case, and the mailbox items the
// broker delivered. It answers GetCase / ListCases while the broker is unreachable.
//
// Key layout (all in the gateway's own RocksDB; the outbox family belongs to store/outbox.h):
//   refs      local_ref ("LOC-<n>")             -> wire::Envelope: the broker's final answer to
//                                                  the Submit (Accepted or Error)
//   cases     case id                           -> wire::CaseView (from_local_cache unset)
//   mailbox   case id, 0x00, big-endian delivery -> wire::Delivery (the whole delivered item:
//                                                  a mail item or an SLA alert)
//   retention big-endian erase-at ms, case id   -> "": the case's personal data falls due for
//                                                  erasure then (its summary's
//                                                  personal_data_erase_at_ms); removed by the
//                                                  sweep that erases it
//   meta      "next_local_ref"                  -> big-endian uint64, the next <n> to hand out
//             "retention_indexed"               -> "1" once the cases cached before the
//                                                  retention index existed are in it
//             "purge_compaction_owed"           -> "1" from the batch of an erasure until the
//                                                  files have been compacted
//
// Retention: the cache keeps copies of the contact point's cases, personal data included, and
// erases them like the broker does, on its own clock (the broker is not asked; it may be
// unreachable). When the cache learns that a case ended (CLOSED or CANCELLED, from a
// CaseUpdated, a CaseList, a CaseView or a mail item) it records summary.ended_at_ms and
// summary.personal_data_erase_at_ms = ended + the network's `[retention] personal_data_after`,
// keeping the broker's dates whenever a view carries them, and indexes the case. A case once
// erased stays erased here: a stale view or a late mail item is stored without its personal
// data.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aplus.pb.h"
#include "common/clock.h"
#include "common/retention_period.h"
#include "common/status.h"
#include "store/rocks_db.h"

namespace aplus {

inline constexpr const char* kRefsFamily = "refs";
inline constexpr const char* kCasesFamily = "cases";
inline constexpr const char* kMailboxFamily = "mailbox";
inline constexpr const char* kMetaFamily = "meta";
inline constexpr const char* kRetentionFamily = "retention";
// The HTTP API's Idempotency-Key index (agent_http_routes.cc): token name, 0x00, key ->
// "LOC-<n>" 0x00 SHA-256 hex of the request body. Written in the same batch as the outbox entry.
inline constexpr const char* kIdempotencyFamily = "http_keys";

// Every column family of an agent gateway database (RocksDB must open them all).
std::vector<std::string> AgentGatewayFamilies();

// A reference the gateway gave a case it accepted alone ("LOC-<n>", AllocateLocalRef), as
// opposed to the broker's case id.
inline constexpr std::string_view kLocalRefPrefix = "LOC-";
inline bool IsLocalRef(std::string_view id) {
  return id.substr(0, kLocalRefPrefix.size()) == kLocalRefPrefix;
}

// Thread rules: used from the gateway's loop thread only. Every mutating method writes one
// fsynced batch; on error nothing of it is stored.
class LocalCaseCache {
 public:
  // What one erasure sweep did.
  struct Erasure {
    size_t cases = 0;             // cases whose personal data was erased
    std::vector<KeyRange> ranges;  // key ranges rewritten, to compact (empty when cases == 0)
    bool more = false;            // more cases were due than one sweep takes: sweep again soon
  };
  // At most this many cases are erased per sweep, so that one batch stays small.
  static constexpr size_t kMaxErasuresPerSweep = 1000;

  // `db` must have been opened with AgentGatewayFamilies(); `db` and `clock` must outlive the
  // cache. `personal_data_after` is the network's retention period.
  LocalCaseCache(RocksDb& db, const Clock& clock,
                 RetentionPeriod personal_data_after = RetentionPeriod{});

  // Once per database: dates and indexes the ended cases cached before the retention index
  // existed, so that they are erased too. Returns at once when that was done before.
  Status IndexEndedCases();

  // Hands out the next local reference ("LOC-<n>"): the counter's new value is put in `batch`,
  // which the caller writes (and commits) before the ref is shown to anyone, so a number is
  // never reused, also across restarts and after the outbox emptied (a failed write trips the
  // fail-stop: the process ends before it could hand out the next one). The counter is read
  // from the store once, then kept here (one loop thread; one writer of the database).
  Result<std::string> AllocateLocalRef(rocksdb::WriteBatch& batch);

  // Records the broker's final answer to the Submit known locally as `local_ref` (Accepted or
  // Error) and, for Accepted, caches the case built from `submit` and the answer.
  // `also` (may be null) adds writes that must be durable with the record (the event feed's
  // case.submitted / case.refused, gateway/event_feed.h): same batch.
  Status RecordSubmitAnswer(const std::string& local_ref, const wire::Submit& submit,
                            int64_t submitted_at_ms, const wire::Envelope& answer,
                            const std::function<void(rocksdb::WriteBatch&)>& also = nullptr);
  // The recorded answer for `local_ref`, nullopt when none is recorded.
  Result<std::optional<wire::Envelope>> FindRef(const std::string& local_ref) const;

  // Refreshes the cached case from the broker's view (keeping the local_ref known here).
  // Returns the view as stored.
  Result<wire::CaseView> RecordCaseView(const wire::CaseView& view);
  // Updates cached states from a broker's CaseUpdated or CaseList (a state other than
  // INFO_REQUESTED clears the cached open question).
  Status RecordCaseUpdated(const wire::CaseUpdated& updated);
  Status RecordSummaries(const std::vector<wire::CaseSummary>& summaries);

  Result<std::optional<wire::CaseView>> FindCase(const std::string& case_id) const;
  // Cached summaries in submission order (case number, as the broker lists them), after the
  // case `after_case_id` (exclusive; any id has a place in that order), at most `limit`.
  std::vector<wire::CaseSummary> ListCases(const std::string& after_case_id, size_t limit) const;

  // Stores mailbox deliveries (mail items and SLA alerts) and what they say about the cases in
  // ONE batch: the state a mail item carries (INFO_REQUESTED with the question, TRANSFERRED
  // with the new partner, ...), summary.warned / breached for an alert, and a timeline event
  // for each. A delivery already stored (same queue and delivery id) is skipped. Returns how
  // many were new.
  // `on_new` (may be null) is called for each new item with the batch that stores it and the
  // case as it becomes, to add writes that must be durable with it (the event feed).
  using OnNewDelivery = std::function<void(rocksdb::WriteBatch& batch,
                                           const wire::Delivery& delivery,
                                           const wire::CaseView& view)>;
  Result<size_t> StoreDeliveries(const std::vector<wire::Delivery>& deliveries,
                                 const OnNewDelivery& on_new = nullptr);
  // Mailbox items (mail and alerts) stored for `case_id`, in delivery order.
  std::vector<wire::Delivery> Mailbox(const std::string& case_id) const;

  // Erases, in one fsynced batch, the personal data of the cached cases whose erase time has
  // passed (by the clock): the view loses what WithholdPersonalData (common/personal_data.h)
  // removes and gets summary.personal_data_erased; the case's mail items lose their text (SLA
  // alerts are the broker's words and stay). The same batch marks a compaction as owed. Cheap
  // when nothing is due: one seek in the retention index.
  Result<Erasure> ErasePersonalDataDue();
  // Whether the files still hold what an erasure overwrote: set by ErasePersonalDataDue,
  // cleared by ClearCompactionOwed once a flush and compaction of the ranges has completed.
  Result<bool> CompactionOwed() const;
  Status ClearCompactionOwed();
  // Every key range of the cache that may hold personal data, for a compaction whose ranges
  // were lost (the process stopped before it ran).
  std::vector<KeyRange> PersonalDataRanges() const;

 private:
  // Keeps retention in step with what is about to be stored for a case: `before` is the
  // cached view (null when none), `after` the view to store, `ended_at_ms` when the case ended
  // if it just did and nothing says otherwise. Adds the index changes to `batch`.
  void TrackRetention(rocksdb::WriteBatch& batch, const wire::CaseView* before,
                      wire::CaseView& after, int64_t ended_at_ms) const;

  RocksDb& db_;
  const Clock& clock_;
  const RetentionPeriod personal_data_after_;
  rocksdb::ColumnFamilyHandle* refs_;
  rocksdb::ColumnFamilyHandle* cases_;
  rocksdb::ColumnFamilyHandle* mailbox_;
  rocksdb::ColumnFamilyHandle* meta_;
  rocksdb::ColumnFamilyHandle* retention_;
  // The next local reference number, read from the store at the first AllocateLocalRef (0:
  // not read yet).
  uint64_t next_local_ref_ = 0;
};

}  // namespace aplus
