#include "tools/bench/peers/comparison_table.h"

#include <cmath>
#include <cstdio>
#include <set>

namespace aplus::bench::peers {

using nlohmann::json;

namespace {

const std::vector<std::pair<std::string, std::string>> kSystems = {
    {"rabbitmq", "RabbitMQ quorum queue"},
    {"nats", "NATS JetStream (file)"},
    {"nats-synced", "NATS JetStream (file, sync always)"},
    {"aplus", "A+ (aplus-bench)"}};

std::string Format(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// 13,300 -> "13.3k"; under 1,000 as is.
std::string Rate(double per_second) {
  if (per_second >= 1000) return Format("%.1fk", per_second / 1000);
  return Format("%.0f", per_second);
}

std::string Ms(double ms) {
  if (ms >= 100) return Format("%.0f", ms);
  if (ms >= 10) return Format("%.1f", ms);
  return Format("%.2f", ms);
}

std::string Ratio(double numerator, double denominator) {
  if (denominator <= 0 || !std::isfinite(numerator / denominator)) return "—";
  return Format("%.2f×", numerator / denominator);
}

double Number(const json& object, const char* key) {
  return object.contains(key) && object[key].is_number() ? object[key].get<double>() : 0.0;
}

}  // namespace

Result<std::vector<SystemRow>> RowsFromResults(const std::vector<json>& results) {
  std::map<std::string, SystemRow> rows;
  for (const auto& [key, name] : kSystems) {
    rows[key].key = key;
    rows[key].name = name;
  }
  std::set<std::string> seen;
  for (const json& result : results) {
    if (!result.is_object() || !result.contains("mode")) {
      return Status(wire::INVALID_ARGUMENT, "not a result of aplus-bench or aplus-peer-bench");
    }
    std::string mode = result["mode"].get<std::string>();
    if (result.value("tool", "") == "aplus-peer-bench") {
      std::string key = result.value("peer", "");
      if (key != "rabbitmq" && key != "nats") {
        return Status(wire::INVALID_ARGUMENT, "unknown peer \"" + key + "\"");
      }
      if (result.value("server_syncs", false)) key += "-synced";
      SystemRow& row = rows[key];
      seen.insert(key);
      row.errors += result.value("error_count", uint64_t{0});
      row.duplicates += result.value("duplicates", uint64_t{0});
      if (result.contains("setup")) row.durability = result["setup"].value("durability", "");
      if (mode == "throughput") {
        row.end_to_end_per_second = Number(result, "end_to_end_per_second");
        const json& cpu = result["cpu"];
        if (cpu.contains("server_us_per_message")) {
          row.server_us_per_message = Number(cpu, "server_us_per_message");
        }
        if (cpu.contains("other_processes_cores")) {
          row.other_processes_cores = Number(cpu, "other_processes_cores");
        }
      } else if (mode == "latency") {
        const json& confirm = result["publish_to_confirm"];
        row.latency_by_rate[std::lround(Number(result, "rate"))] =
            LatencyCell{Number(confirm, "p50_ms"), Number(confirm, "p99_ms")};
      } else {
        return Status(wire::INVALID_ARGUMENT, "unknown mode \"" + mode + "\"");
      }
      continue;
    }
    // aplus-bench --json.
    SystemRow& row = rows["aplus"];
    seen.insert("aplus");
    row.durability = "fsync before Accepted (CURVE, audit on)";
    if (result.contains("totals")) row.errors += result["totals"].value("errors", uint64_t{0});
    if (mode == "throughput") {
      row.end_to_end_per_second = Number(result, "acked_per_second");
      const json& cpu = result.contains("cpu") ? result["cpu"] : json::object();
      if (cpu.contains("broker_us_per_escalation")) {
        row.server_us_per_message = Number(cpu, "broker_us_per_escalation");
      }
      if (cpu.contains("other_processes_cores")) {
        row.other_processes_cores = Number(cpu, "other_processes_cores");
      }
    } else if (mode == "latency") {
      const json& accepted = result["submit_to_accepted"];
      row.latency_by_rate[std::lround(Number(result, "rate"))] =
          LatencyCell{Number(accepted, "p50_ms"), Number(accepted, "p99_ms")};
    } else {
      return Status(wire::INVALID_ARGUMENT, "aplus-bench mode \"" + mode + "\" is not compared");
    }
  }
  std::vector<SystemRow> ordered;
  for (const auto& [key, name] : kSystems) {
    if (seen.count(key)) ordered.push_back(rows[key]);
  }
  return ordered;
}

std::string ComparisonTable(const std::vector<SystemRow>& rows) {
  std::set<long> rates;
  for (const SystemRow& row : rows) {
    for (const auto& [rate, cell] : row.latency_by_rate) rates.insert(rate);
  }
  auto group = [](long rate) {
    std::string digits = std::to_string(rate), text;
    for (size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
      text += digits[i];
    }
    return text;
  };
  std::string text = "| same run | end-to-end msg/s |";
  std::string rule = "|---|---|";
  for (long rate : rates) {
    text += " at " + group(rate) + "/s p50 / p99 ms |";
    rule += "---|";
  }
  text += " server CPU µs/msg | other processes (cores) |\n";
  rule += "---|---|\n";
  text += rule;
  for (const SystemRow& row : rows) {
    text += "| " + row.name + " | " +
            (row.end_to_end_per_second ? Rate(*row.end_to_end_per_second) : "—") + " |";
    for (long rate : rates) {
      auto cell = row.latency_by_rate.find(rate);
      text += cell == row.latency_by_rate.end()
                  ? " — |"
                  : " " + Ms(cell->second.p50_ms) + " / " + Ms(cell->second.p99_ms) + " |";
    }
    text += " " + (row.server_us_per_message ? Format("%.0f", *row.server_us_per_message) : "—") +
            " | " + (row.other_processes_cores ? Format("%.2f", *row.other_processes_cores) : "—") +
            " |\n";
  }
  const SystemRow* aplus = nullptr;
  for (const SystemRow& row : rows) {
    if (row.key == "aplus") aplus = &row;
  }
  if (aplus != nullptr) {
    for (const SystemRow& peer : rows) {
      if (peer.key == "aplus") continue;
      text += "| **A+ / " + peer.name + "** | " +
              (aplus->end_to_end_per_second && peer.end_to_end_per_second
                   ? Ratio(*aplus->end_to_end_per_second, *peer.end_to_end_per_second)
                   : "—") +
              " |";
      for (long rate : rates) {
        auto mine = aplus->latency_by_rate.find(rate);
        auto theirs = peer.latency_by_rate.find(rate);
        if (mine == aplus->latency_by_rate.end() || theirs == peer.latency_by_rate.end()) {
          text += " — |";
        } else {
          text += " " + Ratio(mine->second.p50_ms, theirs->second.p50_ms) + " / " +
                  Ratio(mine->second.p99_ms, theirs->second.p99_ms) + " |";
        }
      }
      text += " " +
              (aplus->server_us_per_message && peer.server_us_per_message
                   ? Ratio(*aplus->server_us_per_message, *peer.server_us_per_message)
                   : "—") +
              " | |\n";
    }
  }
  text +=
      "\nRatios are A+ over the peer: above 1 is better for A+ in throughput, below 1 is "
      "better for A+ in latency and CPU. Latency: publish->confirm (A+: submit->Accepted), "
      "open loop, from the scheduled send time.\n";
  for (const SystemRow& row : rows) {
    text += "- " + row.name + ": " + (row.durability.empty() ? "?" : row.durability);
    if (row.errors > 0) text += "; ERRORS: " + std::to_string(row.errors);
    if (row.duplicates > 0) text += "; duplicate deliveries: " + std::to_string(row.duplicates);
    text += "\n";
  }
  return text;
}

}  // namespace aplus::bench::peers
