// aplus-console: the operators' web console (flags and routes in docs/PROGRAMS.md; the JSON
// API in docs/console-api.md). The start-up pieces (flags, logging, config, stop signals) are
// the gateways' (gateway/gateway_main.h).
#include <filesystem>
#include <iostream>
#include <string>

#include "common/endpoint_list.h"
#include "console/console.h"
#include "gateway/gateway_main.h"
#include "http/http_server.h"

int main(int argc, char** argv) {
  aplus::GatewayMain start("aplus-console", "console");
  CLI::App app{"A+ operator console: a web application for operators and administrators"};
  std::string config_path;
  std::string broker;
  std::string alerts;
  std::string console_id;
  std::string log_level = "info";
  int request_timeout_ms = 5000;
  aplus::BrokerKeyFlags keys;
  aplus::GatewayHttpFlags http;
  http.listen = "127.0.0.1:7430";
  // People's tokens apart from the gateways' API tokens: a token of one never opens the other.
  http.token_dir = "./aplus-data/tokens-console";
  app.add_option("--network,--config", config_path,
                 "network config (TOML): its [[operators]] may sign in; default: built-in Perche "
                 "network");
  app.add_option("--id", console_id,
                 "this console's keyring principal (its key is \"console.<id>\"; default: "
                 "from the --key file name console.<id>.key, else console)");
  app.add_option("--broker", broker,
                 "broker endpoint, or a pair's as a list tcp://a:7400,tcp://b:7400 (followed to "
                 "the leader; default: config endpoints.broker)");
  app.add_option("--alerts", alerts,
                 "broker alert endpoint, or a pair's as a list (default: config endpoints.alerts)");
  keys.AddTo(app);
  app.add_option("--request-timeout-ms", request_timeout_ms,
                 "a broker request not answered within this is answered 503")
      ->check(CLI::Range(100, 60000));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  aplus::GatewayMain::AddHttpFlags(app, http,
                                   "operators' browsers (tokens: `aplus tokens add <operator id>`)");
  if (auto exit_status = start.Parse(app, argc, argv)) return *exit_status;
  if (http.listen == "off") {
    std::cerr << "aplus-console: --http-listen off leaves nothing to serve" << std::endl;
    return 2;
  }
  auto address = aplus::http::ParseListenAddress(http.listen);
  if (!address.ok()) {
    std::cerr << "aplus-console: --http-listen: " << address.status().message() << std::endl;
    return 2;
  }
  // Sign-in tokens and session cookies must not cross a network in clear.
  if (!aplus::http::IsLoopbackHost(address->first) &&
      (http.tls_cert.empty() || http.tls_key.empty())) {
    std::cerr << "aplus-console: --http-listen " << http.listen
              << " is not loopback: give --http-tls-cert and --http-tls-key" << std::endl;
    return 2;
  }

  aplus::GatewayCommonFlags common;
  common.config_path = config_path;
  common.log_level = log_level;
  auto config = start.SetUp(common);
  if (!config.ok()) return start.Fail(config.status().message());
  auto server = aplus::GatewayMain::ResolveHttp(http);
  if (!server.ok()) return start.Fail(server.status().message());

  aplus::ConsoleOptions options;
  if (console_id.empty()) {
    // A key file named as `aplus keyring provision` names it, "console.<id>.key", says the id.
    std::string file = std::filesystem::path(keys.key_file).filename().string();
    if (file.rfind("console.", 0) == 0 && file.size() > 12 &&
        file.substr(file.size() - 4) == ".key") {
      console_id = file.substr(8, file.size() - 12);
    }
  }
  options.console_id = console_id.empty() ? "console" : console_id;
  options.broker_endpoint = broker.empty() ? config->endpoints.broker : broker;
  options.alerts_endpoint = alerts.empty() ? config->endpoints.alerts : alerts;
  if (auto list = aplus::ParseEndpointList(options.alerts_endpoint); !list.ok()) {
    return start.Fail("--alerts: " + list.status().message());
  }
  auto curve = keys.Resolve(options.broker_endpoint);
  if (!curve.ok()) return start.Fail(curve.status().message());
  options.curve = std::move(curve).value();
  options.http = **server;
  options.token_dir = http.token_dir;
  options.request_timeout_ms = request_timeout_ms;

  const std::string broker_endpoint = options.broker_endpoint;
  console_id = options.console_id;
  auto console = aplus::Console::Open(std::move(options), std::move(config).value());
  if (!console.ok()) return start.Fail(console.status().message());
  std::cout << "aplus-console HTTP on " << (*console)->url() << std::endl;
  std::cout << "aplus-console " << console_id << " ready (broker: " << broker_endpoint << ")"
            << std::endl;
  (*console)->Run(aplus::GatewayMain::StopFlag());
  spdlog::info("stopping");
  return aplus::kExitOk;
}
