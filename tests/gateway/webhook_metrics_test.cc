// The partner gateway's webhook metrics (gateway/webhook_metrics.h): each attempt's outcome
// under its label, and zeroed gauges without a sender.
#include "gateway/webhook_metrics.h"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include <sstream>

using namespace aplus;

TEST_CASE("webhook attempts are counted by outcome: delivered, retried, failed") {
  prometheus::Registry registry;
  WebhookMetrics metrics(registry);
  metrics.OnAttempt(WebhookState::kPending);
  metrics.OnAttempt(WebhookState::kPending);
  metrics.OnAttempt(WebhookState::kFailed);
  metrics.OnAttempt(WebhookState::kDelivered);
  metrics.Update(nullptr);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  std::string text = out.str();
  INFO(text);
  CHECK(text.find("aplus_webhook_deliveries_total{outcome=\"retried\"} 2") != std::string::npos);
  CHECK(text.find("aplus_webhook_deliveries_total{outcome=\"failed\"} 1") != std::string::npos);
  CHECK(text.find("aplus_webhook_deliveries_total{outcome=\"delivered\"} 1") !=
        std::string::npos);
  CHECK(text.find("aplus_webhooks_failing 0") != std::string::npos);
  CHECK(text.find("aplus_webhooks_pending 0") != std::string::npos);
}
