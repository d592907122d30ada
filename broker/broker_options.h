// Settings of one broker process, fixed at start-up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "broker/http_listener.h"
#include "common/network_config.h"

namespace aplus {

class Leadership;

// A broker that leads a pair (docs/AVAILABILITY.md). Unset: a single broker, as always.
struct PairSettings {
  Leadership* leadership = nullptr;  // owned by main; outlives the broker
  int64_t epoch = 0;                 // the epoch this node won
  std::string node;
  std::string replication_listen;    // --replication-listen
  std::string peer_key_file;         // --peer-key (unset with --insecure)
  AvailabilitySettings availability;
};

// How long a pair keeps archived log: never longer than the retention's compaction interval
// (archived files hold what a purge erased: docs/AVAILABILITY.md, "Erasure on both nodes").
inline uint64_t PairLogTtlSeconds(const NetworkConfig& config) {
  return static_cast<uint64_t>(
      FixedDurationMs(config.retention.compaction_interval).value_or(3600 * 1000) / 1000);
}

struct BrokerOptions {
  std::string listen_endpoint = "tcp://127.0.0.1:7400";
  std::string alerts_endpoint = "tcp://127.0.0.1:7401";  // PUB socket for SLA alerts
  uint32_t max_alerts_per_turn = 2000;  // timers fired per batch when many fall due together
  std::string data_dir = "./aplus-data/broker";
  uint64_t max_frame_bytes = 1 << 20;
  int64_t ack_lease_ms = 30000;
  uint32_t max_delivery_attempts = 10;
  uint32_t max_batch_messages = 1024;
  int64_t session_timeout_ms = 10000;  // a session silent this long is dropped (gateways ping)
  std::string broker_id = "aplus-broker";
  // Security. With CURVE (the default) the broker's key pair and the keyring are required;
  // `insecure` (no CURVE, identity from Hello) is refused unless every endpoint is loopback.
  std::string key_file;                // the broker's pair, made by `aplus keygen`
  std::string keyring_dir = "./aplus-data/keyring";
  bool insecure = false;
  int64_t keyring_poll_ms = 1000;      // how often the keyring directory is checked
  // Abuse limits (0 = none). The rate counts every request but pings and delivery acks.
  double requests_per_second = 200;  // per principal, sustained
  uint32_t request_burst = 2000;     // per principal, at once after a quiet period
  uint64_t max_open_cases = 20000;   // per contact point: cases still waiting for a partner
  // Metrics and health (GET /metrics, GET /health): HOST:PORT, empty = no listener. A
  // non-loopback address needs both TLS files (http/http_server.h).
  std::string http_listen;
  std::string http_tls_cert_file;
  std::string http_tls_key_file;
  std::string token_dir;  // bearer tokens for /metrics off loopback (`aplus tokens add`)
  // When the process started (Unix ms; 0 = when the Broker is made): a pair's node is the
  // standby first, and its promotion must not read as a restart (process_start_time_seconds,
  // /health's started_at).
  int64_t process_started_ms = 0;
  std::optional<PairSettings> pair;
};

// The HTTP listener's part of the options (broker/http_listener.h).
inline HttpListenerSettings HttpSettings(const BrokerOptions& options) {
  return HttpListenerSettings{options.http_listen, options.http_tls_cert_file,
                              options.http_tls_key_file, options.token_dir};
}

}  // namespace aplus
