// Fail-stop after a failed durable write, as PostgreSQL does since "fsyncgate": a write
// (fsync) that failed is never retried, because the kernel may already have dropped the dirty
// pages and a second fsync would report success for data that is not on disk. A gateway whose
// outbox, inbox or cache commit fails trips its FailStop: it logs CRITICAL once, the halt hook
// stops every acknowledgement and request to the broker at once (BrokerLink::Halt), the loop
// returns, and main exits with kExitDurabilityLost (common/exit_codes.h) so that the
// supervisor restarts it; RocksDB then recovers from its write-ahead log.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace aplus {

// After a trip, how long a gateway keeps answering its local clients (UNAVAILABLE for new
// requests, QUEUED_LOCALLY for requests already in the outbox) before it exits: the answers
// must leave the socket before the process does. Every request gets an answer, even this one.
inline constexpr int64_t kFailStopDrainMs = 500;

// Thread rules: the owning loop thread only.
class FailStop {
 public:
  // Runs once, at the first Trip (e.g. halting the broker link).
  void SetHaltHook(std::function<void()> hook) { halt_ = std::move(hook); }

  // A durable write failed: `what` says which ("cannot append to the outbox").
  void Trip(const std::string& what, const Status& status) {
    if (tripped()) return;
    status_ = status.ok() ? Status(wire::UNAVAILABLE, what) : status;
    spdlog::critical("{}: {}; durability lost: stopping without acknowledging anything more "
                     "(exit status 75); a restart recovers from the write-ahead log",
                     what, status_.ToString());
    spdlog::default_logger()->flush();
    if (halt_) halt_();
  }
  bool tripped() const { return !status_.ok(); }
  const Status& status() const { return status_; }

 private:
  Status status_;
  std::function<void()> halt_;
};

}  // namespace aplus
