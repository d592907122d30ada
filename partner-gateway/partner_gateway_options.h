// What a partner gateway is told at start-up (built by main.cc from flags and the network
// config; built directly by tests). Immutable once the gateway is opened.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/curve_client.h"
#include "common/network_config.h"
#include "common/wire.h"

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
};

}  // namespace aplus
