// What a partner gateway is told at start-up (built by main.cc from flags and the network
// config; built directly by tests). Immutable once the gateway is opened.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/curve_client.h"
#include "common/network_config.h"
#include "common/token_store.h"
#include "common/wire.h"
#include "gateway/webhook_schedule.h"
#include "gateway/webhook_signature.h"
#include "http/http_server.h"

namespace aplus {

struct PartnerGatewayOptions {
  std::string partner;     // partner id: the session's principal
  std::string territory;   // "" = every territory of a per-territory partner
  // CURVE keys for the broker connection; unset = plain (a broker run with --insecure).
  std::optional<CurveClientKeys> curve;
  std::string broker_endpoint = "tcp://127.0.0.1:7400";
  // Local endpoint for the partner's systems. "tcp://127.0.0.1:*" binds a free port; read it
  // back with PartnerGateway::local_endpoint().
  std::string listen_endpoint = "tcp://127.0.0.1:7420";
  std::string data_dir;   // RocksDB directory; must exist or be creatable by RocksDB
  std::string spool_dir;  // "" = no spool; else an existing directory
  uint32_t window = 64;   // credit window asked of the broker
  // How long a local AcknowledgeCase / ReplyCase waits for the broker before it is answered
  // CaseUpdated{queued_locally = true}.
  int forward_timeout_ms = 2000;
  size_t max_frame_bytes = kDefaultMaxFrameBytes;  // local endpoint frame limit
  // The network's [retention]: how long the inbox keeps a case's personal data after the
  // partner's reply was accepted, and how often the erased values are compacted away.
  RetentionSettings retention;
  std::string software = "aplus-partner-gateway";

  // The HTTP API for the partner's systems (http/http_front_door.h, docs/openapi.yaml);
  // nullopt = no listener (`--http-listen off`).
  std::optional<http::HttpServerOptions> http;
  std::string token_dir = kDefaultTokenDir;  // `aplus tokens add` writes there
  // Webhooks: every event of the partner's feed POSTed to this URL ("" = none), signed with
  // these secrets (one, or two during a rotation), retried by `webhook_schedule`.
  std::string webhook_url;
  std::vector<WebhookSecret> webhook_secrets;
  WebhookSchedule webhook_schedule;
  // Connect / whole-exchange timeout of one webhook attempt.
  int webhook_timeout_ms = 10000;
};

}  // namespace aplus
