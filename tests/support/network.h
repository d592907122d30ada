// Test support: a whole A+ network of real processes on free loopback ports, each with its own
// data directory, plus clients speaking to them. Everything runs with CURVE, as in production:
// the network's keys and keyring are provisioned in the test directory (common/network_keys.h)
// and every process and client gets the key of the principal it plays.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "common/network_config.h"
#include "common/network_keys.h"
#include "common/sync_client.h"
#include "tests/support/child_process.h"

namespace aplus::testing {

class TestNetwork {
 public:
  explicit TestNetwork(const std::string& label) : dir_(label) {
    broker_endpoint_ = Endpoint(FreePort());
    alerts_endpoint_ = Endpoint(FreePort());
    agent_endpoint_ = Endpoint(FreePort());
    partner_endpoint_ = Endpoint(FreePort());
    auto keys = NetworkKeys::Provision(DefaultNetworkConfig(), dir_.Sub("keys"), dir_.Sub("keyring"));
    if (!keys.ok()) throw std::runtime_error("cannot provision test keys: " + keys.status().ToString());
    keys_ = std::make_unique<NetworkKeys>(std::move(keys).value());
  }

  // The CURVE keys of a principal; made (and added to the keyring) on first use when the
  // default network does not have them. A running broker picks a new key up at its next
  // keyring poll (100 ms here), so this waits a little after adding one.
  CurveClientKeys Keys(wire::Role role, const std::string& principal,
                       const std::string& territory = "") {
    if (auto known = keys_->ClientKeys(role, principal, territory)) return *known;
    auto added = keys_->AddPrincipal(role, principal, territory);
    if (!added.ok()) throw std::runtime_error("cannot add a test key: " + added.status().ToString());
    if (broker_ && broker_->Running()) std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return *added;
  }
  NetworkKeys& keys() { return *keys_; }
  std::string KeyFile(wire::Role role, const std::string& principal,
                      const std::string& territory = "") {
    Keys(role, principal, territory);
    return keys_->KeyFile(KeyNameFor(role, principal, territory));
  }
  std::string BrokerPublicKeyFile() const { return keys_->PublicFile("broker"); }

  // The broker endpoints the gateways and `aplus` are given from now on (a pair of brokers:
  // "tcp://a,tcp://b"; tests/support/pair_network.h). StartBroker is not for a pair.
  void SetBrokerEndpoints(const std::string& endpoints, const std::string& alerts) {
    broker_endpoint_ = endpoints;
    alerts_endpoint_ = alerts;
  }

  // Extra environment ("NAME=value") for the next starts of `program` (e.g. "aplus-broker"),
  // such as LD_PRELOAD of the fsync shim; an empty list starts it with the test's own.
  void SetEnvironment(const std::string& program, std::vector<std::string> environment) {
    environments_[program] = std::move(environment);
  }

  // Starts (or restarts) the broker; extra flags e.g. {"--ack-lease-ms", "500"}.
  bool StartBroker(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", broker_endpoint_, "--alerts", alerts_endpoint_,
                                     "--data-dir", dir_.Sub("broker"),
                                     "--key", keys_->KeyFile("broker"),
                                     "--keyring", keys_->keyring_dir(),
                                     "--keyring-poll-ms", "100"};
    // Metrics and health (default 127.0.0.1:7402) are off unless the test asked for them
    // (EnableBrokerHttp) or passes its own --http-listen: parallel tests would collide.
    if (std::find(extra.begin(), extra.end(), "--http-listen") == extra.end()) {
      if (broker_http_port_ == 0) {
        args.insert(args.end(), {"--http-listen", "off"});
      } else {
        args.insert(args.end(), {"--http-listen", "127.0.0.1:" + std::to_string(broker_http_port_),
                                 "--token-dir", BrokerTokenDir()});
      }
    }
    for (auto& arg : extra) args.push_back(arg);
    // A log per start, so that a restart waits for its own ready line.
    broker_ = std::make_unique<ChildProcess>("aplus-broker", args,
                                             dir_.Sub("broker-" + std::to_string(++starts_) + ".log"),
                                             EnvironmentOf("aplus-broker"));
    return broker_->WaitForLog("aplus-broker ready on " + broker_endpoint_);
  }
  bool StartAgentGateway(const std::string& contact_point = "mairie-perche-en-noce",
                         std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--contact-point", contact_point, "--broker", broker_endpoint_,
                                     "--listen", agent_endpoint_, "--data-dir",
                                     dir_.Sub("agent-" + contact_point),
                                     "--key", KeyFile(wire::AGENT_GATEWAY, contact_point),
                                     "--broker-key", BrokerPublicKeyFile()};
    // Several gateways run on one test machine: the HTTP API (default 127.0.0.1:7411) is off
    // unless the test asked for it (EnableAgentHttp) or passes its own --http-listen.
    bool own_http = std::find(extra.begin(), extra.end(), "--http-listen") != extra.end();
    if (!own_http && agent_http_port_ == 0) {
      args.insert(args.end(), {"--http-listen", "off"});
    } else if (!own_http) {
      args.insert(args.end(), {"--http-listen", "127.0.0.1:" + std::to_string(agent_http_port_),
                               "--token-dir", AgentTokenDir()});
    }
    for (auto& arg : extra) args.push_back(arg);
    agent_gateway_ = std::make_unique<ChildProcess>("aplus-agent-gateway", args,
                                                    dir_.Sub("agent-" + contact_point + "-" + std::to_string(++starts_) + ".log"),
                                                    EnvironmentOf("aplus-agent-gateway"));
    return agent_gateway_->WaitForLog("ready on " + agent_endpoint_);
  }
  bool StartPartnerGateway(const std::string& partner = "france-travail",
                           std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--partner", partner, "--broker", broker_endpoint_, "--listen",
                                     partner_endpoint_, "--data-dir", dir_.Sub("partner-" + partner)};
    std::string territory;
    for (size_t i = 0; i + 1 < extra.size(); ++i) {
      if (extra[i] == "--territory") territory = extra[i + 1];
    }
    args.insert(args.end(), {"--key", KeyFile(wire::PARTNER_GATEWAY, partner, territory),
                             "--broker-key", BrokerPublicKeyFile()});
    // No HTTP listener unless the test asks for one (`--http-listen 127.0.0.1:<FreePort()>`):
    // the default port would collide between tests running in parallel.
    if (std::find(extra.begin(), extra.end(), "--http-listen") == extra.end()) {
      args.insert(args.end(), {"--http-listen", "off"});
    }
    for (auto& arg : extra) args.push_back(arg);
    partner_gateway_ = std::make_unique<ChildProcess>("aplus-partner-gateway", args,
                                                      dir_.Sub("partner-" + partner + "-" + std::to_string(++starts_) + ".log"),
                                                      EnvironmentOf("aplus-partner-gateway"));
    return partner_gateway_->WaitForLog("ready on " + partner_endpoint_);
  }

  // The next StartBroker serves GET /metrics and GET /health on a free loopback port (the same
  // one at every restart) with tokens in BrokerTokenDir(); returns its base URL.
  std::string EnableBrokerHttp() {
    if (broker_http_port_ == 0) broker_http_port_ = FreePort();
    return BrokerHttpUrl();
  }
  std::string BrokerHttpUrl() const {
    return "http://127.0.0.1:" + std::to_string(broker_http_port_);
  }
  std::string BrokerTokenDir() { return dir_.Sub("broker-tokens"); }
  std::string BrokerDataDir() { return dir_.Sub("broker"); }
  std::string AgentGatewayDataDir(const std::string& contact_point) {
    return dir_.Sub("agent-" + contact_point);
  }
  std::string PartnerGatewayDataDir(const std::string& partner) {
    return dir_.Sub("partner-" + partner);
  }

  // The next StartAgentGateway serves the HTTP API on a free loopback port (the same one at
  // every restart) with tokens in AgentTokenDir(); returns its base URL ("http://127.0.0.1:N").
  std::string EnableAgentHttp() {
    if (agent_http_port_ == 0) agent_http_port_ = FreePort();
    return AgentHttpUrl();
  }
  std::string AgentHttpUrl() const {
    return "http://127.0.0.1:" + std::to_string(agent_http_port_);
  }
  std::string AgentTokenDir() { return dir_.Sub("agent-tokens"); }

  // A client of the broker as a given principal (a fake gateway, or an operator).
  std::unique_ptr<SyncClient> BrokerClient(wire::Role role, const std::string& principal,
                                           const std::string& territory = "") {
    wire::Hello hello;
    hello.set_role(role);
    hello.set_principal(principal);
    hello.set_territory(territory);
    hello.set_software("test");
    return std::make_unique<SyncClient>(context_, broker_endpoint_, hello,
                                        Keys(role, principal, territory));
  }
  // A client holding a key pair the keyring does not know (it claims `principal` in Hello).
  std::unique_ptr<SyncClient> StrangerClient(wire::Role role, const std::string& principal) {
    wire::Hello hello;
    hello.set_role(role);
    hello.set_principal(principal);
    auto pair = GenerateCurveKeyPair();
    return std::make_unique<SyncClient>(context_, broker_endpoint_, hello,
                                        CurveClientKeys{keys_->broker().public_key, *pair});
  }
  // A bare DEALER connected to the broker as `principal`, for tests that shape frames
  // themselves (floods, fuzzing, clients that never read).
  std::unique_ptr<zmq::socket_t> RawBrokerSocket(wire::Role role, const std::string& principal,
                                                 const std::string& territory = "") {
    auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);
    ApplyCurveClient(*socket, Keys(role, principal, territory));
    socket->connect(broker_endpoint_);
    return socket;
  }
  std::unique_ptr<SyncClient> AgentClient() {
    return std::make_unique<SyncClient>(context_, agent_endpoint_, std::nullopt);
  }
  std::unique_ptr<SyncClient> PartnerClient() {
    return std::make_unique<SyncClient>(context_, partner_endpoint_, std::nullopt);
  }

  // Runs the aplus command line against this network; returns exit code and stdout.
  std::pair<int, std::string> Aplus(const std::string& arguments) {
    std::string command = BinPath("aplus") + " --agent-gateway " + agent_endpoint_ +
                          " --partner-gateway " + partner_endpoint_ + " --broker " +
                          broker_endpoint_ + " --key " +
                          KeyFile(wire::OPERATOR, "operator") + " --broker-key " +
                          BrokerPublicKeyFile() + " " + arguments + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    std::string output;
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
  }

  ChildProcess& broker() { return *broker_; }
  ChildProcess& agent_gateway() { return *agent_gateway_; }
  ChildProcess& partner_gateway() { return *partner_gateway_; }
  const std::string& broker_endpoint() const { return broker_endpoint_; }
  const std::string& alerts_endpoint() const { return alerts_endpoint_; }
  const std::string& agent_endpoint() const { return agent_endpoint_; }
  const std::string& partner_endpoint() const { return partner_endpoint_; }
  TempDir& dir() { return dir_; }
  zmq::context_t& context() { return context_; }

 private:
  TempDir dir_;
  zmq::context_t context_{1};
  std::string broker_endpoint_, alerts_endpoint_, agent_endpoint_, partner_endpoint_;
  std::unique_ptr<ChildProcess> broker_, agent_gateway_, partner_gateway_;
  std::unique_ptr<NetworkKeys> keys_;
  int starts_ = 0;
  int agent_http_port_ = 0;  // 0 = no HTTP API
  int broker_http_port_ = 0;  // 0 = no metrics and health listener
  std::map<std::string, std::vector<std::string>> environments_;
  std::vector<std::string> EnvironmentOf(const std::string& program) const {
    auto found = environments_.find(program);
    return found == environments_.end() ? std::vector<std::string>{} : found->second;
  }
};

// Convenience builders for requests.
inline wire::Envelope SubmitRequest(const std::string& subject, const std::string& key = "",
                                    const std::string& partner = "france-travail",
                                    const std::string& agent = "agent-noce-1") {
  wire::Envelope envelope;
  auto* submit = envelope.mutable_submit();
  submit->set_agent(agent);
  submit->set_partner(partner);
  submit->set_category("unemployment-benefits");
  submit->set_subject(subject);
  submit->set_body("Allocation suspendue depuis octobre; le citoyen ne peut plus se déplacer.");
  submit->set_citizen_name("Jeanne Martin");
  submit->set_idempotency_key(key);
  submit->set_citizen_consent(true);
  return envelope;
}

inline wire::Envelope GetCaseRequest(const std::string& case_id) {
  wire::Envelope envelope;
  envelope.mutable_get_case()->set_case_id(case_id);
  return envelope;
}

}  // namespace aplus::testing
