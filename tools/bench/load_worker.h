// One client thread of the benchmark: it owns a few DEALER connections to the broker, some
// playing agent gateways (they submit), some playing partner gateways (they subscribe and
// acknowledge every delivery), and serves them all from one zmq::poll loop. Nothing blocks:
// submits are pipelined (closed loop, K in flight per connection) or sent on a timer (open
// loop, at a fixed rate, latency measured from the scheduled send time so that a slow broker
// cannot hide its delay by slowing the sender down: no coordinated omission).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/network_keys.h"
#include "tools/bench/load_control.h"

namespace aplus::bench {

struct AgentConnectionSpec {
  size_t index = 0;                  // 0..total agent connections - 1 (open-loop phase offset)
  std::string contact_point;
  std::vector<std::string> agents;   // agent ids of the contact point, used in turn
};

struct PartnerConnectionSpec {
  std::string partner;
  std::string territory;             // per-territory partners
};

struct Workload {
  bool open_loop = false;
  uint32_t pipeline = 64;            // closed loop
  double rate = 0;                   // open loop: submits per second over all agent connections
  size_t total_agent_connections = 1;
  uint32_t window = 256;             // partner credit window
  std::vector<std::string> partners; // submit targets, used round robin
  std::string body;                  // escalation body
  std::string run_tag;               // makes idempotency keys unique per generator
  const NetworkKeys* keys = nullptr; // CURVE keys of every principal; null = plain (--insecure)
};

// A case the benchmark created and can ask for later (restart mode).
struct KnownCase {
  std::string case_id;
  std::string contact_point;
};

// Thread rules: constructed and started by the main thread; the worker thread owns the sockets
// and the samples; counters() may be read by anyone at any time; the Take/known methods only
// after Join().
class LoadWorker {
 public:
  LoadWorker(zmq::context_t& context, std::string endpoint, const Workload& workload,
             LoadControl& control, std::vector<AgentConnectionSpec> agents,
             std::vector<PartnerConnectionSpec> partners);
  ~LoadWorker();
  LoadWorker(const LoadWorker&) = delete;
  LoadWorker& operator=(const LoadWorker&) = delete;

  void Start();
  void Join();

  const LoadCounters& counters() const { return counters_; }
  size_t connection_count() const { return agent_specs_.size() + partner_specs_.size(); }
  // Submit -> Accepted and submit -> Delivery latencies (ns) of submits inside the window.
  std::vector<int64_t>& accept_samples() { return accept_samples_; }
  std::vector<int64_t>& delivery_samples() { return delivery_samples_; }
  const std::vector<KnownCase>& known_cases() const { return known_cases_; }

 private:
  struct Connection;
  void Run();
  void Receive(Connection& connection, int64_t now_ns);
  void OnAnswer(Connection& connection, const wire::Envelope& envelope, int64_t now_ns);
  void OnDelivery(Connection& connection, const wire::Delivery& delivery, int64_t now_ns);
  void FlushAcks(Connection& connection);
  void MarkReady(Connection& connection);
  void SendSubscribe(Connection& connection, int64_t now_ns);
  // The broker forgot this session (a restart): Hello again, then Subscribe (partners).
  void Rehello(Connection& connection, int64_t now_ns);
  void SendSubmits(Connection& connection, int64_t now_ns);
  bool SendSubmit(Connection& connection, int64_t scheduled_ns);
  bool SendRequest(Connection& connection, wire::Envelope& envelope, int kind, int64_t stamp_ns);
  bool SendFrame(Connection& connection, const wire::Envelope& envelope);
  int64_t NextDueNs(const Connection& connection) const;
  bool InWindow(int64_t stamp_ns) const;

  zmq::context_t& context_;
  const std::string endpoint_;
  const Workload workload_;
  LoadControl& control_;
  const std::vector<AgentConnectionSpec> agent_specs_;
  const std::vector<PartnerConnectionSpec> partner_specs_;
  std::vector<std::unique_ptr<Connection>> connections_;
  LoadCounters counters_;
  std::vector<int64_t> accept_samples_;
  std::vector<int64_t> delivery_samples_;
  std::vector<KnownCase> known_cases_;
  wire::Envelope scratch_;  // reused for every outgoing Submit and every incoming frame
  wire::Envelope incoming_;
  std::thread thread_;
};

}  // namespace aplus::bench
