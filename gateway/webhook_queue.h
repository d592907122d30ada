// The partner gateway's durable webhooks: every event of a partner's feed that is to be
// POSTed to the partner's URL, with the log of its attempts, in one column family
// ("webhooks") of the gateway's database. A webhook is written in the same batch as the event
// it announces (Enqueue takes the caller's batch), so an event is never in the feed without its
// webhook, nor the other way round, also across a crash.
//
// Layout (family kWebhookFamily; be64 = 8 bytes big-endian, so keys sort by number):
//   "p" partner "\0" be64(sequence) -> webhook   pending: to be sent, in sequence order
//   "h" partner "\0" be64(sequence) -> webhook   history: delivered, or failed for good
// `sequence` is the event's position in the partner's feed. Values are JSON objects (see
// ToJson in the .cc): {"id", "partner", "sequence", "body", "queued_ms", "state",
// "next_try_ms", "failing_since_ms", "attempts": [{"at_ms", "status", "error",
// "next_try_ms"}]}. A webhook is in exactly one of the two key spaces.
//
// Feed order per partner: only Head() of a partner is sent; the next one waits until it is
// delivered or fails for good. Redeliver puts a webhook back among the pending under its own
// sequence (so it goes before newer pending ones).
//
// Thread rules: one owner thread calls every method (the partner gateway's webhook sender);
// Enqueue only touches the caller's batch and may be called from the thread that writes events
// as long as the batch is written through the same RocksDb.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/write_batch.h>

#include "common/status.h"
#include "store/rocks_db.h"

namespace aplus {

inline constexpr const char* kWebhookFamily = "webhooks";

enum class WebhookState { kPending, kDelivered, kFailed };

// "pending", "delivered", "failed".
std::string_view WebhookStateName(WebhookState state);

struct WebhookAttempt {
  int64_t at_ms = 0;
  int status_code = 0;     // 0 = no response (see error)
  std::string error;       // "" when the receiver answered; else "timeout", "connection refused"...
  int64_t next_try_ms = 0;  // when the next attempt was scheduled; 0 = none (done or given up)
};

struct Webhook {
  std::string partner;
  uint64_t sequence = 0;  // the event's position in the partner's feed
  std::string id;         // the webhook-id header: the same on every retry
  std::string body;       // what is POSTed
  int64_t queued_ms = 0;
  WebhookState state = WebhookState::kPending;
  int64_t next_try_ms = 0;       // pending: when to send it
  int64_t failing_since_ms = 0;  // first failed attempt of the current run of failures; 0 = none
  std::vector<WebhookAttempt> attempts;  // oldest first, every attempt kept
};

class WebhookQueue {
 public:
  // `db` must have been opened with kWebhookFamily and outlive the queue.
  explicit WebhookQueue(RocksDb& db);

  // Adds `webhook` (pending, no attempts yet, next try at its queued_ms) to `batch`; the
  // caller writes the batch with the event. INVALID_ARGUMENT when the partner is empty or
  // holds a NUL, or the id is empty.
  Status Enqueue(rocksdb::WriteBatch& batch, const Webhook& webhook) const;

  // The partner's oldest pending webhook: the one to send next. nullopt when none.
  Result<std::optional<Webhook>> Head(std::string_view partner) const;

  // How many of the partner's webhooks are pending (aplus_webhooks_pending); keys only, no value
  // is parsed. UNAVAILABLE when the scan fails.
  Result<size_t> CountPending(std::string_view partner) const;

  // Writes `webhook` back after an attempt (fsynced): under "p" while pending, under "h" once
  // delivered or failed (removed from "p" in the same batch).
  Status Record(const Webhook& webhook);

  // The partner's webhooks, pending and past, by sequence; only the failed ones with
  // `failed_only`; at most `limit` (0 = all).
  Result<std::vector<Webhook>> List(std::string_view partner, bool failed_only,
                                    size_t limit) const;

  // Puts the webhook `id` of `partner` back in line (pending, next try `now_ms`, its attempts
  // kept, failing_since reset), fsynced. INVALID_ARGUMENT "no webhook ID" when unknown; a pending
  // one is only moved forward to `now_ms`.
  Status Redeliver(std::string_view partner, std::string_view id, int64_t now_ms);
  // Every failed webhook of `partner` back in line; the number moved.
  Result<size_t> RedeliverFailed(std::string_view partner, int64_t now_ms);

  // Retention: removes the partner's past webhooks (delivered or failed) whose last attempt
  // was before `before_ms`, fsynced; the number removed. Pending ones are never removed.
  Result<size_t> PurgeHistory(std::string_view partner, int64_t before_ms);

 private:
  Result<std::vector<Webhook>> Scan(char space, std::string_view partner, size_t limit) const;

  RocksDb& db_;
  rocksdb::ColumnFamilyHandle* family_;
};

}  // namespace aplus
