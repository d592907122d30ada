// The Prometheus metrics both gateways share (docs/METRICS.md), served as GET /metrics on the
// gateway's HTTP API listener (the front door, http/http_front_door.h): no token on a loopback
// listener, a bearer token elsewhere. Each gateway adds its own families to registry().
//
//   process_start_time_seconds, aplus_build_info{program, version}   (metrics/program_metrics.h)
//   aplus_commit_seconds                  histogram: one group commit's fsync (turns with writes)
//   aplus_outbox_entries{state}           gauge: queued (in line) and failed (FAILED_LOCALLY)
//   aplus_http_requests_total{route,code} counter: every HTTP answer (metrics/http_request_metrics.h)
//
// Thread rules: constructed before the gateway's loop runs; CommitObserver's function, SetOutbox
// and the route's handler run on the loop thread; HttpCounter's function on the thread that
// answers (the loop thread too). The route's `before_render` (loop thread) sets the gauges that
// mirror loop state just before the text is rendered, so one scrape is one consistent view.
#pragma once

#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <cstdint>
#include <functional>
#include <string>

#include "gateway/durable_forwarder.h"
#include "http/http_front_door.h"
#include "metrics/http_request_metrics.h"
#include "metrics/program_metrics.h"

namespace aplus {

class GatewayMetrics {
 public:
  // `program` is "aplus-agent-gateway" or "aplus-partner-gateway" (aplus_build_info).
  GatewayMetrics(const std::string& program, int64_t start_unix_ms);
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  prometheus::Registry& registry() { return program_.registry(); }

  // For GroupCommit::SetCommitObserver: observes aplus_commit_seconds.
  std::function<void(double seconds)> CommitObserver();
  // For HttpFrontDoorOptions::count_answer: aplus_http_requests_total.
  std::function<void(const std::string& route, int status)> HttpCounter() {
    return http_requests_.Hook();
  }
  // aplus_outbox_entries from the outbox as it is now (loop thread).
  void SetOutbox(const DurableForwarder& outbox);

  // GET /metrics (needs a token except on a loopback listener): runs `before_render`, then
  // answers Text() as text/plain; version=0.0.4. This object must outlive the route.
  HttpRoute Route(std::function<void()> before_render);

  // Everything registered, in the text format (after the caller set its gauges).
  std::string Text() const { return program_.Text(); }

 private:
  ProgramMetrics program_;
  HttpRequestMetrics http_requests_;
  prometheus::Histogram& commit_seconds_;
  prometheus::Family<prometheus::Gauge>& outbox_;  // before its two gauges
  prometheus::Gauge& outbox_queued_;
  prometheus::Gauge& outbox_failed_;
};

// The version in aplus_build_info (the project's version, CMakeLists.txt).
const char* AplusVersion();

}  // namespace aplus
