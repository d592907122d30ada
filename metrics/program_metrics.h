// The metrics of one A+ program in the Prometheus text format (version 0.0.4), built on
// prometheus-cpp's core (Debian's prometheus-cpp-dev) and served by the project's own HTTP
// server (no second HTTP stack: prometheus-cpp's "pull" exposer is not used).
//
// Every program gets the two process metrics operators alert on:
//   process_start_time_seconds   Unix time the process started (a fail-stop restart shows)
//   aplus_build_info{program, version} 1
// and registers its own families in registry(). Naming follows Prometheus' rules: base units
// (seconds, bytes), `_total` for counters, labels without case ids or citizen data.
//
// Thread rules: prometheus-cpp metrics are safe to update from any thread and Text() may run
// while they are updated; gauges that mirror a program's state should be set by the thread that
// owns that state just before Text() (the /metrics handler runs on it).
#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <string>

namespace aplus {

class ProgramMetrics {
 public:
  ProgramMetrics(const std::string& program, const std::string& version, int64_t start_unix_ms);

  prometheus::Registry& registry() { return *registry_; }

  // Everything registered, in the text exposition format.
  std::string Text() const;

  // The Content-Type of Text().
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  std::shared_ptr<prometheus::Registry> registry_;
};

// Histogram buckets for durations from 100 µs to 10 s, in seconds.
const std::vector<double>& LatencyBucketsSeconds();

// Registers the gauge family `name` in `registry` (the family lives as long as the registry).
prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry, const char* name,
                                                   const char* help);

}  // namespace aplus
