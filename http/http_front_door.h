// The HTTP front door of a program: one HttpServer (http/http_server.h) whose requests are
// handed to the program's loop thread (http/request_queue.h), authenticated with bearer tokens
// (common/live_token_store.h, reloaded live), matched against the program's route table, and
// given to the route's handler on that thread. Written once for every program that serves HTTP:
// the gateways' APIs (docs/openapi.yaml; agent-gateway/agent_http_routes.cc,
// partner-gateway/partner_http_routes.cc), the broker's metrics and health listener, the
// operator console. Each program only supplies its routes.
//
// What the front door answers itself (every answer an RFC 9457 problem, http/problem.h):
//   no or unknown token            -> 401 NOT_AUTHENTICATED (WWW-Authenticate: Bearer)
//   no route for the path          -> 404 NOT_FOUND
//   a route, not for this method   -> 405 METHOD_NOT_ALLOWED (Allow: ...)
//   a query parameter given twice, a malformed percent-escape in the path or the query
//                                  -> 400 INVALID_ARGUMENT
//   GET /v1/openapi.yaml           -> options.contract_yaml when set (no token: it holds no data)
// Limits (header and body sizes, slow clients, connection count) are the HttpServer's.
//
// Thread rules: Start on any thread; fd() and Dispatch() on the one loop thread that owns the
// gateway's state, which is also the thread every route handler runs on. A handler answers
// through HttpCall::responder at once or later (long polls keep it), from that thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/live_token_store.h"
#include "common/status.h"
#include "common/token_store.h"
#include "http/http_message.h"
#include "http/http_server.h"
#include "http/request_queue.h"
#include "http/responder.h"

namespace aplus {

// One request as a route handler sees it.
struct HttpCall {
  http::HttpRequest request;
  std::map<std::string, std::string> path;   // "{id}" segments by name, percent-decoded
  std::map<std::string, std::string> query;  // percent-decoded ("+" is a space)
  TokenIdentity token;                       // who called (empty on routes without a token)
  http::Responder responder;
};

struct HttpRoute {
  std::string method;   // "GET", "POST"
  std::string pattern;  // "/v1/cases/{id}/close": literal segments and {name} segments
  std::function<void(HttpCall&&)> handle;
  bool needs_token = true;
  // A route that needs a token only when the listener is not on loopback (GET /metrics: a
  // scraper on the same host needs no secret; across the network Prometheus sends a bearer
  // token). Ignored when needs_token is false.
  bool open_on_loopback = false;
};

struct HttpFrontDoorOptions {
  http::HttpServerOptions server;
  std::string token_dir;  // the tokens made by `aplus tokens add` (common/token_store.h)
  // The gateway's group commit (gateway/group_commit.h): every answer a route sends waits for
  // the current turn's fsync (a read may show this turn's writes), and becomes the commit's
  // error when the fsync failed. Null: answers leave at once.
  std::function<void(std::function<void(const Status& committed)>)> after_commit;
  // Served as GET /v1/openapi.yaml (application/yaml) when not empty; must outlive the door.
  std::string_view contract_yaml;
  // Told of every answer as it is sent (aplus_http_requests_total, metrics/http_request_metrics.h):
  // `route` is the PATTERN of the route that matched ("/v1/cases/{id}", never the raw path, so
  // that no case id reaches a label), "/v1/openapi.yaml", or kUnmatchedRoute when no route
  // matched; `status` is the status really sent (after the group commit's verdict). Called on
  // the thread that answers (the loop thread). Null: nothing is counted.
  std::function<void(const std::string& route, int status)> count_answer;
};

// The route label of requests no route matched (404, and 400 for a malformed path).
inline constexpr const char* kUnmatchedRoute = "unmatched";

class HttpFrontDoor {
 public:
  // Loads the tokens and starts the server. INVALID_ARGUMENT for an unusable token directory
  // or server options (non-loopback without TLS...), UNAVAILABLE when the address cannot be
  // bound. Routes are matched in table order; patterns must not overlap.
  static Result<std::unique_ptr<HttpFrontDoor>> Start(HttpFrontDoorOptions options,
                                                      std::vector<HttpRoute> routes);
  ~HttpFrontDoor();
  HttpFrontDoor(const HttpFrontDoor&) = delete;
  HttpFrontDoor& operator=(const HttpFrontDoor&) = delete;

  // Readable while requests wait: poll it with ZMQ_POLLIN (a zmq_pollitem_t with fd = fd()).
  int fd() const;
  // Loop thread: answers or hands to its route every waiting request, oldest first; reloads the
  // tokens when their directory changed (checked at most once a second). `before_first`, when
  // given, runs once before the first request is handled (none waiting: not at all), e.g. to
  // commit what the owner's reads would otherwise show before it is on disk.
  void Dispatch(const std::function<void()>& before_first = nullptr);

  uint16_t port() const;
  bool tls() const;
  // "http://127.0.0.1:7411" (https under TLS; an IPv6 host in brackets), for start-up lines.
  std::string Url() const;

 private:
  HttpFrontDoor(std::vector<HttpRoute> routes, std::string token_dir,
                std::function<void(std::function<void(const Status&)>)> after_commit,
                std::string_view contract_yaml, bool loopback,
                std::function<void(const std::string&, int)> count_answer);
  void DispatchOne(http::PendingRequest&& pending);
  // `responder`, telling count_answer_ of its answer under `route` (itself when not counting).
  http::Responder Counted(const http::Responder& responder, std::string route) const;

  const std::vector<HttpRoute> routes_;
  const std::function<void(std::function<void(const Status&)>)> after_commit_;
  const std::string_view contract_yaml_;
  const bool loopback_;  // the listener's host is loopback (HttpRoute::open_on_loopback)
  std::string host_;     // the listener's host as given (set once by Start)
  const std::function<void(const std::string&, int)> count_answer_;
  LiveTokenStore tokens_;
  int64_t next_token_check_ms_ = 0;
  http::RequestQueue queue_;  // outlives nothing: the server (declared after) is stopped first
  std::unique_ptr<http::HttpServer> server_;
};

// --- for route handlers ---------------------------------------------------------------------

// The JSON types a request field may have.
enum class JsonType { kString, kBoolean, kInteger };

// One field a request body may carry: rules as data, checked by ReadJsonBody.
struct JsonField {
  const char* name;
  JsonType type;
  bool required = false;
  size_t max_length = 0;  // strings: at most this many bytes (0 = no limit); required strings
                          // must not be empty
};

// The request body as a JSON object holding only `fields`. When it is not acceptable, answers
// the call with the problem and returns nullopt: 415 UNSUPPORTED_MEDIA_TYPE when a body comes
// without Content-Type application/json, 400 MALFORMED when it is not JSON (or not UTF-8) or not
// an object, 400 INVALID_ARGUMENT naming the field when a field is unknown, of the wrong type,
// too long, or required and missing. An empty body is {}.
std::optional<nlohmann::json> ReadJsonBody(const HttpCall& call,
                                           const std::vector<JsonField>& fields);

// A query parameter as an integer in [min, max]: `fallback` when absent, INVALID_ARGUMENT naming
// it when it is not a decimal integer in range.
Result<int64_t> QueryInteger(const HttpCall& call, const std::string& name, int64_t fallback,
                             int64_t min, int64_t max);

// Sends `body` as application/json with `status` and extra headers (Location...).
void SendJson(const http::Responder& responder, int status, const nlohmann::json& body,
              std::vector<std::pair<std::string, std::string>> headers = {});

// Sends the problem document of `status` (http/problem.h).
void SendProblem(const http::Responder& responder, const Status& status);

// "%41b+c" -> "Ab c" (query rules); nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace aplus
