// What one run of a peer records, kept by the threads that see each event, and the result
// computed from it afterwards. The payload of every message carries its serial number and its
// stamp (the scheduled send time in an open loop, the send time in a closed loop), so the
// consumer side needs no shared state with the publisher side.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/bench/peers/peer_bench_options.h"
#include "tools/bench/steady_clock.h"

namespace aplus::bench::peers {

// The benchmarks' one clock (tools/bench/steady_clock.h), under the peers' names too.
using aplus::bench::OpenLoopSchedule;
using aplus::bench::SleepUntilNs;
using aplus::bench::SteadyNowNs;

// The first 16 bytes of every payload: serial number and stamp, little-endian.
void WriteStamp(std::string& payload, uint64_t serial, int64_t stamp_ns);
// False when the payload is shorter than 16 bytes (not one of ours).
bool ReadStamp(const void* data, size_t size, uint64_t* serial, int64_t* stamp_ns);

// Errors by kind ("publish_nack", "consume_timeout", ...). Thread-safe.
class ErrorCounts {
 public:
  void Add(const std::string& kind, const std::string& detail = "");
  uint64_t Total() const;
  nlohmann::json ToJson() const;  // {"kind": n, ..., "first_details": {"kind": "text"}}

 private:
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> counts_;
  std::map<std::string, std::string> first_detail_;
};

// Thread rules: the publisher half is written by the thread (or the client library's callback
// thread) that sees confirms, the consumer half by the one that sees deliveries; the atomics
// may be read by anyone; the vectors are read after both threads are done.
struct RunRecord {
  // Samples are kept only for messages stamped inside [window_start_ns, window_end_ns).
  int64_t window_start_ns = 0;
  int64_t window_end_ns = INT64_MAX;
  bool InWindow(int64_t stamp_ns) const {
    return stamp_ns >= window_start_ns && stamp_ns < window_end_ns;
  }

  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> confirmed{0};
  std::atomic<uint64_t> consumed{0};
  std::atomic<uint64_t> redelivered{0};
  // Deliveries of a serial already consumed (at-least-once: counted, never hidden), and of a
  // serial this run never published (not one of ours).
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> foreign{0};
  std::atomic<int64_t> first_publish_ns{0};
  std::atomic<int64_t> last_confirm_ns{0};
  std::atomic<int64_t> last_consume_ns{0};
  std::vector<int64_t> confirm_samples_ns;  // publish -> confirm
  std::vector<int64_t> consume_samples_ns;  // publish -> delivered to the consumer
  std::vector<char> consumed_serials;       // sized by Plan(); [serial] once consumed
  ErrorCounts errors;

  // Before the run: room for `messages` samples and serials.
  void Plan(uint64_t messages);
  void OnConfirmed(int64_t stamp_ns, int64_t now_ns);
  // `serial` from the payload; `redelivery` as the server flagged it.
  void OnConsumed(uint64_t serial, int64_t stamp_ns, int64_t now_ns, bool redelivery);
};

// The JSON result of a run: counts, rates, latency summaries, CPU. `cpu` is from CpuWindow.
nlohmann::json RunResultJson(const PeerBenchOptions& options, RunRecord& record,
                             const nlohmann::json& cpu, const nlohmann::json& setup);
// A few lines for a person.
std::string RunResultText(const nlohmann::json& result);

// CPU of the bench, the peer server (when its pid is known) and the rest of the machine over a
// run, from /proc (tools/bench/proc_stats.h).
class CpuWindow {
 public:
  explicit CpuWindow(int server_pid);
  void Start();
  // `messages`: consumed in the window, for the server's CPU per message.
  nlohmann::json Finish(uint64_t messages) const;

 private:
  int server_pid_;
  int64_t start_ns_ = 0;
  double self_start_ = 0, server_start_ = -1, machine_busy_start_ = 0, load_start_ = 0;
};

}  // namespace aplus::bench::peers
