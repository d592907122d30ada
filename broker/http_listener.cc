#include "broker/http_listener.h"

namespace aplus {

Result<std::unique_ptr<HttpFrontDoor>> StartHttpListener(const HttpListenerSettings& settings,
                                                         std::vector<HttpRoute> routes) {
  if (settings.listen.empty()) return std::unique_ptr<HttpFrontDoor>();
  auto address = http::ParseListenAddress(settings.listen);
  if (!address.ok()) {
    return Status(wire::INVALID_ARGUMENT, "--http-listen: " + address.status().message());
  }
  HttpFrontDoorOptions door;
  door.server.host = address->first;
  door.server.port = address->second;
  door.server.tls_cert_file = settings.tls_cert_file;
  door.server.tls_key_file = settings.tls_key_file;
  door.token_dir = settings.token_dir;
  auto started = HttpFrontDoor::Start(std::move(door), std::move(routes));
  if (!started.ok()) {
    return Status(started.status().code(),
                  "HTTP listener on " + settings.listen + ": " + started.status().message());
  }
  return std::move(started).value();
}

}  // namespace aplus
