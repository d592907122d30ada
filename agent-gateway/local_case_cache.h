// What an agent gateway knows about its contact point's cases without asking the broker:
// the outcome of each local reference, a cached CaseView per case, and the mailbox items the
// broker delivered. It answers GetCase / ListCases while the broker is unreachable.
//
// Key layout (all in the gateway's own RocksDB; the outbox family belongs to store/outbox.h):
//   refs     local_ref ("LOC-<n>")              -> wire::Envelope: the broker's final answer to
//                                                  the Submit (Accepted or Error)
//   cases    case id                            -> wire::CaseView (from_local_cache unset)
//   mailbox  case id, 0x00, big-endian delivery -> wire::Delivery (the whole delivered item:
//                                                  a mail item or an SLA alert)
//   meta     "next_local_ref"                   -> big-endian uint64, the next <n> to hand out
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aplus.pb.h"
#include "common/status.h"
#include "store/rocks_db.h"

namespace aplus {

inline constexpr const char* kRefsFamily = "refs";
inline constexpr const char* kCasesFamily = "cases";
inline constexpr const char* kMailboxFamily = "mailbox";
inline constexpr const char* kMetaFamily = "meta";

// Every column family of an agent gateway database (RocksDB must open them all).
std::vector<std::string> AgentGatewayFamilies();

// Thread rules: used from the gateway's loop thread only. Every mutating method writes one
// fsynced batch; on error nothing of it is stored.
class LocalCaseCache {
 public:
  // `db` must have been opened with AgentGatewayFamilies() and outlive the cache.
  explicit LocalCaseCache(RocksDb& db);

  // Hands out the next local reference ("LOC-<n>"), durably: a number is never reused, also
  // across restarts and after the outbox emptied.
  Result<std::string> AllocateLocalRef();

  // Records the broker's final answer to the Submit known locally as `local_ref` (Accepted or
  // Error) and, for Accepted, caches the case built from `submit` and the answer.
  Status RecordSubmitAnswer(const std::string& local_ref, const wire::Submit& submit,
                            int64_t submitted_at_ms, const wire::Envelope& answer);
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
  // Cached summaries in case id order, after `after_case_id` (exclusive), at most `limit`.
  std::vector<wire::CaseSummary> ListCases(const std::string& after_case_id, size_t limit) const;

  // Stores mailbox deliveries (mail items and SLA alerts) and what they say about the cases in
  // ONE batch: the state a mail item carries (INFO_REQUESTED with the question, TRANSFERRED
  // with the new partner, ...), summary.warned / breached for an alert, and a timeline event
  // for each. A delivery already stored (same queue and delivery id) is skipped. Returns how
  // many were new.
  Result<size_t> StoreDeliveries(const std::vector<wire::Delivery>& deliveries);
  // Mailbox items (mail and alerts) stored for `case_id`, in delivery order.
  std::vector<wire::Delivery> Mailbox(const std::string& case_id) const;

 private:
  RocksDb& db_;
  rocksdb::ColumnFamilyHandle* refs_;
  rocksdb::ColumnFamilyHandle* cases_;
  rocksdb::ColumnFamilyHandle* mailbox_;
  rocksdb::ColumnFamilyHandle* meta_;
};

}  // namespace aplus
