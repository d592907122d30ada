// The broker's ZAP handler (ZeroMQ Authentication Protocol, RFC 27/ZAP): during each CURVE
// handshake libzmq asks it, over inproc://zeromq.zap.01, whether the client's long-term
// public key may connect. It answers from the keyring (common/keyring.h) and names the key as
// the connection's User-Id, which ZeroMQ then attaches to every message of that connection:
// the broker's only source of identity.
//
// Debian's libzmq 4.3 lacks ZMQ_ZAP_ENFORCE_DOMAIN: a CURVE server with no handler bound
// accepts any client that knows the server key. Start() therefore binds the handler before
// the broker binds any socket, and fails the start-up when it cannot.
//
// Two ZAP domains: "aplus" (the request socket) admits every key of the keyring;
// "aplus-alerts" (the alert publication socket) only operators', administrators' and consoles'
// keys.
//
// Thread rules: owned and driven by the broker's loop thread, which polls socket().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "common/keyring.h"
#include "common/keyring_watcher.h"
#include "common/network_config.h"
#include "common/status.h"

namespace aplus {

inline constexpr const char* kBrokerZapDomain = "aplus";
inline constexpr const char* kAlertsZapDomain = "aplus-alerts";
// The replication socket of a pair (docs/AVAILABILITY.md): keys of role broker-peer only, and
// broker-peer keys only there.
inline constexpr const char* kReplicationZapDomain = "aplus-replication";

class ZapAuthenticator {
 public:
  ZapAuthenticator(zmq::context_t& context, std::string keyring_dir, const NetworkConfig& config);

  // Binds the handler and loads the keyring. An unreadable keyring directory is an error (a
  // broker that admits nobody is a misconfiguration); single bad entries are logged and
  // skipped.
  Status Start();

  zmq::socket_t& socket() { return socket_; }

  // Answers every handshake waiting; never blocks.
  void AnswerRequests();

  // Re-reads the keyring if its directory changed. Returns the public keys whose entry was
  // removed or changed: their connections must be cut.
  std::vector<std::string> ReloadIfChanged();

  // The entry of an admitted key, or nullptr (never admitted, or removed since).
  const KeyringEntry* Find(std::string_view public_key) const {
    return keyring_.FindByPublicKey(public_key);
  }
  size_t size() const { return keyring_.entries().size(); }
  // The broker-peer entry of the pair's node `node` (key "broker-peer.<node>"), or nullptr.
  const KeyringEntry* FindPeer(std::string_view node) const {
    const KeyringEntry* entry = keyring_.FindByName("broker-peer." + std::string(node));
    return entry && entry->role == wire::BROKER_PEER ? entry : nullptr;
  }

 private:
  // The keyring's entries that name someone of the network; the others are logged.
  Keyring LoadChecked(bool* readable);
  void LogRefusal(const std::string& public_key, const std::string& address,
                  const std::string& why);

  zmq::socket_t socket_;
  const std::string keyring_dir_;
  const NetworkConfig& config_;
  KeyringWatcher watcher_;
  Keyring keyring_;
  // Refused clients reconnect every second: one log line per key and minute is enough.
  std::unordered_map<std::string, int64_t> last_refusal_logged_ms_;
};

}  // namespace aplus
