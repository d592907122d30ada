// The partner gateway's webhook sender: one thread that POSTs the partner's pending webhooks
// (gateway/webhook_queue.h) to its URL, in feed order, one at a time, signed with the Standard
// Webhooks signature of every configured secret (webhook_signature.h), and records every
// attempt (fsynced) before the next one. The verdict of an attempt is ClassifyWebhookOutcome's;
// a retry waits for WebhookSchedule::NextAttemptMs, counted from the first failed attempt of
// the current run of failures (a redelivery starts a new run). Pending webhooks survive a
// restart: the queue is on disk and the same webhook (same webhook-id) is sent again.
//
// Failing: once the oldest pending webhook has been failing for the schedule's `report` time,
// the sender logs it once as an error and failing_since_ms() turns non-zero (the gateway
// reports it to the broker with its pings) until a webhook is delivered again.
//
// A failed Record (lost fsync) stops the sender: nothing more is sent (the attempt is sent
// again after a restart, with the same webhook-id, which the receiver deduplicates on); the
// gateway is told through `on_durability_lost`.
//
// Thread rules: Start, Wake, List, Redeliver*, PurgeHistory, PendingCount, failing_since_ms and
// counters on any thread.
// The queue is read and written by the sender thread and by List/Redeliver under one mutex,
// never held during an HTTP exchange. The destructor stops the thread (waiting at most for the
// exchange in progress, bounded by the timeout) and joins it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "gateway/webhook_http_client.h"
#include "gateway/webhook_queue.h"
#include "gateway/webhook_schedule.h"
#include "gateway/webhook_signature.h"
#include "store/rocks_db.h"

namespace aplus {

struct WebhookSenderOptions {
  std::string partner;  // whose webhooks (the queue's key)
  std::string url;
  std::vector<WebhookSecret> secrets;  // one, or two during a rotation
  WebhookSchedule schedule;
  std::string departement;  // the calendar of `report` ("" = national holidays only)
  std::chrono::milliseconds timeout{10000};
  // Told of every recorded attempt with the webhook's state after it: kDelivered, kPending (to
  // be retried) or kFailed (given up) (aplus_webhook_deliveries_total{outcome}). Called on the
  // sender's thread; null: nobody is told.
  std::function<void(WebhookState after)> on_attempt;
};

struct WebhookSenderCounters {
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};  // given up (permanent refusal or schedule exhausted)
};

class WebhookSender {
 public:
  // Checks the URL (INVALID_ARGUMENT) and starts the thread. `db` (with kWebhookFamily) and
  // `clock` must outlive the sender. `on_durability_lost` is called once, on the sender
  // thread, when an attempt cannot be recorded.
  static Result<std::unique_ptr<WebhookSender>> Start(
      RocksDb& db, WebhookSenderOptions options, const Clock& clock,
      std::function<void(const Status&)> on_durability_lost);
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // New webhooks were written: look at the head now.
  void Wake();

  // Webhooks up to this feed sequence are durable and may be sent; later ones wait (a write
  // inside the gateway's open group commit is visible before it is fsynced). 0 at start: the
  // gateway sets it once it has opened its feed, and after each group commit.
  void SetDurableSequence(uint64_t sequence) { durable_sequence_.store(sequence); }

  // The partner's webhooks (WebhookQueue::List).
  Result<std::vector<Webhook>> List(bool failed_only, size_t limit) const;
  // WebhookQueue::Redeliver / RedeliverFailed, then Wake.
  Status Redeliver(const std::string& id);
  Result<size_t> RedeliverFailed();
  // Retention: WebhookQueue::PurgeHistory (delivered or failed webhooks last tried before).
  Result<size_t> PurgeHistory(int64_t before_ms);

  // How many webhooks wait to be sent (WebhookQueue::CountPending), under the queue's mutex.
  Result<size_t> PendingCount() const;

  // When the oldest pending webhook started failing, once that has lasted the schedule's
  // `report` time; 0 otherwise.
  int64_t failing_since_ms() const { return reported_failing_since_ms_.load(); }
  const WebhookSenderCounters& counters() const { return counters_; }

 private:
  WebhookSender(RocksDb& db, WebhookSenderOptions options, WebhookUrl url, const Clock& clock,
                std::function<void(const Status&)> on_durability_lost);
  void Loop();
  // One step: sends the head when due. Returns how long to sleep (ms) before the next step.
  int64_t Step();
  // Attempts `webhook` and records the outcome; false when the record failed.
  bool Attempt(Webhook webhook);
  void UpdateFailing(const Webhook* head, int64_t now_ms);

  const WebhookSenderOptions options_;
  const WebhookUrl url_;
  const Clock& clock_;
  const WebhookHttpClient client_;
  const std::function<void(const Status&)> on_durability_lost_;
  WebhookSenderCounters counters_;
  std::atomic<int64_t> reported_failing_since_ms_{0};
  std::atomic<uint64_t> durable_sequence_{0};
  int64_t logged_failing_since_ms_ = 0;  // sender thread: the run already logged

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;     // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  WebhookQueue queue_;     // guarded by mutex_
  std::thread thread_;     // last: started when everything above exists
};

}  // namespace aplus
