// Test support for component tests: the real Broker in this process, on its own thread, with
// its own data directory, wildcard loopback ports and a clock the test sets. Identities come
// from Hello (--insecure): CURVE has its own system tests with real processes.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <zmq.hpp>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/network_config.h"
#include "common/sync_client.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/child_process.h"

namespace aplus::testing {

// Time as the test says it is.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

class InProcessBroker {
 public:
  // `config_text` is a network config in TOML. `session_timeout_ms` 0: the broker's default.
  InProcessBroker(const std::string& label, int64_t start_ms, std::string_view config_text,
                  int64_t session_timeout_ms = 0)
      : dir_(label), clock_(start_ms), session_timeout_ms_(session_timeout_ms) {
    auto parsed = ParseNetworkConfig(config_text, label + ".toml");
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
    config_ = std::move(parsed).value();
    std::filesystem::create_directories(data_dir());
    // The HTTP listener reads its bearer tokens from here (none: loopback needs none).
    std::filesystem::create_directories(dir_.Sub("tokens"));
    std::filesystem::permissions(dir_.Sub("tokens"), std::filesystem::perms::owner_all);
    Start();
  }
  ~InProcessBroker() { Stop(); }

  // Stops the broker (a clean stop), runs `while_stopped` on its data directory, and starts it
  // again on the same store and clock. It listens on new ports: clients made before are stale,
  // and so is a reference from broker().
  void Restart(const std::function<void(const std::string& data_dir)>& while_stopped = {}) {
    Stop();
    if (while_stopped) while_stopped(data_dir());
    stop_.store(false);
    stopped_.store(false);
    Start();
  }

  Broker& broker() { return *broker_; }
  // True once Run() returned (stopped, or fail-stop after a failed commit).
  bool stopped() const { return stopped_.load(); }
  // What Run() returned; read only once stopped() is true.
  const Status& run_status() const { return run_status_; }

  std::unique_ptr<SyncClient> Client(wire::Role role, const std::string& principal) {
    wire::Hello hello;
    hello.set_role(role);
    hello.set_principal(principal);
    hello.set_software("component test");
    return std::make_unique<SyncClient>(context_, broker_->endpoint(), hello);
  }

  void SetClock(int64_t now_ms) { clock_.Set(now_ms); }
  // The broker's data directory (its RocksDB store), for tests that read what it wrote.
  std::string data_dir() const { return dir_.Sub("broker"); }
  // Where its GET /metrics and GET /health answer (loopback: no token); a new port after
  // Restart, as for its other endpoints.
  std::string http_url() const { return broker_->http_url(); }

  // Returns once every timer due at the clock's current time has fired: the first ping is
  // handled by a turn that starts after the clock was set and fires its due timers after
  // answering; the second is answered by a later turn.
  void Settle() {
    for (int i = 0; i < 2; ++i) REQUIRE(settler_->CallOk(PingRequest(), 5000).ok());
  }
  void SetClockAndSettle(int64_t now_ms) {
    SetClock(now_ms);
    Settle();
  }

 private:
  void Start() {
    BrokerOptions options;
    options.listen_endpoint = "tcp://127.0.0.1:*";
    options.alerts_endpoint = "tcp://127.0.0.1:*";
    options.data_dir = data_dir();
    options.http_listen = "127.0.0.1:0";  // a port the system picks: never one taken meanwhile
    options.token_dir = dir_.Sub("tokens");
    options.insecure = true;
    if (session_timeout_ms_ > 0) options.session_timeout_ms = session_timeout_ms_;
    auto created = Broker::Create(config_, options, context_, clock_);
    REQUIRE_MESSAGE(created.ok(), created.status().ToString());
    broker_ = std::move(created).value();
    thread_ = std::thread([this] {
      Status served = broker_->Run(stop_);
      run_status_ = served;
      stopped_.store(true);
    });
    settler_ = Client(wire::OPERATOR, "operator");
  }
  // Also after a failed Start or a failed step of Restart (a REQUIRE throws): no thread then.
  void Stop() {
    settler_.reset();
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    broker_.reset();
  }

  TempDir dir_;
  FakeClock clock_;
  int64_t session_timeout_ms_ = 0;
  NetworkConfig config_;
  zmq::context_t context_{1};
  std::unique_ptr<Broker> broker_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_{false};
  Status run_status_;
  std::thread thread_;
  std::unique_ptr<SyncClient> settler_;
};

}  // namespace aplus::testing
