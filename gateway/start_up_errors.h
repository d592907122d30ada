// The typed errors both gateways give when they cannot start serving, so that their logs and
// exit statuses agree (main exits kExitStartupError for any of them: gateway/gateway_main.h).
#pragma once

#include <string>

#include "common/status.h"

namespace aplus {

// The local endpoint (or the broker's, or the HTTP listener) could not be bound or connected:
// taken, or not an address of this machine. UNAVAILABLE: something outside the flags is wrong.
inline Status ListenFailure(const std::string& endpoint, const std::string& why) {
  return Status(wire::UNAVAILABLE, "cannot listen on or connect to " + endpoint + ": " + why);
}

}  // namespace aplus
