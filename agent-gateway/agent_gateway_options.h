// What an agent gateway is told at start-up (main.cc fills it from the flags of
// docs/PROGRAMS.md and the network config). Immutable once the gateway is opened.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/curve_client.h"

namespace aplus {

struct AgentGatewayOptions {
  std::string contact_point;    // the principal of the broker session
  // CURVE keys for the broker connection; unset = plain (a broker run with --insecure).
  std::optional<CurveClientKeys> curve;
  std::string listen_endpoint;  // local ROUTER; "tcp://127.0.0.1:*" picks a free port
  std::string broker_endpoint;
  std::string data_dir;  // RocksDB directory; must exist or be creatable by RocksDB
  // How long a local request waits for the broker before it is answered from the outbox
  // (QUEUED_LOCALLY) or from the local cache.
  int forward_timeout_ms = 2000;
  // How long one forwarded outbox entry may wait for the broker before it is retried. Longer
  // than forward_timeout_ms so that a slow broker is not flooded with retries.
  int outbox_request_timeout_ms = 5000;
  // First pause after a transient refusal; it doubles (with jitter) up to 5 s
  // (common/retry_policy.h), never shorter than the broker's retry-after hint.
  int outbox_retry_ms = 200;
  // The HTTP API (docs/openapi.yaml, agent_http_routes.cc): "HOST:PORT" ("127.0.0.1:0" picks a
  // free port); empty = no HTTP listener (main's default is 127.0.0.1:7411, `--http-listen off`
  // turns it off). A non-loopback host needs the TLS files.
  std::string http_listen;
  std::string http_tls_cert_file;
  std::string http_tls_key_file;
  std::string token_dir;  // the API tokens (common/token_store.h); must exist when http_listen
  uint32_t window = 64;        // credit window for mailbox deliveries
  size_t max_frame_bytes = 0;  // 0 = the config's broker.max_frame_bytes
};

}  // namespace aplus
