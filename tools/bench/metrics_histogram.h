// Histograms the broker exports on /metrics, read by the latency runner as its window opens and
// as it closes: its group commits (aplus_commit_seconds: RocksDB write, WAL and memtable, then
// the fdatasync) and its own receipt->Accepted time per submission
// (aplus_submit_durable_seconds), in the same seconds as the latencies the bench measures
// (docs/BENCHMARKS.md, "The disk under the latency targets").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "tools/bench/keep_alive_client.h"

namespace aplus::bench {

// One Prometheus histogram as scraped: cumulative counts by upper bound (seconds; +Inf last).
struct HistogramSnapshot {
  std::vector<std::pair<double, uint64_t>> buckets;
  uint64_t count = 0;
  double sum_seconds = 0;
};

// The unlabelled histogram `name` in a /metrics text. INVALID_ARGUMENT when it is absent or a
// line of it does not parse.
Result<HistogramSnapshot> ParseHistogram(std::string_view metrics_text, const std::string& name);

// GET /metrics: its text. UNAVAILABLE when the broker does not answer 200.
Result<std::string> ScrapeMetrics(KeepAliveClient& client);

// What happened between two snapshots of one histogram: {"count", "mean_ms", "p50_ms_at_most",
// "p99_ms_at_most", "p999_ms_at_most" (the upper bound of the bucket holding that rank; "+Inf"
// past the last bound; null when nothing was observed), "last_bound_ms" (the last finite bound),
// "share_over_ms": {"1": 0.012, ...} (the share of observations above each bound)}.
// INVALID_ARGUMENT when the two do not have the same buckets or `after` is older.
Result<nlohmann::json> HistogramWindow(const HistogramSnapshot& before, const HistogramSnapshot& after);

}  // namespace aplus::bench
