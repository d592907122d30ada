// The program start-up both gateways' main() share: the flags they have in common (with the
// same ranges), parsing (exit 2 on bad flags, 0 for --help), logging, the network config,
// the data directory, SIGTERM/SIGINT as a stop flag, and the exit statuses of
// common/exit_codes.h (1 when it cannot start, 75 after a fail-stop, 0 after a signal).
// Each main keeps only its own flags and the building of its gateway's options.
#pragma once

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "common/broker_key_flags.h"
#include "common/exit_codes.h"
#include "common/network_config.h"
#include "common/status.h"
#include "common/token_store.h"
#include "http/http_server.h"

namespace aplus {

// The flags both gateways take.
struct GatewayCommonFlags {
  std::string config_path;
  std::string broker;
  std::string listen;
  std::string data_dir;
  BrokerKeyFlags broker_keys;
  int forward_timeout_ms = 2000;
  std::string log_level = "info";
};

// The HTTP API flags both gateways take (http/http_front_door.h).
struct GatewayHttpFlags {
  std::string listen;  // HOST:PORT or "off"; the default is the gateway's own
  std::string tls_cert;
  std::string tls_key;
  std::string token_dir = kDefaultTokenDir;
};

// Thread rules: main's thread; the signal handler only sets the stop flag (lock-free).
class GatewayMain {
 public:
  // The longest --forward-timeout-ms: an hour.
  static constexpr int kMaxForwardTimeoutMs = 3600 * 1000;

  // `program` ("aplus-agent-gateway") prefixes the start-up errors; `logger` names the log.
  GatewayMain(std::string program, std::string logger)
      : program_(std::move(program)), logger_(std::move(logger)) {}

  // Adds the common flags to `app`; `listen_default` and `data_dir_default` say the defaults.
  void AddCommonFlags(CLI::App& app, GatewayCommonFlags& flags, const std::string& listen_default,
                      const std::string& data_dir_default) {
    app.add_option("--config", flags.config_path,
                   "network config (TOML); default: built-in Perche network");
    app.add_option("--broker", flags.broker,
                   "broker endpoint, or a pair's as a list tcp://a:7400,tcp://b:7400 (the link "
                   "follows the leader; default: config endpoints.broker)");
    app.add_option("--listen", flags.listen, "local endpoint (default: " + listen_default + ")");
    app.add_option("--data-dir", flags.data_dir,
                   "database directory (default " + data_dir_default + ")");
    flags.broker_keys.AddTo(app);
    app.add_option("--forward-timeout-ms", flags.forward_timeout_ms,
                   "how long a local request waits for the broker's answer before it is "
                   "answered as queued locally")
        ->check(CLI::Range(0, kMaxForwardTimeoutMs));
    app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  }

  // Adds --http-listen (default `http.listen` as given), --http-tls-cert/--http-tls-key and
  // --token-dir; `clients` says who the API is for, in the help text.
  static void AddHttpFlags(CLI::App& app, GatewayHttpFlags& http, const std::string& clients) {
    app.add_option("--http-listen", http.listen,
                   "HTTP API for " + clients + ", HOST:PORT, or `off` (default " + http.listen +
                       ")");
    app.add_option("--http-tls-cert", http.tls_cert,
                   "serve HTTPS with this PEM certificate chain (with --http-tls-key)");
    app.add_option("--http-tls-key", http.tls_key, "the PEM private key of --http-tls-cert");
    app.add_option("--token-dir", http.token_dir,
                   "API tokens made by `aplus tokens add` (default " + http.token_dir +
                       "; created 0700 when missing)");
  }

  // The HTTP server's options, or nullopt for `--http-listen off`. Creates the token directory
  // (0700) when missing, so that a fresh gateway starts and answers 401 until a token is added.
  // INVALID_ARGUMENT for a malformed address or a directory that cannot be made.
  static Result<std::optional<http::HttpServerOptions>> ResolveHttp(const GatewayHttpFlags& http) {
    if (http.listen == "off") return std::optional<http::HttpServerOptions>();
    auto address = http::ParseListenAddress(http.listen);
    if (!address.ok()) {
      return Status(wire::INVALID_ARGUMENT, "--http-listen: " + address.status().message());
    }
    http::HttpServerOptions server;
    server.host = address->first;
    server.port = address->second;
    server.tls_cert_file = http.tls_cert;
    server.tls_key_file = http.tls_key;
    std::error_code error;
    if (!std::filesystem::exists(http.token_dir, error)) {
      std::filesystem::create_directories(http.token_dir, error);
      if (!error) {
        std::filesystem::permissions(http.token_dir, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::replace, error);
      }
      if (error) {
        return Status(wire::INVALID_ARGUMENT,
                      "cannot create token directory " + http.token_dir + ": " + error.message());
      }
    }
    return std::optional<http::HttpServerOptions>(std::move(server));
  }

  // Parses the command line. nullopt: go on; otherwise main returns this status (0 after
  // --help, 2 for bad flags).
  std::optional<int> Parse(CLI::App& app, int argc, char** argv) {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      std::cerr << program_ << ": " << e.what() << std::endl;
      return 2;
    }
    return std::nullopt;
  }

  // Logging to stderr at `flags.log_level`, the stop signals, then the network config (the
  // built-in one without --config).
  Result<NetworkConfig> SetUp(const GatewayCommonFlags& flags) {
    InstallStopSignals();
    spdlog::set_default_logger(spdlog::stderr_color_mt(logger_));
    spdlog::set_level(spdlog::level::from_str(flags.log_level));
    if (flags.config_path.empty()) return DefaultNetworkConfig();
    return LoadNetworkConfig(flags.config_path);
  }

  // Creates `path` (and its parents) if needed; `what` names it in the error.
  static Status CreateDirectory(const std::string& path, const std::string& what) {
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error) return Status(wire::INVALID_ARGUMENT, "cannot create " + what + " " + path + ": " +
                                                         error.message());
    return Status::Ok();
  }

  // A start-up failure: said on stderr; main returns kExitStartupError.
  int Fail(const std::string& reason) const {
    std::cerr << program_ << ": " << reason << std::endl;
    return kExitStartupError;
  }

  // Serves until SIGTERM/SIGINT or a fail-stop. After a fail-stop the process ends at once
  // with kExitDurabilityLost (no clean close, no retried fsync: the supervisor restarts the
  // gateway and RocksDB recovers from its write-ahead log); otherwise the gateway is closed
  // (its database first) and main returns kExitOk. `Gateway` has Run(const atomic<bool>&) and
  // durability_lost().
  template <typename Gateway>
  int Serve(std::unique_ptr<Gateway> gateway) {
    gateway->Run(StopFlag());
    if (!gateway->durability_lost().ok()) std::_Exit(kExitDurabilityLost);
    spdlog::info("stopping");
    gateway.reset();
    return kExitOk;
  }

  // SIGTERM and SIGINT set the stop flag (the gateways check it at least every 100 ms).
  // Installed before the gateway opens, so that a signal during start-up stops it too.
  static void InstallStopSignals() {
    struct sigaction action {};
    action.sa_handler = [](int) { StopFlag().store(true); };
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
  }
  static std::atomic<bool>& StopFlag() { return stop_; }

 private:
  // Constant-initialized and lock-free: safe to set from a signal handler.
  static inline std::atomic<bool> stop_{false};

 public:

 private:
  const std::string program_;
  const std::string logger_;
};

}  // namespace aplus
