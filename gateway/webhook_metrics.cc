#include "gateway/webhook_metrics.h"

#include <spdlog/spdlog.h>

namespace aplus {
namespace {

prometheus::Family<prometheus::Counter>& DeliveriesFamily(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("aplus_webhook_deliveries_total")
      .Help("Webhook attempts by outcome: delivered, retried (another try scheduled), failed "
            "(given up).")
      .Register(registry);
}

}  // namespace

WebhookMetrics::WebhookMetrics(prometheus::Registry& registry)
    : deliveries_(DeliveriesFamily(registry)),
      delivered_(deliveries_.Add({{"outcome", "delivered"}})),
      retried_(deliveries_.Add({{"outcome", "retried"}})),
      failed_(deliveries_.Add({{"outcome", "failed"}})),
      failing_(prometheus::BuildGauge()
                   .Name("aplus_webhooks_failing")
                   .Help("1 while webhooks have been failing for longer than "
                         "--webhook-failing-after.")
                   .Register(registry)
                   .Add({})),
      pending_(prometheus::BuildGauge()
                   .Name("aplus_webhooks_pending")
                   .Help("Webhooks waiting to be POSTed to the partner's URL.")
                   .Register(registry)
                   .Add({})) {}

void WebhookMetrics::OnAttempt(WebhookState after) {
  switch (after) {
    case WebhookState::kDelivered:
      delivered_.Increment();
      break;
    case WebhookState::kPending:
      retried_.Increment();
      break;
    case WebhookState::kFailed:
      failed_.Increment();
      break;
  }
}

void WebhookMetrics::Update(const WebhookSender* sender) {
  if (sender == nullptr) {
    failing_.Set(0);
    pending_.Set(0);
    return;
  }
  failing_.Set(sender->failing_since_ms() != 0 ? 1 : 0);
  auto pending = sender->PendingCount();
  if (!pending.ok()) {
    spdlog::warn("metrics: cannot count the pending webhooks: {}", pending.status().ToString());
    return;
  }
  pending_.Set(static_cast<double>(*pending));
}

}  // namespace aplus
