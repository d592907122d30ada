// The benchmark modes (throughput, latency, restart, sla-memory, sla-catchup, http, gateways,
// pair), end to end: set
// up a broker (started here, or one already running), drive it with a LoadGenerator, and
// report what was measured, as text or one JSON object. Every figure comes from answers
// actually received, from alerts the broker stored, or from /proc; errors are counted and
// printed, never dropped.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/network_config.h"
#include "common/network_keys.h"
#include "common/status.h"
#include "tools/bench/bench_options.h"
#include "tools/bench/broker_process.h"
#include "tools/bench/etcd_members.h"
#include "tools/bench/load_generator.h"

namespace aplus::bench {

// Thread rules: main thread only.
class BenchRunner {
 public:
  BenchRunner(BenchOptions options, NetworkConfig config);
  ~BenchRunner();

  // Runs the selected mode; returns the process exit code (0 = ran to the end, whatever the
  // figures; 1 = could not run).
  int Run();

 private:
  Status SetUpBroker();
  Result<nlohmann::json> RunThroughput();
  Result<nlohmann::json> RunLatency();
  Result<nlohmann::json> RunHttp();
  // --mode gateways (bench_gateways.cc): real agent and partner gateways, then broker-only.
  Result<nlohmann::json> RunGateways();
  // --mode pair (bench_pair.cc): three etcd members and two brokers as a pair (SetUpPair), the
  // throughput and latency runners against the leader, then both again on a fresh single
  // broker, and the ratio.
  Status SetUpPair();
  // The directory the bench's own servers keep their data in: --data-dir (created, and
  // refused when `fresh_subdir` is already there) or a new temporary one (removed at the end).
  Result<std::string> PrepareBaseDir(const std::string& fresh_subdir);
  Result<nlohmann::json> RunPair();
  // Stops the standby, then the leader, then etcd (a leader stopped first would hand over to
  // its standby; etcd stopped first would leave both waiting on it); their exit statuses.
  nlohmann::json StopPair();
  Result<nlohmann::json> RunRestart();
  Result<nlohmann::json> RunSlaCatchup();
  // sla-catchup: the network (built-in, or --config) with every partner's reply_policy and the
  // warning lead replaced by short durations; parsed into config_, written by SetUpBroker.
  Status PrepareSlaConfig();
  // Alerts the broker has stored, counted by ListAlerts per partner and kind (each answer holds
  // at most 10,000: "truncated" says when one was full).
  nlohmann::json CountStoredAlerts();
  // A request from an operator session; the answer or the error.
  Result<wire::Envelope> OperatorCall(wire::Envelope request, int timeout_ms);

  std::unique_ptr<LoadGenerator> MakeGenerator(bool open_loop);
  // Waits until every submit is answered and every accepted escalation delivered and acked,
  // then flushes; returns the totals then (and whether the drain completed).
  nlohmann::json Drain(LoadGenerator& generator, bool* complete);
  nlohmann::json BrokerStats();
  nlohmann::json BrokerSetupJson();
  pid_t broker_pid() const;
  void Progress(const std::string& line) const;
  static std::string FillProgress(uint64_t accepted, uint64_t cases);

  BenchOptions options_;
  NetworkConfig config_;
  zmq::context_t context_{1};
  std::string work_dir_;  // our temp dir (started broker only)
  // The broker the load generators and probes talk to: the leader, with a pair's list.
  std::string endpoint_;
  // As given to --broker (one endpoint or a pair's list): what gateways and operator calls use,
  // so that they follow the leader (common/endpoint_list.h). endpoint_ when the bench started
  // its own broker.
  std::string broker_endpoints_;
  std::string alerts_endpoint_;
  // CURVE keys of the broker and of every principal; unset = plain (an --insecure broker).
  std::optional<NetworkKeys> keys_;
  std::optional<CurveClientKeys> ClientKeys(wire::Role role, const std::string& principal) const {
    return keys_ ? keys_->ClientKeys(role, principal) : std::nullopt;
  }
  std::string OperatorId() const;
  std::string sla_config_text_;  // sla-catchup: the config written for the broker
  // The measured broker: the one started by the bench, or a pair's leader (--mode pair).
  std::unique_ptr<BrokerProcess> broker_;
  // --mode pair: the leader's standby and the etcd members; what SetUpPair saw (timings).
  std::unique_ptr<BrokerProcess> standby_;
  std::unique_ptr<EtcdMembers> etcd_;
  nlohmann::json pair_setup_;
  // Processes besides the broker whose CPU the throughput and latency runners report
  // (cpu["programs"]): the standby and the etcd members.
  std::vector<std::pair<std::string, pid_t>> metered_;
  // The partners the fake agents submit to; empty = every partner of the network.
  std::vector<std::string> load_partners_;
};

// Counts and per-code errors of `totals` as JSON.
nlohmann::json TotalsJson(const LoadTotals& totals);

}  // namespace aplus::bench
