// Keys for a whole network at once: the broker's pair, one pair per principal of the network
// config, and the keyring that admits them. What the benchmark and the system tests set up
// before they start a broker; `aplus keyring provision` offers the same to a new network.
//
// Key names (keyring entry names and file names under the keys directory):
//   broker                         the broker's own pair (not in the keyring)
//   cp.<contact point>             agent gateway of that contact point
//   partner.<partner>              partner gateway of the partner (all its queues)
//   partner.<partner>.<territory>  partner gateway of one territory (per-territory partners)
//   op.<operator>                  operator (metadata, alerts, reports)
//   admin.<operator>               the same person as administrator (reads personal data)
//   console.<id>                   the operator console, acting for the persons of [[operators]]
//                                  (Provision makes console.console)
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "aplus.pb.h"
#include "common/curve_client.h"
#include "common/network_config.h"
#include "common/status.h"

namespace aplus {

// The console id Provision makes a key for ("console.console").
inline constexpr std::string_view kDefaultConsoleId = "console";

// The key name of a principal, as listed above ("" for a role without keys).
std::string KeyNameFor(wire::Role role, const std::string& principal,
                       const std::string& territory = "");

class NetworkKeys {
 public:
  // Writes every pair under `keys_dir` (NAME.key mode 0600, NAME.pub) and adds an entry per
  // principal to `keyring_dir`. Pairs already on disk are reused, so provisioning twice is
  // harmless; INVALID_ARGUMENT when a file cannot be written or read back.
  static Result<NetworkKeys> Provision(const NetworkConfig& config, const std::string& keys_dir,
                                       const std::string& keyring_dir);

  const std::string& keys_dir() const { return keys_dir_; }
  const std::string& keyring_dir() const { return keyring_dir_; }
  std::string KeyFile(const std::string& name) const { return keys_dir_ + "/" + name + ".key"; }
  std::string PublicFile(const std::string& name) const { return keys_dir_ + "/" + name + ".pub"; }
  const CurveKeyPair& broker() const { return pairs_.at("broker"); }

  // The client keys of a principal; nullopt when it has no pair here.
  std::optional<CurveClientKeys> ClientKeys(wire::Role role, const std::string& principal,
                                            const std::string& territory = "") const;

  // Creates (or reuses) the pair of one more principal and adds its keyring entry. The broker
  // sees the entry at its next keyring poll.
  Result<CurveClientKeys> AddPrincipal(wire::Role role, const std::string& principal,
                                       const std::string& territory = "");

 private:
  Result<CurveKeyPair> PairFor(const std::string& name);

  std::string keys_dir_;
  std::string keyring_dir_;
  std::map<std::string, CurveKeyPair> pairs_;
};

}  // namespace aplus
