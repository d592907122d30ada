#include "gateway/gateway_metrics.h"

namespace aplus {

const char* AplusVersion() { return APLUS_VERSION; }

namespace {

prometheus::Family<prometheus::Gauge>& OutboxFamily(prometheus::Registry& registry) {
  return prometheus::BuildGauge()
      .Name("aplus_outbox_entries")
      .Help("Requests held in the gateway's outbox: queued (in line for the broker) or failed "
            "(refused for good, waiting for retry or discard).")
      .Register(registry);
}

}  // namespace

GatewayMetrics::GatewayMetrics(const std::string& program, int64_t start_unix_ms)
    : program_(program, AplusVersion(), start_unix_ms),
      http_requests_(program_.registry()),
      commit_seconds_(prometheus::BuildHistogram()
                          .Name("aplus_commit_seconds")
                          .Help("One group commit of the gateway's store (the fsync of a loop "
                                "turn's writes).")
                          .Register(program_.registry())
                          .Add({}, LatencyBucketsSeconds())),
      outbox_(OutboxFamily(program_.registry())),
      outbox_queued_(outbox_.Add({{"state", "queued"}})),
      outbox_failed_(outbox_.Add({{"state", "failed"}})) {}

std::function<void(double)> GatewayMetrics::CommitObserver() {
  return [this](double seconds) { commit_seconds_.Observe(seconds); };
}

void GatewayMetrics::SetOutbox(const DurableForwarder& outbox) {
  size_t failed = 0;
  for (const auto& item : outbox.entries()) {
    if (item.entry.failed()) ++failed;
  }
  outbox_queued_.Set(static_cast<double>(outbox.size() - failed));
  outbox_failed_.Set(static_cast<double>(failed));
}

HttpRoute GatewayMetrics::Route(std::function<void()> before_render) {
  HttpRoute route;
  route.method = "GET";
  route.pattern = "/metrics";
  route.needs_token = true;
  route.open_on_loopback = true;
  route.handle = [this, before_render = std::move(before_render)](HttpCall&& call) {
    if (before_render) before_render();
    http::HttpResponse response;
    response.content_type = ProgramMetrics::kContentType;
    response.body = Text();
    call.responder.Send(std::move(response));
  };
  return route;
}

}  // namespace aplus
