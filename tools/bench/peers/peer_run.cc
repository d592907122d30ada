#include "tools/bench/peers/peer_run.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "tools/bench/latency_summary.h"
#include "tools/bench/proc_stats.h"

namespace aplus::bench::peers {

using nlohmann::json;

void WriteStamp(std::string& payload, uint64_t serial, int64_t stamp_ns) {
  if (payload.size() < 16) payload.resize(16);
  for (int i = 0; i < 8; ++i) {
    payload[i] = static_cast<char>((serial >> (8 * i)) & 0xff);
    payload[8 + i] = static_cast<char>((static_cast<uint64_t>(stamp_ns) >> (8 * i)) & 0xff);
  }
}

bool ReadStamp(const void* data, size_t size, uint64_t* serial, int64_t* stamp_ns) {
  if (data == nullptr || size < 16) return false;
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint64_t s = 0, t = 0;
  for (int i = 0; i < 8; ++i) {
    s |= static_cast<uint64_t>(bytes[i]) << (8 * i);
    t |= static_cast<uint64_t>(bytes[8 + i]) << (8 * i);
  }
  *serial = s;
  *stamp_ns = static_cast<int64_t>(t);
  return true;
}

void ErrorCounts::Add(const std::string& kind, const std::string& detail) {
  std::lock_guard lock(mutex_);
  ++counts_[kind];
  if (!detail.empty() && !first_detail_.count(kind)) first_detail_[kind] = detail;
}

uint64_t ErrorCounts::Total() const {
  std::lock_guard lock(mutex_);
  uint64_t total = 0;
  for (const auto& [kind, count] : counts_) total += count;
  return total;
}

json ErrorCounts::ToJson() const {
  std::lock_guard lock(mutex_);
  json out = json::object();
  for (const auto& [kind, count] : counts_) out[kind] = count;
  if (!first_detail_.empty()) out["first_details"] = first_detail_;
  return out;
}

void RunRecord::OnConfirmed(int64_t stamp_ns, int64_t now_ns) {
  confirmed.fetch_add(1, std::memory_order_relaxed);
  last_confirm_ns.store(now_ns, std::memory_order_relaxed);
  if (InWindow(stamp_ns)) confirm_samples_ns.push_back(now_ns - stamp_ns);
}

void RunRecord::Plan(uint64_t messages) {
  confirm_samples_ns.reserve(messages);
  consume_samples_ns.reserve(messages);
  consumed_serials.assign(messages, 0);
}

void RunRecord::OnConsumed(uint64_t serial, int64_t stamp_ns, int64_t now_ns, bool redelivery) {
  if (serial >= consumed_serials.size()) {
    foreign.fetch_add(1, std::memory_order_relaxed);
    errors.Add("consume_foreign_message", "serial " + std::to_string(serial));
    return;
  }
  if (consumed_serials[serial]) {
    duplicates.fetch_add(1, std::memory_order_relaxed);
    if (redelivery) redelivered.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  consumed_serials[serial] = 1;
  consumed.fetch_add(1, std::memory_order_relaxed);
  last_consume_ns.store(now_ns, std::memory_order_relaxed);
  if (redelivery) {
    redelivered.fetch_add(1, std::memory_order_relaxed);
  } else if (InWindow(stamp_ns)) {
    consume_samples_ns.push_back(now_ns - stamp_ns);
  }
}

namespace {

double PerSecond(uint64_t count, int64_t from_ns, int64_t to_ns) {
  if (count == 0 || to_ns <= from_ns) return 0;
  return static_cast<double>(count) * 1e9 / static_cast<double>(to_ns - from_ns);
}

std::string Fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

double SelfCpuSeconds() {
  auto cpu = ProcessCpuSeconds(getpid());
  return cpu.ok() ? *cpu : 0.0;
}

}  // namespace

json RunResultJson(const PeerBenchOptions& options, RunRecord& record, const json& cpu,
                   const json& setup) {
  LatencySummary confirm = LatencySummary::Of(record.confirm_samples_ns);
  LatencySummary consume = LatencySummary::Of(record.consume_samples_ns);
  int64_t first = record.first_publish_ns.load();
  json result = {{"tool", "aplus-peer-bench"},
                 {"peer", PeerKindName(options.peer)},
                 {"server_syncs", options.server_syncs},
                 {"mode", options.mode == PeerMode::kLatency ? "latency" : "throughput"},
                 {"setup", setup},
                 {"message_bytes", options.message_bytes},
                 {"max_unconfirmed", options.max_unconfirmed},
                 {"prefetch", options.prefetch},
                 {"planned", options.PlannedMessages()},
                 {"published", record.published.load()},
                 {"confirmed", record.confirmed.load()},
                 {"consumed", record.consumed.load()},
                 {"redelivered", record.redelivered.load()},
                 {"duplicates", record.duplicates.load()},
                 {"errors", record.errors.ToJson()},
                 {"error_count", record.errors.Total()},
                 {"publish_to_confirm", confirm.ToJson()},
                 {"publish_to_consumed", consume.ToJson()},
                 {"cpu", cpu}};
  if (options.mode == PeerMode::kLatency) {
    result["rate"] = options.rate;
    result["seconds"] = options.seconds;
    result["warmup_seconds"] = options.warmup_seconds;
  } else {
    // End to end: acknowledged by the consumer, from the first publish to the last ack.
    result["end_to_end_per_second"] =
        PerSecond(record.consumed.load(), first, record.last_consume_ns.load());
    result["publish_confirm_per_second"] =
        PerSecond(record.confirmed.load(), first, record.last_confirm_ns.load());
    result["seconds"] = static_cast<double>(record.last_consume_ns.load() - first) / 1e9;
  }
  return result;
}

std::string RunResultText(const json& result) {
  std::string text = result["peer"].get<std::string>() + " " + result["mode"].get<std::string>() +
                     ": published " + std::to_string(result["published"].get<uint64_t>()) +
                     ", confirmed " + std::to_string(result["confirmed"].get<uint64_t>()) +
                     ", consumed " + std::to_string(result["consumed"].get<uint64_t>()) + " (+" +
                     std::to_string(result["duplicates"].get<uint64_t>()) +
                     " duplicates), errors " + result["errors"].dump() + "\n";
  if (result.contains("end_to_end_per_second")) {
    text += "  end to end " + Fixed(result["end_to_end_per_second"], 0) +
            " msg/s, publish->confirm " + Fixed(result["publish_confirm_per_second"], 0) +
            " msg/s\n";
  } else {
    text += "  at " + Fixed(result["rate"], 0) + " msg/s\n";
  }
  auto latency = [](const json& summary) {
    if (summary["samples"].get<uint64_t>() == 0) return std::string("no samples");
    return "p50 " + Fixed(summary["p50_ms"], 3) + " ms  p99 " + Fixed(summary["p99_ms"], 3) +
           " ms  p99.9 " + Fixed(summary["p999_ms"], 3) + " ms  max " +
           Fixed(summary["max_ms"], 3) + " ms  (" +
           std::to_string(summary["samples"].get<uint64_t>()) + " samples)";
  };
  text += "  publish->confirm  " + latency(result["publish_to_confirm"]) + "\n";
  text += "  publish->consumed " + latency(result["publish_to_consumed"]) + "\n";
  const json& cpu = result["cpu"];
  text += "  CPU: ";
  if (cpu.contains("server_us_per_message")) {
    text += "server " + Fixed(cpu["server_us_per_message"], 1) + " us per message (" +
            Fixed(cpu["server_cores"], 2) + " cores), ";
  }
  text += "bench " + Fixed(cpu["bench_cores"], 2) + " cores";
  if (cpu.contains("other_processes_cores")) {
    text += ", other processes " + Fixed(cpu["other_processes_cores"], 2) + " cores";
  }
  text += " of " + std::to_string(cpu["cores"].get<int>()) + "\n";
  return text;
}

CpuWindow::CpuWindow(int server_pid) : server_pid_(server_pid) {}

void CpuWindow::Start() {
  start_ns_ = SteadyNowNs();
  self_start_ = SelfCpuSeconds();
  machine_busy_start_ = ReadMachineCpu().busy_seconds;
  load_start_ = LoadAverage1();
  if (server_pid_ > 0) {
    auto cpu = ProcessCpuSeconds(server_pid_);
    if (cpu.ok()) server_start_ = *cpu;
  }
}

json CpuWindow::Finish(uint64_t messages) const {
  double seconds = std::max(1e-9, static_cast<double>(SteadyNowNs() - start_ns_) / 1e9);
  double self = SelfCpuSeconds() - self_start_;
  double busy = ReadMachineCpu().busy_seconds - machine_busy_start_;
  json cpu = {{"cores", OnlineCores()},
              {"load_average_start", load_start_},
              {"load_average_end", LoadAverage1()},
              {"seconds", seconds},
              {"bench_cores", self / seconds},
              {"machine_busy_cores", busy / seconds}};
  if (server_start_ >= 0) {
    auto now = ProcessCpuSeconds(server_pid_);
    if (now.ok()) {
      double server = *now - server_start_;
      cpu["server_cpu_seconds"] = server;
      cpu["server_cores"] = server / seconds;
      cpu["server_us_per_message"] =
          messages == 0 ? 0.0 : server * 1e6 / static_cast<double>(messages);
      cpu["other_processes_cores"] = std::max(0.0, (busy - self - server) / seconds);
    }
  }
  return cpu;
}

}  // namespace aplus::bench::peers
