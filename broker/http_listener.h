// The broker's HTTP listener (GET /metrics, GET /health), started the same way by the Broker
// and by a pair's standby, which serve the same --http-listen address in turn (the standby
// closes it when it leads; the Broker binds it then).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/http_front_door.h"

namespace aplus {

struct HttpListenerSettings {
  std::string listen;         // --http-listen HOST:PORT; empty = no listener
  std::string tls_cert_file;  // --http-tls-cert (required off loopback: http/http_server.h)
  std::string tls_key_file;   // --http-tls-key
  std::string token_dir;      // bearer tokens for /metrics off loopback (`aplus tokens add`)
};

// The front door on `settings.listen` serving `routes`; nullptr when `listen` is empty. Its
// errors are start-up errors, naming the flag or the address.
Result<std::unique_ptr<HttpFrontDoor>> StartHttpListener(const HttpListenerSettings& settings,
                                                         std::vector<HttpRoute> routes);

}  // namespace aplus
