// Settings of one aplus-bench run, fixed by the command line before anything starts.
#pragma once

#include <cstdint>
#include <string>

namespace aplus::bench {

enum class BenchMode {
  kThroughput,
  kLatency,
  kRestart,
  kSlaMemory,
  kSlaCatchup,
  kHttp,
  kGateways,
  kPair,
};

struct BenchOptions {
  BenchMode mode = BenchMode::kThroughput;
  double seconds = 10;            // measured window (throughput, latency)
  double warmup_seconds = 1;      // load before the window opens, not counted
  uint32_t pipeline = 64;         // closed loop: submits in flight per agent connection
  double rate = 2000;             // open loop: offered submits per second, all connections
                                  // (--mode pair: 1000 unless given, issue 12's target rate)
  uint64_t cases = 1000000;       // restart, sla-memory: cases stored before the restart
  uint64_t catchup_cases = 100000;  // sla-catchup: cases whose warning and breach fall due together
  double sla_window_seconds = 40;   // sla-catchup: every partner's reply_policy, in secondes
  double sla_lead_seconds = 20;     // sla-catchup: [sla] warning_lead, in secondes
  uint64_t after_restart_submits = 10000;  // restart: submits served after the restart
  uint32_t window = 256;          // partner connections' credit window
  uint32_t threads = 2;           // client threads; connections are spread over them
  uint32_t connections_per_contact_point = 1;
  uint32_t http_connections = 32;  // http, gateways: keep-alive connections to the agent gateway
  uint32_t gateway_partners = 2;   // gateways: partner gateways started (the load's partners)
  uint32_t ack_connections = 8;    // gateways: partner software's ack connections per gateway
  // http: a running agent gateway's API ("127.0.0.1:7411") and a token of it; empty: the bench
  // starts a broker and an agent gateway of its own.
  std::string http_target;
  std::string http_token;
  std::string http_agent = "agent-noce-1";  // with http_target: the submitting agent
  size_t body_bytes = 900;        // escalation body; the whole Submit is about 1 KB
  double drain_seconds = 60;      // how long to wait for answers and deliveries at the end

  std::string broker_endpoint;    // empty: start our own broker
  // With an external broker: where the bench provisions (or finds) the network's CURVE keys
  // (DIR/*.key) and keyring (DIR/keyring) that broker was started with; empty = plain.
  std::string keys_dir;
  int broker_pid = 0;             // for CPU and RSS of a broker we did not start
  std::string broker_binary;      // empty: aplus-broker next to this program
  std::string data_dir;           // empty: a fresh directory under /tmp
  std::string config_path;        // network config given to the bench (and to its broker)
  bool keep_data = false;
  bool json = false;
};

}  // namespace aplus::bench
