// Forwards an agent gateway's outbox to the broker: in arrival order, one request in flight
// at a time (so the broker sees requests in the order the contact point made them), each one
// retried on UNREACHABLE / UNAVAILABLE / NOT_AUTHENTICATED until the broker gives a final
// answer, however long that takes and across restarts (the outbox is durable and reloaded).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>

#include "aplus.pb.h"
#include "common/broker_link.h"
#include "common/status.h"
#include "records.pb.h"
#include "store/outbox.h"
#include "store/rocks_db.h"

namespace aplus {

// True for the errors after which a request is sent again rather than given up.
bool IsRetriableError(ErrorCode code);

// Thread rules: used from the gateway's loop thread only; handlers are called on it.
class OutboxForwarder {
 public:
  // Builds the request to send for an entry at the moment it is sent (e.g. to replace a local
  // ref by the case id learnt meanwhile). An error Status is the entry's final answer.
  using Preparer = std::function<Result<wire::Envelope>(const records::OutboxEntry&)>;
  // Called exactly once per entry with its final answer (any envelope the broker sent that is
  // not a retriable Error, or the Preparer's error), BEFORE the entry leaves the outbox: what
  // must survive the entry has to be stored by then.
  using FinalHandler = std::function<void(uint64_t sequence, const records::OutboxEntry& entry,
                                          const wire::Envelope& answer)>;

  // `db` (opened with kOutboxFamily) and `link` must outlive the forwarder. Loads the entries
  // left by a previous run.
  OutboxForwarder(RocksDb& db, BrokerLink& link, int request_timeout_ms, int retry_ms,
                  Preparer prepare, FinalHandler on_final);

  // Appends `entry` durably (fsynced) behind the others. Returns its sequence number.
  Result<uint64_t> Append(const records::OutboxEntry& entry);

  // Entries not yet finally answered, oldest first.
  const std::deque<std::pair<uint64_t, records::OutboxEntry>>& queued() const { return queued_; }
  // The queued entry with this local ref, or nullptr.
  const records::OutboxEntry* FindByLocalRef(const std::string& local_ref) const;

  // The broker session was (re)established: forget the back-off and send at once.
  void RetryNow() { next_attempt_ms_ = 0; }
  // Sends the front entry when the link is ready and nothing is in flight. Call every loop turn.
  void Pump();
  // How long the loop may sleep before Pump has something to do.
  int NextWakeInMs() const;

 private:
  void OnAnswer(uint64_t sequence, Result<wire::Envelope> answer);
  void Finish(const wire::Envelope& answer);

  Outbox outbox_;
  BrokerLink& link_;
  const int request_timeout_ms_;
  const int retry_ms_;
  const Preparer prepare_;
  const FinalHandler on_final_;
  std::deque<std::pair<uint64_t, records::OutboxEntry>> queued_;
  bool in_flight_ = false;
  int64_t next_attempt_ms_ = 0;  // steady clock
};

}  // namespace aplus
