#include "tools/bench/metrics_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace aplus::bench {
namespace {

namespace http = boost::beast::http;

Status Malformed(const std::string& name, std::string_view line) {
  return Status(wire::INVALID_ARGUMENT, "metric " + name + ": cannot read \"" + std::string(line) + "\"");
}

// "1.5e-05" or "+Inf" -> the number; false when the text is not all a number.
bool ParseNumber(std::string_view text, double* value) {
  if (text == "+Inf") {
    *value = std::numeric_limits<double>::infinity();
    return true;
  }
  std::string copy(text);
  char* end = nullptr;
  *value = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size();
}

std::string BoundName(double seconds) {
  std::ostringstream text;
  text << seconds * 1000;
  return text.str();
}

}  // namespace

Result<HistogramSnapshot> ParseHistogram(std::string_view metrics_text, const std::string& name) {
  HistogramSnapshot snapshot;
  bool has_count = false;
  const std::string bucket_prefix = name + "_bucket{le=\"";
  const std::string count_prefix = name + "_count ";
  const std::string sum_prefix = name + "_sum ";
  size_t start = 0;
  while (start < metrics_text.size()) {
    size_t end = metrics_text.find('\n', start);
    if (end == std::string_view::npos) end = metrics_text.size();
    std::string_view line = metrics_text.substr(start, end - start);
    start = end + 1;
    double value = 0;
    if (line.substr(0, bucket_prefix.size()) == bucket_prefix) {
      std::string_view rest = line.substr(bucket_prefix.size());
      size_t close = rest.find("\"} ");
      double bound = 0;
      if (close == std::string_view::npos || !ParseNumber(rest.substr(0, close), &bound) ||
          !ParseNumber(rest.substr(close + 3), &value) || value < 0) {
        return Malformed(name, line);
      }
      snapshot.buckets.emplace_back(bound, static_cast<uint64_t>(value));
    } else if (line.substr(0, count_prefix.size()) == count_prefix) {
      if (!ParseNumber(line.substr(count_prefix.size()), &value) || value < 0) return Malformed(name, line);
      snapshot.count = static_cast<uint64_t>(value);
      has_count = true;
    } else if (line.substr(0, sum_prefix.size()) == sum_prefix) {
      if (!ParseNumber(line.substr(sum_prefix.size()), &snapshot.sum_seconds)) return Malformed(name, line);
    }
  }
  if (!has_count || snapshot.buckets.empty() || !std::isinf(snapshot.buckets.back().first)) {
    return Status(wire::INVALID_ARGUMENT, "metric " + name + ": no histogram in the scrape");
  }
  return snapshot;
}

Result<std::string> ScrapeMetrics(KeepAliveClient& client) {
  std::string error;
  auto response = client.Call(http::verb::get, "/metrics", "", "", &error);
  if (!response) return Status(wire::UNAVAILABLE, "GET /metrics: " + error);
  if (response->result_int() != 200) {
    return Status(wire::UNAVAILABLE, "GET /metrics answered " + std::to_string(response->result_int()));
  }
  return std::move(response->body());
}

Result<nlohmann::json> HistogramWindow(const HistogramSnapshot& before, const HistogramSnapshot& after) {
  if (before.buckets.size() != after.buckets.size() || after.count < before.count) {
    return Status(wire::INVALID_ARGUMENT, "histogram snapshots do not match");
  }
  const uint64_t count = after.count - before.count;
  nlohmann::json window = {{"count", count}};
  window["mean_ms"] = count == 0 ? 0.0 : (after.sum_seconds - before.sum_seconds) * 1000 / static_cast<double>(count);
  nlohmann::json over = nlohmann::json::object();
  // Percentile q lies in the first bucket whose cumulative count reaches q * count.
  const std::pair<const char*, double> ranks[] = {{"p50_ms_at_most", 0.50}, {"p99_ms_at_most", 0.99},
                                                  {"p999_ms_at_most", 0.999}};
  for (const auto& [key, q] : ranks) window[key] = nullptr;
  for (size_t i = 0; i < after.buckets.size(); ++i) {
    if (after.buckets[i].first != before.buckets[i].first || after.buckets[i].second < before.buckets[i].second) {
      return Status(wire::INVALID_ARGUMENT, "histogram snapshots do not match");
    }
    const double bound = after.buckets[i].first;
    // Defensive: prometheus-cpp collects a histogram under its lock, so a bucket never exceeds
    // the count of the same scrape.
    const uint64_t within = std::min(after.buckets[i].second - before.buckets[i].second, count);
    for (const auto& [key, q] : ranks) {
      if (count > 0 && window[key].is_null() && static_cast<double>(within) >= q * static_cast<double>(count)) {
        window[key] = std::isinf(bound) ? nlohmann::json("+Inf") : nlohmann::json(bound * 1000);
      }
    }
    if (!std::isinf(bound)) {
      window["last_bound_ms"] = bound * 1000;
      if (count > 0) over[BoundName(bound)] = static_cast<double>(count - within) / static_cast<double>(count);
    }
  }
  window["share_over_ms"] = over;
  return window;
}

}  // namespace aplus::bench
