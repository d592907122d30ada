// Test support: a pair of brokers (docs/AVAILABILITY.md) on a real etcd cluster, with the
// gateways of a TestNetwork given both brokers' endpoints. Real processes on loopback, each
// broker with its own data directory and its own peer key (broker-peer.<node> in the keyring).
//
//   PairNetwork pair("failover");           // three etcd members, nothing else yet
//   pair.StartNode(0); pair.StartNode(1);   // node "a" and node "b"
//   int leader = pair.WaitForLeader();      // the node whose current process leads
//   pair.network().StartAgentGateway(...);  // gateways follow the leader
//
// The link between the brokers (the failover tests): ProxyLink() before the first StartNode
// puts a TcpProxy (tests/support/tcp_proxy.h) in front of each node's replication port and
// starts the nodes with --replication-advertise naming it, so that whichever leads, its
// standby dials through a proxy; CutLink(), PauseLink() and ResumeLink() act on both.
#pragma once

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/network_keys.h"
#include "tests/support/etcd_cluster.h"
#include "tests/support/network.h"
#include "tests/support/tcp_proxy.h"

namespace aplus::testing {

class PairNetwork {
 public:
  struct Node {
    std::string name;
    std::string endpoint, alerts, replication;
    int replication_port = 0;
    std::string data_dir;
    std::unique_ptr<TcpProxy> link;  // in front of the replication port, after ProxyLink()
    std::unique_ptr<ChildProcess> process;
    int starts = 0;
    int http_port = 0;  // 0 = --http-listen off (EnableHttp)
  };

  static constexpr const char* kStrict =
      "mode = \"strict\"\nlease_ttl_s = 3\nlease_margin_ms = 1000\n";
  // `availability`: the body of the config's [availability] section. `edit_config`, when
  // given, may change the rest of the network config's TOML text (e.g. a short retention).
  explicit PairNetwork(const std::string& label, const std::string& availability = kStrict,
                       int etcd_members = 3,
                       const std::function<void(std::string&)>& edit_config = nullptr)
      : network_(label), etcd_(etcd_members, label + "-etcd") {
    for (const char* name : {"a", "b"}) {
      Node node;
      node.name = name;
      node.endpoint = Endpoint(FreePort());
      node.alerts = Endpoint(FreePort());
      node.replication_port = FreePort();
      node.replication = Endpoint(node.replication_port);
      node.data_dir = network_.dir().Sub(std::string("broker-") + name);
      auto added = network_.keys().AddPrincipal(wire::BROKER_PEER, name, "");
      if (!added.ok()) throw std::runtime_error("cannot add a peer key: " + added.status().ToString());
      nodes_.push_back(std::move(node));
    }
    config_path_ = network_.dir().Sub("pair.toml");
    std::string toml(DefaultNetworkToml());
    if (edit_config) edit_config(toml);
    std::ofstream config(config_path_);
    config << toml << "\n[availability]\n" << availability;
    network_.SetBrokerEndpoints(nodes_[0].endpoint + "," + nodes_[1].endpoint,
                                nodes_[0].alerts + "," + nodes_[1].alerts);
  }

  TestNetwork& network() { return network_; }
  EtcdCluster& etcd() { return etcd_; }
  Node& node(int i) { return nodes_.at(i); }
  const std::string& config_path() const { return config_path_; }

  // Gives node i a metrics and health listener on a free loopback port from its next start
  // on (the same port at every restart); returns its base URL ("http://127.0.0.1:N").
  std::string EnableHttp(int i) {
    Node& node = nodes_.at(i);
    if (node.http_port == 0) node.http_port = FreePort();
    return "http://127.0.0.1:" + std::to_string(node.http_port);
  }

  // Starts node i (again); true once it is up (as a standby or waiting to lead). `environment`
  // ("NAME=value", e.g. LD_PRELOAD of the fsync shim) is added to the process's.
  bool StartNode(int i, std::vector<std::string> extra = {},
                 std::vector<std::string> environment = {}) {
    Node& node = nodes_.at(i);
    std::vector<std::string> args = {
        "--config", config_path_, "--node", node.name, "--etcd", etcd_.urls(),
        "--listen", node.endpoint, "--alerts", node.alerts,
        "--replication-listen", node.replication, "--data-dir", node.data_dir,
        "--key", network_.keys().KeyFile("broker"),
        "--peer-key", network_.keys().KeyFile("broker-peer." + node.name),
        "--keyring", network_.keys().keyring_dir(), "--keyring-poll-ms", "100",
        "--http-listen",
        node.http_port == 0 ? std::string("off") : "127.0.0.1:" + std::to_string(node.http_port)};
    if (node.link) {
      args.push_back("--replication-advertise");
      args.push_back(node.link->endpoint());
    }
    for (auto& arg : extra) args.push_back(arg);
    node.process = std::make_unique<ChildProcess>(
        "aplus-broker", args,
        network_.dir().Sub("broker-" + node.name + "-" + std::to_string(++node.starts) + ".log"),
        std::move(environment));
    return node.process->WaitForLog("aplus-broker node " + node.name + " in its pair", 15000);
  }

  // Node 0 first (it wins the first election), then the other, until the leader names it its
  // synchronous standby: the leader's index, or -1 (Logs() says why). `environment`, when
  // given, is each node's added environment (e.g. the fsync shim).
  int StartPaired(const std::function<std::vector<std::string>(int node)>& environment = nullptr) {
    auto environment_of = [&](int i) {
      return environment ? environment(i) : std::vector<std::string>{};
    };
    if (!StartNode(0, {}, environment_of(0))) return -1;
    int leader = WaitForLeader();
    if (leader < 0 || !StartNode(1 - leader, {}, environment_of(1 - leader))) return -1;
    return WaitPaired(leader) ? leader : -1;
  }

  // Waits until node i's current process has exited (true) or `timeout_ms` passed.
  bool WaitForExit(int i, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (nodes_.at(i).process->Running()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  // `aplus keyring remove` / `aplus keyring add` of node i's broker-peer key, as an operator
  // runs them (the keyring both nodes read here): the command's exit status and output.
  std::pair<int, std::string> RevokePeerKey(int i) {
    return network_.Aplus("keyring remove --keyring " + network_.keys().keyring_dir() + " " +
                          KeyNameFor(wire::BROKER_PEER, nodes_.at(i).name));
  }
  std::pair<int, std::string> AdmitPeerKey(int i) {
    const std::string& name = nodes_.at(i).name;
    return network_.Aplus("keyring add --keyring " + network_.keys().keyring_dir() + " --name " +
                          KeyNameFor(wire::BROKER_PEER, name) + " --role broker-peer --principal " +
                          name + " --public-key " +
                          network_.keys().PublicFile("broker-peer." + name));
  }

  // Whether node i's current process leads (it said so, and runs).
  bool Leads(int i) {
    Node& node = nodes_.at(i);
    return node.process && node.process->Running() &&
           node.process->Log().find("aplus-broker node " + node.name + " leads") !=
               std::string::npos;
  }
  // The node that leads within `timeout_ms`, or -1.
  int WaitForLeader(int timeout_ms = 20000, int not_this = -1) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < 2; ++i) {
        if (i != not_this && Leads(i)) return i;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  // Whether node i's current process (a leader) has a synchronous standby named in etcd.
  bool WaitPaired(int leader, int timeout_ms = 30000) {
    return nodes_.at(leader).process->WaitForLog("named synchronous", timeout_ms);
  }
  // The epoch node i's current process said it leads in ("leads (epoch N)"), or 0.
  int64_t EpochOf(int i) {
    Node& node = nodes_.at(i);
    if (!node.process) return 0;
    std::string log = node.process->Log();
    size_t at = log.find("aplus-broker node " + node.name + " leads (epoch ");
    if (at == std::string::npos) return 0;
    return std::atoll(log.c_str() + log.find("(epoch ", at) + 7);
  }

  // See the header comment: call before the first StartNode. Throws when a proxy cannot listen.
  void ProxyLink() {
    for (auto& node : nodes_) {
      auto proxy = TcpProxy::Start(node.replication_port);
      if (!proxy.ok()) throw std::runtime_error("no link proxy: " + proxy.status().ToString());
      node.link = std::move(proxy).value();
    }
  }
  void CutLink() {
    for (auto& node : nodes_) node.link->Cut();
  }
  void PauseLink() {
    for (auto& node : nodes_) node.link->Pause();
  }
  void ResumeLink() {
    for (auto& node : nodes_) node.link->Resume();
  }

  std::string Logs() {
    std::string all;
    for (auto& node : nodes_) {
      if (node.process) all += "--- broker " + node.name + ":\n" + node.process->Log();
    }
    return all;
  }

 private:
  TestNetwork network_;
  EtcdCluster etcd_;
  std::vector<Node> nodes_;
  std::string config_path_;
};

// Submits `subject` with idempotency key `key` again and again (3 s per try) until a leader
// accepts it or `timeout_ms` passed: the Accepted, or nullopt. The same key each time: one case
// in the end, however many tries (the clients' retry across a failover).
inline std::optional<wire::Accepted> SubmitUntilAccepted(SyncClient& client,
                                                         const std::string& subject,
                                                         const std::string& key,
                                                         int timeout_ms = 30000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto answer = client.Call(SubmitRequest(subject, key), 3000);
    if (answer.ok() && answer->has_accepted()) return answer->accepted();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return std::nullopt;
}

}  // namespace aplus::testing
