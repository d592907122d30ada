#include "tools/bench/latency_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace aplus::bench {

LatencySummary LatencySummary::Of(std::vector<int64_t>& samples_ns) {
  LatencySummary summary;
  if (samples_ns.empty()) return summary;
  std::sort(samples_ns.begin(), samples_ns.end());
  auto at = [&](double quantile) {
    size_t rank = static_cast<size_t>(std::ceil(quantile * static_cast<double>(samples_ns.size())));
    rank = std::clamp<size_t>(rank, 1, samples_ns.size());
    return static_cast<double>(samples_ns[rank - 1]) / 1e6;
  };
  summary.count = samples_ns.size();
  summary.p50_ms = at(0.50);
  summary.p90_ms = at(0.90);
  summary.p99_ms = at(0.99);
  summary.p999_ms = at(0.999);
  summary.max_ms = static_cast<double>(samples_ns.back()) / 1e6;
  long double total = 0;
  for (int64_t sample : samples_ns) total += sample;
  summary.mean_ms = static_cast<double>(total / samples_ns.size() / 1e6);
  return summary;
}

std::string LatencySummary::ToString() const {
  if (count == 0) return "no samples";
  char text[200];
  std::snprintf(text, sizeof text,
                "p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (%llu samples)",
                p50_ms, p90_ms, p99_ms, p999_ms, max_ms, static_cast<unsigned long long>(count));
  return text;
}

nlohmann::json LatencySummary::ToJson() const {
  return {{"samples", count}, {"p50_ms", p50_ms}, {"p90_ms", p90_ms}, {"p99_ms", p99_ms},
          {"p999_ms", p999_ms}, {"max_ms", max_ms}, {"mean_ms", mean_ms}};
}

}  // namespace aplus::bench
