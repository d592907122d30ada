// The benchmark's fleet of fake gateways: every contact point of the network as an agent
// connection (or several), every partner as a partner connection, spread over a few client
// threads (LoadWorker). The main thread steers it through LoadControl and reads the summed
// counters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/network_config.h"
#include "common/status.h"
#include "tools/bench/load_control.h"
#include "tools/bench/load_worker.h"

namespace aplus::bench {

// A snapshot of every worker's counters, summed.
struct LoadTotals {
  uint64_t submits_sent = 0, accepted = 0, duplicates = 0, errors = 0, outstanding = 0;
  uint64_t deliveries = 0, redeliveries = 0, acked = 0, send_would_block = 0, unexpected = 0;
  uint64_t pongs = 0, ready_connections = 0, failed_connections = 0;
  uint64_t errors_by_code[kErrorCodeSlots] = {};
};

struct GeneratorShape {
  uint32_t threads = 2;
  uint32_t connections_per_contact_point = 1;
};

// Thread rules: main thread only; the workers run on their own threads between Start() and
// Stop().
class LoadGenerator {
 public:
  LoadGenerator(zmq::context_t& context, std::string endpoint, const NetworkConfig& config,
                Workload workload, GeneratorShape shape);
  ~LoadGenerator();

  // Starts the workers and waits until every connection is welcomed (partners: subscribed).
  Status Connect(int timeout_ms);
  LoadControl& control() { return control_; }
  LoadTotals Totals() const;
  size_t agent_connections() const { return agent_connections_; }
  size_t partner_connections() const { return partner_connections_; }
  const Workload& workload() const { return workload_; }

  // Waits until `done(totals)` holds or `timeout_ms` passes; true when it held.
  template <typename Predicate>
  bool WaitFor(Predicate done, int timeout_ms, int poll_ms = 10);
  // Sends one Ping on every connection and waits for every Pong: afterwards everything the
  // connections sent before, DeliveryAcks included, is applied and committed by the broker.
  bool Flush(int timeout_ms);
  // Stops and joins the workers (idempotent).
  void Stop();

  // After Stop(): the samples of every worker, merged.
  std::vector<int64_t> TakeAcceptSamples();
  std::vector<int64_t> TakeDeliverySamples();
  std::vector<KnownCase> KnownCases() const;

 private:
  Workload workload_;
  LoadControl control_;
  std::vector<std::unique_ptr<LoadWorker>> workers_;
  size_t agent_connections_ = 0;
  size_t partner_connections_ = 0;
  bool stopped_ = false;
};

// ~`bytes` of plausible French escalation text.
std::string EscalationBody(size_t bytes);
// Every partner id of the network, in config order.
std::vector<std::string> PartnerIds(const NetworkConfig& config);
// A random hex tag: idempotency keys of two generators (or two runs) never collide.
std::string RandomTag();

}  // namespace aplus::bench

#include <chrono>
#include <thread>

namespace aplus::bench {

template <typename Predicate>
bool LoadGenerator::WaitFor(Predicate done, int timeout_ms, int poll_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (done(Totals())) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

}  // namespace aplus::bench
