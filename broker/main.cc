// aplus-broker: the central broker of an A+ network.
#include <csignal>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "common/clock.h"
#include "broker/broker.h"
#include "broker/pair_node.h"
#include "common/exit_codes.h"
#include "common/network_config.h"
#include "gateway/gateway_main.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

int Fail(const std::string& reason) {
  std::cerr << "aplus-broker: " << reason << std::endl;
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aplus-broker: receives escalations, makes them durable, routes them to partners "
               "and replies back to contact points.\nWith no arguments it serves the built-in "
               "Perche network with data in ./aplus-data/broker."};
  std::string config_path, data_dir, listen, alerts, log_level = "info";
  int64_t ack_lease_ms = -1;
  int64_t max_attempts = -1;
  int64_t max_frame_bytes = -1;
  app.add_option("--config", config_path, "network config (TOML); default: built-in Perche network");
  app.add_option("--data-dir", data_dir, "RocksDB directory (default from config: ./aplus-data/broker)");
  app.add_option("--listen", listen, "endpoint to bind (default from config: tcp://127.0.0.1:7400)");
  app.add_option("--alerts", alerts, "PUB endpoint for SLA alerts (default from config: tcp://127.0.0.1:7401)");
  app.add_option("--ack-lease-ms", ack_lease_ms, "redeliver when not acknowledged within this (default 30000)");
  app.add_option("--max-attempts", max_attempts, "deliveries before dead-lettering (default 10)");
  app.add_option("--max-frame-bytes", max_frame_bytes, "largest accepted frame (default 1048576)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  std::string key_file, keyring_dir = "./aplus-data/keyring";
  bool insecure = false;
  int64_t keyring_poll_ms = 1000;
  app.add_option("--key", key_file, "the broker's CURVE key pair file (made by `aplus keygen`)");
  app.add_option("--keyring", keyring_dir, "directory of admitted client keys (`aplus keyring`)")
      ->capture_default_str();
  app.add_option("--keyring-poll-ms", keyring_poll_ms, "how often keyring changes are looked for")
      ->capture_default_str()
      ->check(CLI::Range(10, 3600 * 1000));
  app.add_flag("--insecure", insecure,
               "no CURVE: identities from Hello, loopback endpoints only (development)");
  aplus::BrokerOptions defaults;
  double rate_limit = defaults.requests_per_second;
  uint32_t rate_burst = defaults.request_burst;
  uint64_t max_open_cases = defaults.max_open_cases;
  app.add_option("--rate-limit", rate_limit,
                 "requests per second allowed to one principal, sustained (0 = no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rate-burst", rate_burst, "requests one principal may send at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-open-cases", max_open_cases,
                 "cases one contact point may have waiting for partners (0 = no limit)")
      ->capture_default_str();
  // The metrics and health listener: the same flags (and checks) as the gateways' HTTP API.
  aplus::GatewayHttpFlags http;
  http.listen = "127.0.0.1:7402";
  http.token_dir = "./aplus-data/tokens-broker";
  aplus::GatewayMain::AddHttpFlags(app, http, "GET /metrics (Prometheus) and GET /health");
  // A pair of brokers (docs/AVAILABILITY.md); without --etcd the broker runs alone.
  aplus::PairFlags pair;
  app.add_option("--etcd", pair.etcd_urls,
                 "etcd members (http://host:2379,...): run as one node of a pair of brokers");
  app.add_option("--node", pair.node, "this node's name in its pair (with --etcd)");
  app.add_option("--replication-listen", pair.replication_listen,
                 "endpoint the standby connects to when this node leads (with --etcd)");
  app.add_option("--replication-advertise", pair.replication_advertise,
                 "the replication endpoint the other node dials, when not --replication-listen "
                 "(a wildcard bind, NAT, a proxy)");
  app.add_option("--peer-key", pair.peer_key_file,
                 "this node's own CURVE pair for the link between the brokers (with --etcd); "
                 "admitted in the other node's keyring as broker-peer.<node>");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("broker"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  aplus::NetworkConfig config;
  if (config_path.empty()) {
    config = aplus::DefaultNetworkConfig();
  } else {
    auto loaded = aplus::LoadNetworkConfig(config_path);
    if (!loaded.ok()) return Fail(loaded.status().message());
    config = std::move(loaded).value();
  }
  aplus::BrokerOptions options;
  options.process_started_ms = aplus::SystemClock().NowMs();
  options.listen_endpoint = listen.empty() ? config.endpoints.broker : listen;
  options.alerts_endpoint = alerts.empty() ? config.endpoints.alerts : alerts;
  options.data_dir = data_dir.empty() ? config.broker.data_dir : data_dir;
  options.ack_lease_ms = ack_lease_ms > 0 ? ack_lease_ms : config.broker.ack_lease_ms;
  options.max_delivery_attempts =
      max_attempts > 0 ? static_cast<uint32_t>(max_attempts) : config.broker.max_delivery_attempts;
  options.max_frame_bytes =
      max_frame_bytes > 0 ? static_cast<uint64_t>(max_frame_bytes) : config.broker.max_frame_bytes;
  options.max_batch_messages = config.broker.max_batch_messages;
  options.key_file = key_file;
  options.keyring_dir = keyring_dir;
  options.insecure = insecure;
  options.keyring_poll_ms = keyring_poll_ms;
  options.requests_per_second = rate_limit;
  options.request_burst = rate_burst;
  options.max_open_cases = max_open_cases;

  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return Fail("cannot create data directory " + options.data_dir + ": " + ec.message());
  // Checks the address and makes the token directory (0700) when missing.
  auto http_server = aplus::GatewayMain::ResolveHttp(http);
  if (!http_server.ok()) return Fail(http_server.status().message());
  if (http_server->has_value()) {
    options.http_listen = http.listen;
    options.http_tls_cert_file = http.tls_cert;
    options.http_tls_key_file = http.tls_key;
    options.token_dir = http.token_dir;
  }

  if (!pair.etcd_urls.empty() || !pair.node.empty() || !pair.replication_listen.empty()) {
    if (pair.etcd_urls.empty() || pair.node.empty() || pair.replication_listen.empty()) {
      return Fail("a node of a pair needs --etcd, --node and --replication-listen together");
    }
    if (!insecure && pair.peer_key_file.empty()) {
      return Fail("a node of a pair needs its own key for the link between the brokers "
                  "(--peer-key FILE, made by `aplus keygen`)");
    }
    zmq::context_t context(1);
    aplus::SystemClock clock;
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    return aplus::RunPairNode(config, options, pair, context, clock, g_stop);
  }

  zmq::context_t context(1);
  aplus::SystemClock clock;
  auto broker = aplus::Broker::Create(config, options, context, clock);
  if (!broker.ok()) return Fail(broker.status().message());
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (!(*broker)->http_url().empty()) {
    std::cout << "metrics and health on " << (*broker)->http_url() << std::endl;
  }
  std::cout << "aplus-broker ready on " << (*broker)->endpoint() << " (alerts: "
            << (*broker)->alerts_endpoint() << ", data: " << options.data_dir
            << (insecure ? ", INSECURE: no CURVE" : ", CURVE") << ")" << std::endl;
  aplus::Status served = (*broker)->Run(g_stop);
  broker.value().reset();  // closes the sockets (the last answers leave) and the database
  if (!served.ok()) {
    spdlog::critical("stopped: {}; exit status {} (restart to recover from the log)",
                     served.ToString(), aplus::kExitDurabilityLost);
    return aplus::kExitDurabilityLost;
  }
  spdlog::info("stopped cleanly");
  return aplus::kExitOk;
}
