// One HTTP/1.1 POST on a fresh connection, all of it (name resolution, connect, TLS handshake,
// send, response) within a deadline: Boost.Beast over Boost.Asio, https with OpenSSL verifying
// the server's certificate against the system's CAs and its host name.
//
// The one outgoing HTTP exchange of the project. Its callers: the etcd client (leases and
// transactions on etcd's JSON gateway, common/etcd_client.cc) and the webhook sender's client
// (gateway/webhook_http_client.cc). Each keeps its own wording of failures; this module says
// which step failed and how (HttpPostFailure) and leaves the words to them.
//
// Thread rules: a call blocks its thread for at most about the deadline (plus up to one second
// to let cancelled operations finish); calls on different threads share nothing. A host name
// is looked up on a short-lived thread of its own, left to finish alone if the lookup outlives
// the deadline (getaddrinfo cannot be interrupted); an address literal is not looked up.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aplus {

struct HttpPostRequest {
  bool tls = false;
  std::string host;    // a name or an address (an IPv6 address without brackets)
  std::string port;
  std::string target;  // "/path?query"
  std::string host_header;  // the Host header's value
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host, Content-Length
  std::string body;
  // A response body past this many bytes is not read further. With status_is_enough, such a
  // response is still an answer (its status and headers, body empty); without, a failure.
  size_t max_response_body_bytes = 64 * 1024;
  bool status_is_enough = false;
};

// Where an exchange stopped without an answer.
enum class HttpPostFailure {
  kNone,        // an answer: status, headers, body
  kTimeout,     // the deadline passed (at `step`)
  kRefused,     // nobody listens at the address
  kFailed,      // any other error of `step` (name unknown, reset, TLS, malformed response...)
};

struct HttpPostResult {
  HttpPostFailure failure = HttpPostFailure::kNone;
  std::string step;   // with a failure: "resolve", "connect", "TLS", "write" or "read"
  std::string error;  // with kFailed / kRefused: the system's or the parser's message
  int status = 0;
  std::string body;
  std::optional<std::string> retry_after;  // the Retry-After header, when present

  bool answered() const { return failure == HttpPostFailure::kNone; }
};

HttpPostResult PostOnce(const HttpPostRequest& request,
                        std::chrono::steady_clock::time_point deadline);

}  // namespace aplus
