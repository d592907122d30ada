// The one table of tools/bench/peers/compare.sh: a row per system (RabbitMQ, NATS, A+) built
// from the JSON results of aplus-peer-bench and aplus-bench of the same run, then a row per
// peer of A+'s ratios to it. Pure formatting: no server, no clock.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace aplus::bench::peers {

struct LatencyCell {
  double p50_ms = 0;
  double p99_ms = 0;
};

struct SystemRow {
  std::string key;   // "rabbitmq", "nats", "nats-synced", "aplus": the order of the table
  std::string name;  // "RabbitMQ quorum queue", ...
  std::optional<double> end_to_end_per_second;
  std::optional<double> server_us_per_message;  // at saturation (the throughput run)
  std::optional<double> other_processes_cores;  // during the throughput run
  std::map<long, LatencyCell> latency_by_rate;  // publish->confirm (A+: submit->Accepted)
  uint64_t errors = 0;                          // of every run of this system
  uint64_t duplicates = 0;                      // deliveries of a message already consumed
  std::string durability;
};

// Merges results (each a JSON object printed by `aplus-peer-bench ... --json` or
// `aplus-bench --mode throughput|latency --json`) into rows, in the order RabbitMQ, NATS,
// NATS set to sync (--server-syncs), A+.
// INVALID_ARGUMENT for an object neither tool prints.
Result<std::vector<SystemRow>> RowsFromResults(const std::vector<nlohmann::json>& results);

// A Markdown table: a row per system, then "A+ / <peer>" rows of ratios (throughput: A+ over
// the peer, higher is better for A+; latency: A+ over the peer, lower is better for A+), then
// the durability of each system's acknowledgement and any errors.
std::string ComparisonTable(const std::vector<SystemRow>& rows);

}  // namespace aplus::bench::peers
