// Forwards the partner's AcknowledgeCase / ReplyCase / AskInfo / TransferCase requests to the
// broker, durably and in order, through the DurableForwarder both gateways share
// (gateway/durable_forwarder.h): appended to the outbox (durable before anyone is answered: the
// gateway's group commit), pipelined on the broker connection, with the requests about one case
// in flight one at a time, so the broker sees each case's requests in the order the partner
// made them, also across broker outages and gateway restarts. Every entry has a local
// ref (shown in Inbox.outbox; `aplus partner retry|discard REF`).
//
// Broker answers:
//   CaseUpdated              -> the inbox takes the new state (and the reply text, or the
//                               question), the entry leaves the outbox, the waiting local
//                               client gets the answer. A confirmed transfer erases the case's
//                               personal content from the inbox (and its spool file): the new
//                               partner owns it now.
//   a transient refusal (common/retry_policy.h: UNREACHABLE, UNAVAILABLE, NOT_AUTHENTICATED,
//   RATE_LIMITED, TOO_MANY_OPEN_CASES), or no answer in time
//                            -> the entry stays in its place and is sent again when the session
//                               is (re)established or after a backoff (exponential, jittered,
//                               no sooner than the broker's retry-after hint).
//   any other Error          -> final: logged; while the local client waits, the entry leaves
//                               the outbox and the client gets the error; once the client went
//                               away (queued_locally), the entry is set aside as FAILED_LOCALLY
//                               until `aplus partner retry` or `aplus partner discard`.
// A local client that has no answer after the forward timeout gets
// CaseUpdated{state = the inbox's state, queued_locally = true}.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>
#include <string>

#include "aplus.pb.h"
#include "common/broker_link.h"
#include "common/retry_policy.h"
#include "common/clock.h"
#include "common/fail_stop.h"
#include "partner-gateway/partner_inbox.h"
#include "partner-gateway/spool_writer.h"
#include "gateway/durable_forwarder.h"
#include "store/rocks_db.h"

namespace aplus {

// Thread rules: the owning gateway's loop thread only; callbacks run on it.
class RequestForwarder {
 public:
  // Called exactly once per enqueued request with the answer for the local client; the
  // caller sets the request id.
  using ReplyFn = DurableForwarder::ReplyFn;

  static constexpr int64_t kRetryBaseMs = 200;
  static constexpr int kBrokerTimeoutMs = 10000;

  // Every dependency must outlive the forwarder. `db` holds the outbox family; `actor` names
  // the partner in inbox events. `spool` may be null (no spool directory). A failed outbox or
  // inbox write trips `fail_stop`.
  // `may_send` (may be null) is DurableForwarder::Hooks::may_send: the gateway's group commit.
  RequestForwarder(RocksDb& db, BrokerLink& link, PartnerInbox& inbox, const Clock& clock,
                   std::string actor, int forward_timeout_ms, FailStop& fail_stop,
                   const SpoolWriter* spool = nullptr, std::function<bool()> may_send = nullptr);

  // True for the requests this forwarder carries (AcknowledgeCase, ReplyCase, AskInfo,
  // TransferCase).
  static bool IsForwarded(const wire::Envelope& request);

  // `request` is one of them, its case is in the inbox and its idempotency key is set.
  // Appends it durably under `local_ref`, then forwards it when its turn comes. On a storage
  // failure (the fail-stop trips) `reply` is called at once with the error. `also` (may be
  // null): writes made durable in the same batch as the entry.
  void Enqueue(wire::Envelope request, std::string local_ref, ReplyFn reply,
               rocksdb::WriteBatch* also = nullptr);

  // RetryLocal / DiscardLocal (see DurableForwarder).
  Result<wire::LocalEntry> Retry(const std::string& local_ref) {
    return forwarder_.Retry(local_ref);
  }
  Result<wire::LocalEntry> Discard(const std::string& local_ref) {
    return forwarder_.Discard(local_ref);
  }
  // The outbox as Inbox.outbox shows it.
  std::vector<wire::LocalEntry> LocalEntries() const { return forwarder_.LocalEntries(); }

  // The session with the broker was (re)established: send the head now.
  void OnLinkReady() { forwarder_.OnLinkReady(); }
  // Answers expired waiters and retries the head when due.
  void OnTick() { forwarder_.OnTick(); }
  // The gateway's group commit made every append so far durable (see DurableForwarder).
  void MarkDurable() { forwarder_.MarkDurable(); }
  // Fail-stop: every client still waiting is answered now (see DurableForwarder).
  void AnswerAllWaitersQueued() { forwarder_.AnswerAllWaitersQueued(); }
  // Milliseconds until OnTick has something to do (at most 100).
  int NextWakeInMs() const { return forwarder_.NextWakeInMs(); }

  size_t queued() const { return forwarder_.size(); }
  // The outbox itself, for its metrics (aplus_outbox_entries).
  const DurableForwarder& outbox() const { return forwarder_; }

 private:
  Result<wire::Envelope> Prepare(const records::OutboxEntry& entry) const;
  wire::Envelope OnFinal(const records::OutboxEntry& entry, const wire::Envelope& answer);
  wire::Envelope QueuedAnswer(const records::OutboxEntry& entry) const;
  void ApplyToInbox(const wire::Envelope& request, const wire::CaseUpdated& updated);

  PartnerInbox& inbox_;
  const Clock& clock_;
  const std::string actor_;
  FailStop& fail_stop_;
  const SpoolWriter* const spool_;
  DurableForwarder forwarder_;  // last: its hooks use the members above
};

}  // namespace aplus
