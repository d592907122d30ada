#include "gateway/webhook_sender.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace aplus {
namespace {

constexpr int64_t kIdleWaitMs = 1000;  // also the longest sleep: the clock may be a test's

}  // namespace

Result<std::unique_ptr<WebhookSender>> WebhookSender::Start(
    RocksDb& db, WebhookSenderOptions options, const Clock& clock,
    std::function<void(const Status&)> on_durability_lost) {
  auto url = WebhookUrl::Parse(options.url);
  if (!url.ok()) return url.status();
  if (options.secrets.empty()) {
    return Status(wire::INVALID_ARGUMENT, "webhooks need at least one secret");
  }
  std::unique_ptr<WebhookSender> sender(new WebhookSender(
      db, std::move(options), std::move(url).value(), clock, std::move(on_durability_lost)));
  sender->thread_ = std::thread([raw = sender.get()] { raw->Loop(); });
  return sender;
}

WebhookSender::WebhookSender(RocksDb& db, WebhookSenderOptions options, WebhookUrl url,
                             const Clock& clock,
                             std::function<void(const Status&)> on_durability_lost)
    : options_(std::move(options)),
      url_(std::move(url)),
      clock_(clock),
      client_(options_.timeout),
      on_durability_lost_(std::move(on_durability_lost)),
      queue_(db) {}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::Wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_all();
}

Result<std::vector<Webhook>> WebhookSender::List(bool failed_only, size_t limit) const {
  std::lock_guard lock(mutex_);
  return queue_.List(options_.partner, failed_only, limit);
}

Status WebhookSender::Redeliver(const std::string& id) {
  Status status;
  {
    std::lock_guard lock(mutex_);
    status = queue_.Redeliver(options_.partner, id, clock_.NowMs());
  }
  if (status.ok()) Wake();
  return status;
}

Result<size_t> WebhookSender::RedeliverFailed() {
  Result<size_t> moved = size_t{0};
  {
    std::lock_guard lock(mutex_);
    moved = queue_.RedeliverFailed(options_.partner, clock_.NowMs());
  }
  if (moved.ok() && *moved > 0) Wake();
  return moved;
}

Result<size_t> WebhookSender::PendingCount() const {
  std::lock_guard lock(mutex_);
  return queue_.CountPending(options_.partner);
}

Result<size_t> WebhookSender::PurgeHistory(int64_t before_ms) {
  std::lock_guard lock(mutex_);
  return queue_.PurgeHistory(options_.partner, before_ms);
}

void WebhookSender::Loop() {
  while (true) {
    int64_t sleep_ms = Step();
    std::unique_lock lock(mutex_);
    if (stopping_) return;
    if (sleep_ms < 0) {
      // Durability lost: send nothing more, wait to be stopped.
      wake_.wait(lock, [this] { return stopping_; });
      return;
    }
    if (sleep_ms > 0) {
      wake_.wait_for(lock, std::chrono::milliseconds(sleep_ms),
                     [this] { return woken_ || stopping_; });
    }
    woken_ = false;
    if (stopping_) return;
  }
}

int64_t WebhookSender::Step() {
  std::optional<Webhook> head;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return 0;
    auto found = queue_.Head(options_.partner);
    if (!found.ok()) {
      spdlog::error("webhooks: cannot read the queue: {}", found.status().ToString());
      return kIdleWaitMs;
    }
    head = std::move(found).value();
  }
  const int64_t now_ms = clock_.NowMs();
  UpdateFailing(head ? &*head : nullptr, now_ms);
  if (!head) return kIdleWaitMs;
  if (head->sequence > durable_sequence_.load()) return kIdleWaitMs;  // Wake comes after the fsync
  if (head->next_try_ms > now_ms) return std::min(head->next_try_ms - now_ms, kIdleWaitMs);
  return Attempt(std::move(*head)) ? 0 : -1;
}

bool WebhookSender::Attempt(Webhook webhook) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  const int64_t at_ms = clock_.NowMs();
  const int64_t timestamp = at_ms / 1000;
  std::vector<std::pair<std::string, std::string>> headers = {
      {"webhook-id", webhook.id},
      {"webhook-timestamp", std::to_string(timestamp)},
      {"webhook-signature", SignWebhook(options_.secrets, webhook.id, timestamp, webhook.body)},
  };
  WebhookHttpResult result = client_.Post(url_, headers, webhook.body, at_ms);
  counters_.attempts++;
  WebhookVerdict verdict = ClassifyWebhookOutcome(result.outcome);

  WebhookAttempt attempt;
  attempt.at_ms = at_ms;
  attempt.status_code =
      result.outcome.transport == WebhookTransport::kResponse ? result.outcome.status_code : 0;
  attempt.error = result.error;
  switch (verdict) {
    case WebhookVerdict::kDelivered:
      webhook.state = WebhookState::kDelivered;
      webhook.next_try_ms = 0;
      webhook.failing_since_ms = 0;
      break;
    case WebhookVerdict::kPermanent:
      webhook.state = WebhookState::kFailed;
      webhook.next_try_ms = 0;
      if (webhook.failing_since_ms == 0) webhook.failing_since_ms = at_ms;
      break;
    case WebhookVerdict::kRetry: {
      if (webhook.failing_since_ms == 0) webhook.failing_since_ms = at_ms;
      // Attempts of the current run (a redelivery starts a new one), this one included.
      int run = 1 + static_cast<int>(std::count_if(
                        webhook.attempts.begin(), webhook.attempts.end(),
                        [&](const WebhookAttempt& a) { return a.at_ms >= webhook.failing_since_ms; }));
      double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random);
      auto next = options_.schedule.NextAttemptMs(run, webhook.queued_ms,
                                                  webhook.failing_since_ms, at_ms,
                                                  result.outcome.retry_after_ms, unit);
      if (next) {
        webhook.next_try_ms = *next;
      } else {
        webhook.state = WebhookState::kFailed;
        webhook.next_try_ms = 0;
      }
      break;
    }
  }
  attempt.next_try_ms = webhook.next_try_ms;
  webhook.attempts.push_back(attempt);

  Status recorded;
  {
    std::lock_guard lock(mutex_);
    recorded = queue_.Record(webhook);
  }
  if (!recorded.ok()) {
    spdlog::error("webhooks: cannot record the attempt of {}: {}; sending stops",
                  webhook.id, recorded.ToString());
    if (on_durability_lost_) on_durability_lost_(recorded);
    return false;
  }
  if (options_.on_attempt) options_.on_attempt(webhook.state);
  std::string outcome = attempt.error.empty() ? std::to_string(attempt.status_code)
                                              : attempt.error;
  switch (webhook.state) {
    case WebhookState::kDelivered:
      counters_.delivered++;
      spdlog::info("webhook {} delivered ({})", webhook.id, outcome);
      break;
    case WebhookState::kFailed:
      counters_.failed++;
      spdlog::error("webhook {} failed for good ({}, {} attempt(s)); `aplus partner webhooks "
                    "redeliver {}` sends it again",
                    webhook.id, outcome, webhook.attempts.size(), webhook.id);
      break;
    case WebhookState::kPending:
      spdlog::warn("webhook {} not delivered ({}); next try in {} ms", webhook.id, outcome,
                   webhook.next_try_ms - at_ms);
      break;
  }
  return true;
}

void WebhookSender::UpdateFailing(const Webhook* head, int64_t now_ms) {
  if (head == nullptr || head->failing_since_ms == 0) {
    reported_failing_since_ms_.store(0);
    return;
  }
  auto report_at = options_.schedule.ReportAtMs(head->failing_since_ms, options_.departement);
  if (!report_at.ok() || now_ms < *report_at) {
    reported_failing_since_ms_.store(0);
    return;
  }
  reported_failing_since_ms_.store(head->failing_since_ms);
  if (logged_failing_since_ms_ != head->failing_since_ms) {
    logged_failing_since_ms_ = head->failing_since_ms;
    spdlog::error("webhooks to {} failing since {} ms ago (webhook {}, {} attempt(s)): the "
                  "partner's receiver does not accept them",
                  url_.host, now_ms - head->failing_since_ms, head->id, head->attempts.size());
  }
}

}  // namespace aplus
