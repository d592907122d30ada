// Where the answer to one local request goes. A gateway serves two kinds of local clients with
// the same handlers: programs on its local ROUTER (the Envelope protocol: routing frames and the
// request's id) and the HTTP front door (http/http_front_door.h), which passes a callback
// that turns the answer Envelope into an HTTP response. Reply paths call `answer` when it is set
// and send on the ROUTER otherwise: one dispatch, two transports.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "aplus.pb.h"

namespace aplus {

struct LocalClient {
  std::vector<std::string> route;  // ROUTER routing frames (empty for an in-process client)
  uint64_t request_id = 0;
  // Set for in-process clients: called once, on the loop thread, with the answer.
  std::function<void(wire::Envelope)> answer;
};

}  // namespace aplus
