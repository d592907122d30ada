#include "common/curve_client.h"

#include "common/endpoint_list.h"

namespace aplus {

Result<std::optional<CurveClientKeys>> LoadCurveClientKeys(const std::string& key_file,
                                                           const std::string& broker_key) {
  if (key_file.empty() && broker_key.empty()) return std::optional<CurveClientKeys>();
  if (key_file.empty() || broker_key.empty()) {
    return Status(wire::INVALID_ARGUMENT,
                  "CURVE needs both this program's key pair (--key FILE) and the broker's "
                  "public key (--broker-key FILE)");
  }
  auto own = ReadSecretKeyFile(key_file);
  if (!own.ok()) return own.status();
  auto broker = ReadPublicKey(broker_key);
  if (!broker.ok()) return broker.status();
  return std::optional(CurveClientKeys{std::move(broker).value(), std::move(own).value()});
}

bool IsLoopbackEndpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  std::string host = endpoint.substr(6);
  if (host.rfind("[::1]:", 0) == 0) return true;
  host = host.substr(0, host.rfind(':'));
  if (host == "localhost") return true;
  // 127.a.b.c, digits and dots only.
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

Result<std::optional<CurveClientKeys>> BrokerConnectionKeys(const std::string& key_file,
                                                            const std::string& broker_key,
                                                            bool insecure,
                                                            const std::string& broker_endpoint) {
  if (auto list = ParseEndpointList(broker_endpoint); !list.ok()) {
    return Status(wire::INVALID_ARGUMENT, "--broker: " + list.status().message());
  }
  if (insecure) {
    if (!key_file.empty() || !broker_key.empty()) {
      return Status(wire::INVALID_ARGUMENT, "--insecure and --key/--broker-key exclude each other");
    }
    for (const auto& endpoint : EndpointListOrSelf(broker_endpoint)) {
      if (!IsLoopbackEndpoint(endpoint)) {
        return Status(wire::INVALID_ARGUMENT, "--insecure is allowed only towards a broker on "
                                              "loopback, not " + endpoint);
      }
    }
    return std::optional<CurveClientKeys>();
  }
  auto keys = LoadCurveClientKeys(key_file, broker_key);
  if (!keys.ok()) return keys.status();
  if (!keys->has_value()) {
    return Status(wire::INVALID_ARGUMENT,
                  "the broker connection is CURVE-encrypted: give --key FILE (this program's "
                  "key pair, made by `aplus keygen`) and --broker-key FILE (the broker's public "
                  "key), or --insecure for a broker run with --insecure on loopback");
  }
  return keys;
}

void ApplyCurveClient(zmq::socket_t& socket, const CurveClientKeys& keys) {
  socket.set(zmq::sockopt::curve_serverkey, keys.broker_public_key);
  socket.set(zmq::sockopt::curve_publickey, keys.own.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.own.secret_key);
}

}  // namespace aplus
