// The client half of CURVE: what a gateway, the command line or a test needs to open an
// encrypted, authenticated connection to the broker. The broker knows the client by its
// public key (the keyring); the client knows the broker by the broker's public key.
#pragma once

#include <optional>
#include <string>

#include <zmq.hpp>

#include "common/curve_keys.h"
#include "common/status.h"

namespace aplus {

struct CurveClientKeys {
  std::string broker_public_key;  // Z85
  CurveKeyPair own;               // this client's long-term pair
};

// Reads the client's key pair file (`aplus keygen`'s .key, mode 0600) and the broker's public
// key (a .pub file, a .key file, or the Z85 text itself). Both empty: nullopt, a plain
// connection (only a broker started with --insecure accepts it). One without the other:
// INVALID_ARGUMENT, as is any unreadable or malformed key.
Result<std::optional<CurveClientKeys>> LoadCurveClientKeys(const std::string& key_file,
                                                           const std::string& broker_key);

// What a program's flags say about its broker connection: the CURVE keys of --key and
// --broker-key, or nullopt (plain) when `insecure` and the broker is on loopback.
// `broker_endpoint` is one endpoint or a pair's list (common/endpoint_list.h). A list that
// does not parse, a missing key without --insecure, or --insecure towards another machine
// (any endpoint of the list) is INVALID_ARGUMENT with the flags to use.
Result<std::optional<CurveClientKeys>> BrokerConnectionKeys(const std::string& key_file,
                                                            const std::string& broker_key,
                                                            bool insecure,
                                                            const std::string& broker_endpoint);

// Sets the CURVE client options on `socket`; call before connect().
void ApplyCurveClient(zmq::socket_t& socket, const CurveClientKeys& keys);

// Whether `endpoint` stays on this machine: tcp:// on 127.0.0.0/8, localhost or [::1], ipc://,
// inproc://. The only endpoints where running without CURVE (--insecure) is allowed.
bool IsLoopbackEndpoint(const std::string& endpoint);

}  // namespace aplus
