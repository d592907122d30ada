// aplus-partner-gateway: the daemon at a partner. Flags and output are specified in
// docs/PROGRAMS.md.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>
#include <sys/stat.h>

#include "common/exit_codes.h"
#include "common/clock.h"
#include "common/broker_key_flags.h"
#include "common/network_config.h"
#include "common/token_store.h"
#include "gateway/webhook_schedule.h"
#include "gateway/webhook_signature.h"
#include "http/http_server.h"
#include "partner-gateway/partner_gateway.h"

namespace {

constexpr const char* kProgram = "aplus-partner-gateway";

std::atomic<bool> stop_requested{false};

void OnSignal(int) { stop_requested.store(true); }

int Fail(const std::string& reason, int code = 1) {
  std::cerr << kProgram << ": " << reason << std::endl;
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "A+ partner gateway: receives escalations for one partner and sends back its "
      "acknowledgements and replies"};
  std::string partner_id;
  std::string territory;
  std::string config_path;
  std::string broker;
  std::string listen;
  std::string data_dir;
  aplus::BrokerKeyFlags broker_keys;
  std::string spool_dir;
  uint32_t window = 64;
  int forward_timeout_ms = 2000;
  std::string log_level = "info";
  std::string http_listen = "127.0.0.1:7421";
  std::string http_tls_cert, http_tls_key;
  std::string token_dir = aplus::kDefaultTokenDir;
  std::string webhook_url, webhook_secret_file;
  std::string webhook_schedule = aplus::kDefaultWebhookSchedule;
  std::string webhook_failing_after;
  int webhook_timeout_ms = 10000;
  app.add_option("--partner", partner_id, "partner id (from the network config)")->required();
  app.add_option("--territory", territory, "territory served, for per-territory partners");
  app.add_option("--config", config_path, "network config (TOML); default: built-in Perche");
  app.add_option("--broker", broker, "broker endpoint (default: config endpoints.broker)");
  app.add_option("--listen", listen, "local endpoint (default: config endpoints.partner_gateway)");
  app.add_option("--data-dir", data_dir,
                 "database directory (default ./aplus-data/partner-gateway-<ID>)");
  broker_keys.AddTo(app);
  app.add_option("--window", window, "credit window: deliveries in flight at most")
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--spool-dir", spool_dir,
                 "write each delivered escalation there as <case id>.json (and each SLA "
                 "reminder as <case id>.alert-<warning|breach>.json) before acking it");
  app.add_option("--forward-timeout-ms", forward_timeout_ms,
                 "how long a local ack/reply/question/transfer waits for the broker before "
                 "answering queued")
      ->check(CLI::Range(0, 3600000));
  app.add_option("--http-listen", http_listen,
                 "HTTP API for the partner's systems, HOST:PORT, or `off` (default "
                 "127.0.0.1:7421)");
  app.add_option("--http-tls-cert", http_tls_cert, "serve HTTPS with this PEM certificate chain");
  app.add_option("--http-tls-key", http_tls_key, "... and this PEM private key");
  app.add_option("--token-dir", token_dir,
                 "API tokens made by `aplus tokens add` (default ./aplus-data/tokens; created "
                 "0700 when missing)");
  app.add_option("--webhook-url", webhook_url,
                 "POST every event of the partner's feed there (Standard Webhooks)");
  app.add_option("--webhook-secret-file", webhook_secret_file,
                 "the whsec_ secret(s) signing webhooks, one per line (two during a rotation); "
                 "refused when group or others may read or write it");
  app.add_option("--webhook-schedule", webhook_schedule,
                 "retry schedule, e.g. \"0s,1s,2s;every=2s;until=1m;jitter=0\" (default: at "
                 "once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every 10 h for 3 days)");
  app.add_option("--webhook-failing-after", webhook_failing_after,
                 "report failing webhooks after this long (default \"1 jours-ouvres\"; e.g. "
                 "\"24 heures\", \"3 seconds\")");
  app.add_option("--webhook-timeout-ms", webhook_timeout_ms,
                 "one webhook attempt's time limit (connect to response)")
      ->check(CLI::Range(100, 600000));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(e.what(), 2);
  }

  spdlog::set_default_logger(spdlog::stderr_color_mt("partner-gateway"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  aplus::NetworkConfig config;
  if (config_path.empty()) {
    config = aplus::DefaultNetworkConfig();
  } else {
    auto loaded = aplus::LoadNetworkConfig(config_path);
    if (!loaded.ok()) return Fail(loaded.status().message());
    config = std::move(loaded).value();
  }
  const aplus::Partner* partner = config.FindPartner(partner_id);
  if (partner == nullptr) return Fail("unknown partner " + partner_id);
  if (!territory.empty() && config.FindTerritory(territory) == nullptr) {
    return Fail("unknown territory " + territory);
  }

  aplus::PartnerGatewayOptions options;
  options.partner = partner_id;
  options.territory = territory;
  options.broker_endpoint = broker.empty() ? config.endpoints.broker : broker;
  auto curve = broker_keys.Resolve(options.broker_endpoint);
  if (!curve.ok()) return Fail(curve.status().message());
  options.curve = std::move(curve).value();
  options.listen_endpoint = listen.empty() ? config.endpoints.partner_gateway : listen;
  options.data_dir = data_dir.empty() ? "./aplus-data/partner-gateway-" + partner_id : data_dir;
  options.spool_dir = spool_dir;
  options.window = window;
  options.forward_timeout_ms = forward_timeout_ms;
  options.max_frame_bytes = config.broker.max_frame_bytes;
  options.retention = config.retention;

  if (http_listen != "off") {
    auto address = aplus::http::ParseListenAddress(http_listen);
    if (!address.ok()) return Fail("--http-listen: " + address.status().message());
    aplus::http::HttpServerOptions server;
    server.host = address->first;
    server.port = address->second;
    server.tls_cert_file = http_tls_cert;
    server.tls_key_file = http_tls_key;
    options.http = server;
  }
  options.token_dir = token_dir;
  if (!webhook_url.empty() || !webhook_secret_file.empty()) {
    if (webhook_url.empty() || webhook_secret_file.empty()) {
      return Fail("--webhook-url and --webhook-secret-file go together");
    }
    // The secret signs what the partner trusts: a file others may read would let them forge
    // webhooks, so group/other permissions are refused outright (as ssh does for keys).
    struct stat info {};
    if (::stat(webhook_secret_file.c_str(), &info) != 0) {
      return Fail("cannot read --webhook-secret-file " + webhook_secret_file);
    }
    if ((info.st_mode & 077) != 0) {
      return Fail("--webhook-secret-file " + webhook_secret_file +
                  " may be read or written by group or others (chmod 600 it)");
    }
    std::ifstream in(webhook_secret_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return Fail("cannot read --webhook-secret-file " + webhook_secret_file);
    auto secrets = aplus::ParseWebhookSecrets(text.str());
    if (!secrets.ok()) return Fail("--webhook-secret-file: " + secrets.status().message());
    options.webhook_url = webhook_url;
    options.webhook_secrets = std::move(secrets).value();
  }
  std::string schedule_text = webhook_schedule;
  if (!webhook_failing_after.empty()) schedule_text += ";report=" + webhook_failing_after;
  auto schedule = aplus::WebhookSchedule::Parse(schedule_text);
  if (!schedule.ok()) return Fail("--webhook-schedule: " + schedule.status().message());
  options.webhook_schedule = std::move(schedule).value();
  options.webhook_timeout_ms = webhook_timeout_ms;

  std::error_code error;
  if (options.http && !std::filesystem::exists(token_dir)) {
    std::filesystem::create_directories(token_dir, error);
    if (error) return Fail("cannot create token directory " + token_dir + ": " + error.message());
    std::filesystem::permissions(token_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, error);
    if (error) return Fail("cannot restrict token directory " + token_dir + ": " + error.message());
  }
  std::filesystem::create_directories(options.data_dir, error);
  if (error)
    return Fail("cannot create data directory " + options.data_dir + ": " + error.message());
  if (!spool_dir.empty()) {
    std::filesystem::create_directories(spool_dir, error);
    if (error) return Fail("cannot create spool directory " + spool_dir + ": " + error.message());
  }

  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  zmq::context_t context(1);
  aplus::SystemClock clock;
  auto gateway = aplus::PartnerGateway::Open(context, options, clock);
  if (!gateway.ok()) return Fail(gateway.status().message());

  auto queues = aplus::PartnerQueuesFor(config, *partner, territory);
  spdlog::info("partner {} ({} queue(s)), data in {}", partner_id, queues.size(), options.data_dir);
  std::printf("%s %s ready on %s (broker: %s)\n", kProgram, partner_id.c_str(),
              (*gateway)->local_endpoint().c_str(), options.broker_endpoint.c_str());
  if ((*gateway)->http_port() != 0) {
    std::printf("%s %s HTTP API on %s://%s:%u\n", kProgram, partner_id.c_str(),
                (*gateway)->http_tls() ? "https" : "http", options.http->host.c_str(),
                static_cast<unsigned>((*gateway)->http_port()));
  }
  std::fflush(stdout);

  (*gateway)->Run(stop_requested);
  if (!(*gateway)->durability_lost().ok()) {
    // Fail-stop (common/fail_stop.h): no clean close, no retried fsync; the supervisor
    // restarts the gateway and RocksDB recovers from its write-ahead log.
    std::_Exit(aplus::kExitDurabilityLost);
  }
  spdlog::info("stopping");
  gateway->reset();
  return aplus::kExitOk;
}
