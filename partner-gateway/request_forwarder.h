// Forwards the partner's AcknowledgeCase / ReplyCase / AskInfo / TransferCase requests to the
// broker, durably and in order. A request is appended to the fsynced outbox before anyone is answered; the head of
// the outbox is the only request in flight, so the broker sees them in the order the partner
// made them, also across broker outages and gateway restarts.
//
// Broker answers:
//   CaseUpdated              -> the inbox takes the new state (and the reply text, or the
//                               question), the entry leaves the outbox, the waiting local
//                               client gets the answer. A confirmed transfer erases the case's
//                               personal content from the inbox (and its spool file): the new
//                               partner owns it now.
//   UNREACHABLE, UNAVAILABLE, NOT_AUTHENTICATED (or no answer in time)
//                            -> retryable: the entry stays at the head and is sent again when
//                               the session is (re)established or kRetryEveryMs later.
//   any other Error          -> final: logged, the entry leaves the outbox, the waiting local
//                               client gets the error.
// A local client that has no answer after the forward timeout gets
// CaseUpdated{state = the inbox's state, queued_locally = true}.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "aplus.pb.h"
#include "common/broker_link.h"
#include "common/clock.h"
#include "partner-gateway/partner_inbox.h"
#include "partner-gateway/spool_writer.h"
#include "store/outbox.h"

namespace aplus {

// Thread rules: the owning gateway's loop thread only; callbacks run on it.
class RequestForwarder {
 public:
  // Called exactly once per enqueued request with the answer for the local client; the
  // caller sets the request id.
  using ReplyFn = std::function<void(wire::Envelope answer)>;

  static constexpr int64_t kRetryEveryMs = 1000;
  static constexpr int kBrokerTimeoutMs = 10000;

  // Every dependency must outlive the forwarder. `actor` names the partner in inbox events.
  // `spool` may be null (no spool directory).
  RequestForwarder(Outbox& outbox, BrokerLink& link, PartnerInbox& inbox, const Clock& clock,
                   std::string actor, int forward_timeout_ms, const SpoolWriter* spool = nullptr);

  // True for the requests this forwarder carries (AcknowledgeCase, ReplyCase, AskInfo,
  // TransferCase).
  static bool IsForwarded(const wire::Envelope& request);

  // `request` is one of them, its case is in the inbox and its idempotency key is set. Appends it durably, then forwards it when its turn comes.
  // On a storage failure `reply` is called at once with the error.
  void Enqueue(wire::Envelope request, ReplyFn reply);

  // The session with the broker was (re)established: send the head now.
  void OnLinkReady();
  // Answers expired waiters and retries the head when due.
  void OnTick();
  // Milliseconds until OnTick has something to do (at most 100).
  int NextWakeInMs() const;

  size_t queued() const { return outbox_.size(); }

 private:
  struct Waiter {
    int64_t deadline_ms;  // steady clock
    std::string case_id;
    ReplyFn reply;
  };

  void Pump();
  void OnBrokerAnswer(uint64_t sequence, const wire::Envelope& request,
                      Result<wire::Envelope> answer);
  void Retry(const Status& why);
  void Finish(uint64_t sequence, const wire::Envelope& answer);
  void AnswerWaiter(uint64_t sequence, wire::Envelope answer);
  void ApplyToInbox(const wire::Envelope& request, const wire::CaseUpdated& updated);

  Outbox& outbox_;
  BrokerLink& link_;
  PartnerInbox& inbox_;
  const Clock& clock_;
  const std::string actor_;
  const int forward_timeout_ms_;
  const SpoolWriter* const spool_;
  std::map<uint64_t, Waiter> waiters_;  // by outbox sequence
  bool in_flight_ = false;
  int64_t next_retry_ms_ = 0;     // steady clock; 0 = now
  uint64_t failed_attempts_ = 0;  // consecutive retryable failures, for quieter logs
};

}  // namespace aplus
