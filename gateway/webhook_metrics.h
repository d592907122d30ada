// The partner gateway's webhook metrics (docs/METRICS.md):
//   aplus_webhook_deliveries_total{outcome}  counter: attempts by outcome, delivered (2xx),
//                                            retried (failed, another try scheduled), failed
//                                            (refused for good or the schedule ran out)
//   aplus_webhooks_failing                   gauge: 1 while the oldest pending webhook has been
//                                            failing longer than --webhook-failing-after
//   aplus_webhooks_pending                   gauge: webhooks waiting to be POSTed
//
// Thread rules: OnAttempt on the sender's thread (WebhookSenderOptions::on_attempt; the
// counters are prometheus-cpp atomics, cached at construction); Update on the gateway's loop
// thread before the text is rendered (it reads the sender under the sender's own mutex).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "gateway/webhook_queue.h"
#include "gateway/webhook_sender.h"

namespace aplus {

class WebhookMetrics {
 public:
  // Registers the families (all three outcomes at 0) in `registry`, which must outlive this.
  explicit WebhookMetrics(prometheus::Registry& registry);
  WebhookMetrics(const WebhookMetrics&) = delete;
  WebhookMetrics& operator=(const WebhookMetrics&) = delete;

  // One recorded attempt; `after` is the webhook's state after it.
  void OnAttempt(WebhookState after);
  // The gauges from `sender` as it is now; null (no --webhook-url): both 0. A failed count of
  // the pending webhooks leaves the gauge as it was (logged).
  void Update(const WebhookSender* sender);

 private:
  prometheus::Family<prometheus::Counter>& deliveries_;  // before its three counters
  prometheus::Counter& delivered_;
  prometheus::Counter& retried_;
  prometheus::Counter& failed_;
  prometheus::Gauge& failing_;
  prometheus::Gauge& pending_;
};

}  // namespace aplus
