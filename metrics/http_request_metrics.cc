#include "metrics/http_request_metrics.h"

namespace aplus {

HttpRequestMetrics::HttpRequestMetrics(prometheus::Registry& registry)
    : family_(prometheus::BuildCounter()
                  .Name("aplus_http_requests_total")
                  .Help("HTTP API requests answered, by route pattern and status code.")
                  .Register(registry)) {}

void HttpRequestMetrics::Count(const std::string& route, int status) {
  prometheus::Counter* counter = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto& cached = counters_[{route, status}];
    if (cached == nullptr) {
      cached = &family_.Add({{"route", route}, {"code", std::to_string(status)}});
    }
    counter = cached;
  }
  counter->Increment();
}

std::function<void(const std::string&, int)> HttpRequestMetrics::Hook() {
  return [this](const std::string& route, int status) { Count(route, status); };
}

}  // namespace aplus
