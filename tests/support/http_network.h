// Test support for the HTTP system tests: a TestNetwork whose gateways serve their HTTP API on
// free loopback ports with their own token directories, API tokens made with the real
// `aplus tokens add`, a webhook secret file, and the python clients of tests/http/ run as child
// processes (with the python3 that has python3-requests, python3-yaml and python3-jsonschema).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/webhook_signature.h"
#include "tests/support/network.h"

namespace aplus::testing {

// Quotes `text` for /bin/sh.
inline std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs `command` through /bin/sh; returns the exit code (or -1) and stdout+stderr.
inline std::pair<int, std::string> RunCommand(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// Runs tests/http/<script> with `args` (each quoted), bounded by `timeout_seconds` (coreutils
// timeout: exit 124 when it ran out).
inline std::pair<int, std::string> RunPythonScript(const std::string& script,
                                                   const std::vector<std::string>& args,
                                                   int timeout_seconds) {
  std::string command = "timeout -k 5 " + std::to_string(timeout_seconds) + " " +
                        ShellQuote(APLUS_PYTHON3) + " -u " +
                        ShellQuote(std::string(APLUS_SOURCE_DIR) + "/tests/http/" + script);
  for (const auto& arg : args) command += " " + ShellQuote(arg);
  return RunCommand(command);
}

// Whether something accepts TCP connections on 127.0.0.1:`port` within `timeout_ms`.
inline bool WaitForPort(int port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    if (connected) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The network of the HTTP tests: the broker, an agent gateway and a partner gateway
// (france-travail) each with an HTTP listener and a token directory of its own.
class HttpNetwork {
 public:
  explicit HttpNetwork(const std::string& label)
      : network_(label), agent_http_port_(FreePort()), partner_http_port_(FreePort()) {
    ::mkdir(network_.dir().Sub("agent-tokens").c_str(), 0700);
    ::mkdir(network_.dir().Sub("partner-tokens").c_str(), 0700);
  }

  TestNetwork& network() { return network_; }
  std::string agent_url() const { return "http://127.0.0.1:" + std::to_string(agent_http_port_); }
  std::string partner_url() const {
    return "http://127.0.0.1:" + std::to_string(partner_http_port_);
  }
  int agent_http_port() const { return agent_http_port_; }
  int partner_http_port() const { return partner_http_port_; }

  // `aplus tokens add NAME --dir DIR`: the token it printed (once).
  std::string AddToken(const std::string& token_dir, const std::string& name) {
    auto [code, output] = RunCommand(BinPath("aplus") + " --json tokens add " + ShellQuote(name) +
                                     " --dir " + ShellQuote(token_dir));
    auto start = output.find('{');
    if (code != 0 || start == std::string::npos) {
      throw std::runtime_error("aplus tokens add failed: " + output);
    }
    return nlohmann::json::parse(output.substr(start)).at("token").get<std::string>();
  }
  std::string AgentTokenDir() { return network_.dir().Sub("agent-tokens"); }
  std::string PartnerTokenDir() { return network_.dir().Sub("partner-tokens"); }

  // A fresh Standard Webhooks secret in a 0600 file; returns the file's path.
  std::string WriteWebhookSecret() {
    auto secret = WebhookSecret::Generate();
    if (!secret.ok()) throw std::runtime_error("no webhook secret: " + secret.status().ToString());
    std::string path = network_.dir().Sub("webhook.secret");
    std::ofstream(path) << secret.value().ToString() << "\n";
    ::chmod(path.c_str(), 0600);
    return path;
  }

  bool StartBroker() { return network_.StartBroker(); }
  bool StartAgentGateway(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--http-listen",
                                     "127.0.0.1:" + std::to_string(agent_http_port_),
                                     "--token-dir", AgentTokenDir()};
    args.insert(args.end(), extra.begin(), extra.end());
    return network_.StartAgentGateway("mairie-perche-en-noce", args) &&
           WaitForPort(agent_http_port_, 15000);
  }
  bool StartPartnerGateway(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--http-listen",
                                     "127.0.0.1:" + std::to_string(partner_http_port_),
                                     "--token-dir", PartnerTokenDir()};
    args.insert(args.end(), extra.begin(), extra.end());
    return network_.StartPartnerGateway("france-travail", args) &&
           WaitForPort(partner_http_port_, 15000);
  }

 private:
  TestNetwork network_;
  int agent_http_port_;
  int partner_http_port_;
};

}  // namespace aplus::testing
