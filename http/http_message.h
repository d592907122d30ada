// The HTTP request and response as the rest of A+ sees them: plain values with no Boost type in
// sight, so that handlers (the gateways' API, metrics, the console) do not compile Beast, and a
// request can be queued and answered on another thread (http/request_queue.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aplus::http {

// One request as received. Header names are stored in lower case; a header that occurs several
// times keeps every occurrence in arrival order.
struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent (HTTP methods are case-sensitive)
  std::string target;  // the request-target as sent: "/v1/cases?limit=10"
  std::string path;    // target before '?': "/v1/cases" (not percent-decoded)
  std::string query;   // target after '?', without it: "limit=10" (not percent-decoded)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  // "127.0.0.1:53122", for logs

  // The first value of header `name` (case-insensitive), or nullopt when absent.
  std::optional<std::string> Header(std::string_view name) const;
};

// One response. `content_type` is sent as Content-Type when the body is not empty;
// Content-Length, Date, Server and Connection are set by the server.
struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones: Location, Retry-After...
  std::string body;

  // A JSON (application/json) response with `status`.
  static HttpResponse Json(int status, std::string body);
};

}  // namespace aplus::http
