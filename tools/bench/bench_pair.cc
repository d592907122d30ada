// `aplus-bench --mode pair`: issue 12's targets, measured in one run (BenchRunner::RunPair; the
// rest of the runner is in bench_runner.cc).
//
//   three etcd members (/usr/bin/etcd) <- leadership -> broker a, broker b
//   fake gateways --CURVE--> the leader --replication (CURVE, broker-peer keys)--> the standby
//
// The brokers run with the network's default [availability] (strict, a 5 s lease, 1,000 ms for
// the standby's copy) unless --config says otherwise. Every Accepted the load counts was
// answered after the standby applied the batch (docs/AVAILABILITY.md, "What waits for the
// standby"). Then the same two runners on a fresh single broker, and the ratios.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "tools/bench/bench_runner.h"

namespace aplus::bench {
namespace {

using nlohmann::json;

constexpr int kEtcdMembers = 3;
// Issue 12's targets (docs/BENCHMARKS.md): printed next to the figures, never asserted.
constexpr double kTargetRatio = 0.70;
constexpr double kTargetP99Ms = 3.0;

std::string Fixed0(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", value);
  return text;
}

double SecondsSince(int64_t start_ns) { return static_cast<double>(SteadyNowNs() - start_ns) / 1e9; }

}  // namespace

Status BenchRunner::SetUpPair() {
  if (!options_.broker_endpoint.empty()) {
    return Status(wire::INVALID_ARGUMENT, "--mode pair starts its own etcd and brokers (no --broker)");
  }
  if (!EtcdMembers::Available()) {
    return Status(wire::UNAVAILABLE, std::string(EtcdMembers::kProgram) +
                                         " is not installed (deploy/install-deps.sh installs "
                                         "etcd-server)");
  }
  auto prepared = PrepareBaseDir("pair");
  if (!prepared.ok()) return prepared.status();
  std::string base = *prepared;
  std::string pair_dir = base + "/pair";
  std::error_code ec;
  std::filesystem::create_directories(pair_dir + "/etcd", ec);
  if (ec) return Status(wire::INTERNAL, "cannot create " + pair_dir + ": " + ec.message());
  std::string binary = options_.broker_binary;
  if (binary.empty()) {
    binary = (std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "aplus-broker")
                 .string();
  }

  // Per node: requests, alerts, replication, /metrics.
  constexpr int kNodePorts = 4;
  auto picked = PickFreeLoopbackPorts(2 * kEtcdMembers + 2 * kNodePorts);
  if (!picked.ok()) return picked.status();
  const std::vector<int>& ports = *picked;

  int64_t start = SteadyNowNs();
  Progress("pair: starting " + std::to_string(kEtcdMembers) + " etcd members");
  etcd_ = std::make_unique<EtcdMembers>(
      pair_dir + "/etcd", std::vector<int>(ports.begin(), ports.begin() + 2 * kEtcdMembers));
  if (Status started = etcd_->Start(60000); !started.ok()) return started;
  double etcd_seconds = SecondsSince(start);

  // The client-facing key is the same on both nodes; each node's own key for the link between
  // them is admitted in the (shared) keyring as broker-peer.<node>.
  auto keys = NetworkKeys::Provision(config_, pair_dir + "/keys", pair_dir + "/keyring");
  if (!keys.ok()) return keys.status();
  keys_ = std::move(keys).value();
  const std::vector<std::string> names = {"a", "b"};
  for (const auto& name : names) {
    if (auto added = keys_->AddPrincipal(wire::BROKER_PEER, name); !added.ok()) {
      return added.status();
    }
  }
  std::vector<std::unique_ptr<BrokerProcess>> nodes;
  std::string endpoints;
  for (size_t i = 0; i < names.size(); ++i) {
    const int* node_ports = &ports[2 * kEtcdMembers + kNodePorts * i];
    std::string endpoint = "tcp://127.0.0.1:" + std::to_string(node_ports[0]);
    std::string alerts_endpoint = "tcp://127.0.0.1:" + std::to_string(node_ports[1]);
    std::string replication = "tcp://127.0.0.1:" + std::to_string(node_ports[2]);
    endpoints += (endpoints.empty() ? "" : ",") + endpoint;
    nodes.push_back(std::make_unique<BrokerProcess>(
        binary, pair_dir + "/broker-" + names[i], endpoint, alerts_endpoint, options_.config_path,
        pair_dir + "/broker-" + names[i] + ".log"));
    nodes.back()->set_metrics_port(node_ports[3]);
    nodes.back()->AddArguments({"--key", keys_->KeyFile("broker"), "--keyring",
                                keys_->keyring_dir(), "--node", names[i], "--etcd", etcd_->urls(),
                                "--replication-listen", replication, "--peer-key",
                                keys_->KeyFile("broker-peer." + names[i])});
  }
  Progress("pair: starting brokers a and b");
  for (auto& node : nodes) {
    if (Status started = node->Start(); !started.ok()) return started;
  }
  // Keep them owned by the runner from here on, so that an error stops them too.
  broker_ = std::move(nodes[0]);
  standby_ = std::move(nodes[1]);
  for (size_t i = 0; i < names.size(); ++i) {
    BrokerProcess& node = i == 0 ? *broker_ : *standby_;
    if (Status up = node.WaitForLog("aplus-broker node " + names[i] + " in its pair", 60000);
        !up.ok()) {
      return up;
    }
  }
  // Whichever node wins the first election leads; the other becomes its standby.
  int leader = -1;
  auto deadline = SteadyNowNs() + 60'000'000'000LL;
  while (leader < 0 && SteadyNowNs() < deadline) {
    for (size_t i = 0; i < names.size() && leader < 0; ++i) {
      BrokerProcess& node = i == 0 ? *broker_ : *standby_;
      if (node.LogContains("aplus-broker node " + names[i] + " leads")) leader = static_cast<int>(i);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (leader < 0) {
    return Status(wire::UNAVAILABLE, "no broker of the pair leads after 60 s: " +
                                         broker_->LogTail(400) + standby_->LogTail(400));
  }
  double leader_seconds = SecondsSince(start);
  if (leader == 1) std::swap(broker_, standby_);
  Progress("pair: node " + names[leader] + " leads; waiting until it names its standby");
  if (Status paired = broker_->WaitForLog("named synchronous", 60000); !paired.ok()) return paired;
  double paired_seconds = SecondsSince(start);

  endpoint_ = broker_->endpoint();
  // The leader first: operator calls (GetStats) go to it without a NOT_LEADER detour.
  broker_endpoints_ = broker_->endpoint() + "," + standby_->endpoint();
  alerts_endpoint_ = broker_->alerts_endpoint();
  metered_ = {{"standby", standby_->pid()}};
  std::vector<pid_t> etcd_pids = etcd_->pids();
  for (size_t i = 0; i < etcd_pids.size(); ++i) {
    metered_.emplace_back("etcd_m" + std::to_string(i), etcd_pids[i]);
  }
  pair_setup_ = {{"etcd_members", kEtcdMembers},
                 {"etcd_urls", etcd_->urls()},
                 {"brokers", endpoints},
                 {"leader", {{"node", names[leader]},
                             {"endpoint", broker_->endpoint()},
                             {"pid", broker_->pid()},
                             {"log", broker_->log_path()}}},
                 {"standby", {{"node", names[1 - leader]},
                              {"endpoint", standby_->endpoint()},
                              {"pid", standby_->pid()},
                              {"log", standby_->log_path()}}},
                 {"seconds_until_etcd_answers", etcd_seconds},
                 {"seconds_until_leader", leader_seconds},
                 {"seconds_until_standby_named", paired_seconds},
                 {"availability",
                  {{"mode", config_.availability.mode == AvailabilitySettings::Mode::kStrict
                                ? "strict"
                                : "degraded"},
                   {"lease_ttl_s", config_.availability.lease_ttl_s},
                   {"standby_ack_timeout_ms", config_.availability.standby_ack_timeout_ms}}}};
  return Status::Ok();
}

json BenchRunner::StopPair() {
  json exits = json::object();
  if (standby_) {
    if (standby_->running()) exits["standby"] = standby_->Stop(30000);
    standby_.reset();
  }
  if (broker_ && etcd_) {
    if (broker_->running()) exits["leader"] = broker_->Stop(30000);
    broker_.reset();
  }
  if (etcd_) {
    etcd_->Stop(10000);
    etcd_.reset();
  }
  metered_.clear();
  return exits;
}

Result<json> BenchRunner::RunPair() {
  std::string base = std::filesystem::path(broker_->data_dir()).parent_path().parent_path().string();
  json pair_setup = pair_setup_;
  Progress("pair: closed loop against the leader, " + Fixed0(options_.seconds) + " s");
  auto pair_throughput = RunThroughput();
  if (!pair_throughput.ok()) return pair_throughput.status();
  Progress("pair: open loop at " + Fixed0(options_.rate) + " submissions/s");
  auto pair_latency = RunLatency();
  if (!pair_latency.ok()) return pair_latency.status();
  json exits = StopPair();

  // The single-node figures, same run: a fresh broker alone, the same runners and workload.
  Progress("single node: a fresh broker alone, the same workload");
  options_.data_dir = base + "/single";
  if (Status ready = SetUpBroker(); !ready.ok()) return ready;
  auto single_throughput = RunThroughput();
  if (!single_throughput.ok()) return single_throughput.status();
  auto single_latency = RunLatency();
  if (!single_latency.ok()) return single_latency.status();
  exits["single"] = broker_->Stop(30000);

  double pair_rate = (*pair_throughput)["accepted_per_second"].get<double>();
  double single_rate = (*single_throughput)["accepted_per_second"].get<double>();
  double ratio = single_rate > 0 ? pair_rate / single_rate : 0.0;
  double p99 = (*pair_latency)["submit_to_accepted"].value("p99_ms", 0.0);
  bool p99_known = (*pair_latency)["submit_to_accepted"].value("samples", uint64_t{0}) > 0;
  return json{{"mode", "pair"},
              {"warmup_seconds", options_.warmup_seconds},
              {"body_bytes", options_.body_bytes},
              {"rate", options_.rate},
              {"setup", pair_setup},
              {"pair_throughput", *pair_throughput},
              {"pair_latency", *pair_latency},
              {"single_throughput", *single_throughput},
              {"single_latency", *single_latency},
              {"ratio_accepted", ratio},
              {"targets",
               {{"ratio_at_least", kTargetRatio},
                {"ratio_met", ratio >= kTargetRatio},
                {"p99_ms_under", kTargetP99Ms},
                {"p99_met", p99_known && p99 < kTargetP99Ms}}},
              {"exit_status", exits}};
}

}  // namespace aplus::bench
