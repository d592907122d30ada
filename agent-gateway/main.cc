// aplus-agent-gateway: the A+ gateway of one contact point (flags in docs/PROGRAMS.md).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "agent-gateway/agent_gateway.h"
#include "agent-gateway/agent_gateway_options.h"
#include "common/broker_key_flags.h"
#include "common/exit_codes.h"
#include "common/network_config.h"
#include "common/token_store.h"

namespace {

constexpr const char* kProgram = "aplus-agent-gateway";

// Lock-free, so setting it from a signal handler is safe.
std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

int Fail(const std::string& reason) {
  std::cerr << kProgram << ": " << reason << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A+ agent gateway: the contact point's durable link to the broker"};
  std::string contact_point;
  std::string config_path;
  std::string broker;
  std::string listen;
  std::string data_dir;
  aplus::BrokerKeyFlags broker_keys;
  std::string log_level = "info";
  int forward_timeout_ms = 2000;
  std::string http_listen = "127.0.0.1:7411";
  std::string http_tls_cert;
  std::string http_tls_key;
  std::string token_dir = aplus::kDefaultTokenDir;
  app.add_option("--contact-point", contact_point, "contact point id (from the network config)")
      ->required();
  app.add_option("--config", config_path,
                 "network config (TOML); default: built-in Perche network");
  app.add_option("--broker", broker, "broker endpoint (default: config endpoints.broker)");
  app.add_option("--listen", listen, "local endpoint (default: config endpoints.agent_gateway)");
  app.add_option("--data-dir", data_dir,
                 "database directory (default ./aplus-data/agent-gateway-<ID>)");
  broker_keys.AddTo(app);
  app.add_option("--forward-timeout-ms", forward_timeout_ms,
                 "how long a local request waits for the broker")
      ->check(CLI::Range(1, 3600 * 1000));
  app.add_option("--http-listen", http_listen,
                 "HTTP API address HOST:PORT (port 0 = any free port), or off")
      ->capture_default_str();
  app.add_option("--http-tls-cert", http_tls_cert, "serve HTTPS with this PEM certificate chain");
  app.add_option("--http-tls-key", http_tls_key, "the PEM private key of --http-tls-cert");
  app.add_option("--token-dir", token_dir, "API tokens made by `aplus tokens add` (created 0700)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << kProgram << ": " << e.what() << std::endl;
    return 2;
  }

  spdlog::set_default_logger(spdlog::stderr_color_mt("agent-gateway"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  aplus::NetworkConfig config;
  if (!config_path.empty()) {
    auto loaded = aplus::LoadNetworkConfig(config_path);
    if (!loaded.ok()) return Fail(loaded.status().message());
    config = std::move(loaded).value();
  } else {
    config = aplus::DefaultNetworkConfig();
  }
  const aplus::ContactPoint* contact = config.FindContactPoint(contact_point);
  if (contact == nullptr) return Fail("unknown contact point " + contact_point);

  aplus::AgentGatewayOptions options;
  options.contact_point = contact_point;
  options.listen_endpoint = listen.empty() ? config.endpoints.agent_gateway : listen;
  options.broker_endpoint = broker.empty() ? config.endpoints.broker : broker;
  auto curve = broker_keys.Resolve(options.broker_endpoint);
  if (!curve.ok()) return Fail(curve.status().message());
  options.curve = std::move(curve).value();
  options.data_dir = data_dir.empty() ? "./aplus-data/agent-gateway-" + contact_point : data_dir;
  options.forward_timeout_ms = forward_timeout_ms;
  options.outbox_request_timeout_ms = std::max(forward_timeout_ms, 5000);

  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error)
    return Fail("cannot create data directory " + options.data_dir + ": " + error.message());
  if (http_listen != "off") {
    options.http_listen = http_listen;
    options.http_tls_cert_file = http_tls_cert;
    options.http_tls_key_file = http_tls_key;
    options.token_dir = token_dir;
    // A fresh gateway starts and answers 401 until `aplus tokens add` makes a token.
    if (!std::filesystem::exists(token_dir)) {
      std::filesystem::create_directories(token_dir, error);
      if (error) return Fail("cannot create token directory " + token_dir + ": " + error.message());
      std::filesystem::permissions(token_dir, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::replace, error);
      if (error) return Fail("cannot restrict token directory " + token_dir + ": " + error.message());
    }
  }

  auto gateway = aplus::AgentGateway::Open(options, config);
  if (!gateway.ok()) return Fail(gateway.status().message());

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  if (!(*gateway)->http_url().empty()) {
    std::cout << "HTTP API on " << (*gateway)->http_url() << std::endl;
  }
  std::cout << kProgram << " " << contact_point << " ready on " << (*gateway)->bound_endpoint()
            << " (broker: " << options.broker_endpoint << ")" << std::endl;
  (*gateway)->Run(g_stop);
  if (!(*gateway)->durability_lost().ok()) {
    // Fail-stop (common/fail_stop.h): no clean close, no retried fsync; the supervisor
    // restarts the gateway and RocksDB recovers from its write-ahead log.
    std::_Exit(aplus::kExitDurabilityLost);
  }
  spdlog::info("stopping");
  gateway.value().reset();  // closes the database before exit
  return aplus::kExitOk;
}
