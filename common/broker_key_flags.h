// The flags with which a gateway says how it reaches the broker securely: its key pair, the
// broker's public key, or --insecure (a broker run with --insecure on loopback). Shared by the
// agent and partner gateways' main().
#pragma once

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "common/curve_client.h"

namespace aplus {

struct BrokerKeyFlags {
  std::string key_file;
  std::string broker_key;
  bool insecure = false;

  void AddTo(CLI::App& app) {
    app.add_option("--key", key_file,
                   "this gateway's CURVE key pair file (made by `aplus keygen`, mode 0600)");
    app.add_option("--broker-key", broker_key, "the broker's public key (.pub file or Z85 text)");
    app.add_flag("--insecure", insecure,
                 "no CURVE, for a broker run with --insecure on loopback (development only)");
  }

  // The keys for `broker_endpoint` (BrokerConnectionKeys); nullopt, said loudly, when insecure.
  Result<std::optional<CurveClientKeys>> Resolve(const std::string& broker_endpoint) const {
    auto keys = BrokerConnectionKeys(key_file, broker_key, insecure, broker_endpoint);
    if (keys.ok() && !keys->has_value()) {
      spdlog::critical("INSECURE: no CURVE on the broker connection (--insecure); development only");
    }
    return keys;
  }
};

}  // namespace aplus
