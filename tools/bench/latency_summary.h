// Percentiles of a set of latency samples, exact (every sample is kept: at the rates measured
// here that is a few megabytes at most).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aplus::bench {

struct LatencySummary {
  uint64_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, mean_ms = 0;

  // Nearest-rank percentiles of `samples_ns` (sorted in place).
  static LatencySummary Of(std::vector<int64_t>& samples_ns);
  // "p50 0.61 ms  p99 1.84 ms  p99.9 3.02 ms  max 4.11 ms  (40000 samples)"
  std::string ToString() const;
  nlohmann::json ToJson() const;
};

}  // namespace aplus::bench
