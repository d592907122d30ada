// What aplus-console needs to start (flags in docs/PROGRAMS.md, console/main.cc).
#pragma once

#include <optional>
#include <string>

#include "common/curve_client.h"
#include "http/http_server.h"

namespace aplus {

struct ConsoleOptions {
  std::string console_id;       // its keyring principal ("console.<id>" key)
  std::string broker_endpoint;  // the broker's ROUTER
  std::string alerts_endpoint;  // the broker's alert PUB socket
  std::optional<CurveClientKeys> curve;  // unset = a broker run with --insecure
  http::HttpServerOptions http;          // where the web application is served
  std::string token_dir;        // per-person tokens (`aplus tokens add <operator id>`)
  int request_timeout_ms = 5000;  // a broker request not answered within this is 503
  int64_t stream_hold_ms = 20000; // an alert stream response waits at most this for news
};

}  // namespace aplus
