#include "http/http_front_door.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

#include "common/clock.h"
#include "http/bearer_token.h"
#include "http/problem.h"

namespace aplus {
namespace {

constexpr int64_t kTokenCheckIntervalMs = 1000;

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  if (!path.empty() && path.front() == '/') start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

enum class Match { kNo, kYes, kMalformed };

// Whether `path` has the shape of `pattern`; fills `params` with the decoded {name} segments.
Match MatchPattern(std::string_view pattern, std::string_view path,
                   std::map<std::string, std::string>& params) {
  auto want = Segments(pattern);
  auto have = Segments(path);
  if (want.size() != have.size()) return Match::kNo;
  std::map<std::string, std::string> found;
  bool malformed = false;
  for (size_t i = 0; i < want.size(); ++i) {
    std::string_view w = want[i];
    if (w.size() >= 2 && w.front() == '{' && w.back() == '}') {
      auto decoded = PercentDecode(have[i], /*plus_is_space=*/false);
      if (!decoded) {
        malformed = true;
        continue;
      }
      if (decoded->empty()) return Match::kNo;
      found.emplace(std::string(w.substr(1, w.size() - 2)), std::move(*decoded));
    } else if (w != have[i]) {
      return Match::kNo;
    }
  }
  if (malformed) return Match::kMalformed;
  params = std::move(found);
  return Match::kYes;
}

Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> values;
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!name || !value) {
      return Status(wire::INVALID_ARGUMENT, "malformed percent-escape in the query string");
    }
    if (!values.emplace(std::move(*name), std::move(*value)).second) {
      return Status(wire::INVALID_ARGUMENT, "query parameter given more than once");
    }
  }
  return values;
}

std::string_view JsonTypeName(JsonType type) {
  switch (type) {
    case JsonType::kString:
      return "a string";
    case JsonType::kBoolean:
      return "a boolean";
    case JsonType::kInteger:
      return "an integer";
  }
  return "?";
}

bool HasType(const nlohmann::json& value, JsonType type) {
  switch (type) {
    case JsonType::kString:
      return value.is_string();
    case JsonType::kBoolean:
      return value.is_boolean();
    case JsonType::kInteger:
      return value.is_number_integer();
  }
  return false;
}

bool IsJsonMediaType(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type == "application/json";
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 3 > text.size()) return std::nullopt;
      unsigned value = 0;
      auto [end, error] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (error != std::errc() || end != text.data() + i + 3) return std::nullopt;
      out.push_back(static_cast<char>(value));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

HttpFrontDoor::HttpFrontDoor(std::vector<HttpRoute> routes, std::string token_dir,
                             std::function<void(std::function<void(const Status&)>)> after_commit,
                             std::string_view contract_yaml, bool loopback,
                             std::function<void(const std::string&, int)> count_answer)
    : routes_(std::move(routes)),
      after_commit_(std::move(after_commit)),
      contract_yaml_(contract_yaml),
      loopback_(loopback),
      count_answer_(std::move(count_answer)),
      tokens_(std::move(token_dir)) {}

HttpFrontDoor::~HttpFrontDoor() {
  // The server first: no request may be pushed into a queue that is gone.
  server_.reset();
}

Result<std::unique_ptr<HttpFrontDoor>> HttpFrontDoor::Start(HttpFrontDoorOptions options,
                                                            std::vector<HttpRoute> routes) {
  bool loopback = http::IsLoopbackHost(options.server.host);
  std::unique_ptr<HttpFrontDoor> door(
      new HttpFrontDoor(std::move(routes), std::move(options.token_dir),
                        std::move(options.after_commit), options.contract_yaml, loopback,
                        std::move(options.count_answer)));
  door->host_ = options.server.host;
  Status tokens = door->tokens_.Start();
  if (!tokens.ok()) return tokens;
  auto server = http::HttpServer::Start(std::move(options.server), door->queue_.AsHandler());
  if (!server.ok()) return server.status();
  door->server_ = std::move(server).value();
  return door;
}

int HttpFrontDoor::fd() const { return queue_.fd(); }
uint16_t HttpFrontDoor::port() const { return server_->port(); }
bool HttpFrontDoor::tls() const { return server_->tls(); }

std::string HttpFrontDoor::Url() const {
  std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  return std::string(tls() ? "https" : "http") + "://" + host + ":" + std::to_string(port());
}

void HttpFrontDoor::Dispatch(const std::function<void()>& before_first) {
  int64_t now = SteadyNowMs();
  if (now >= next_token_check_ms_) {
    tokens_.ReloadIfChanged();
    next_token_check_ms_ = now + kTokenCheckIntervalMs;
  }
  auto waiting = queue_.Drain();
  if (!waiting.empty() && before_first) before_first();
  for (auto& pending : waiting) DispatchOne(std::move(pending));
}

http::Responder HttpFrontDoor::Counted(const http::Responder& responder,
                                       std::string route) const {
  if (!count_answer_) return responder;
  return http::Responder([responder, route = std::move(route),
                          count = count_answer_](http::HttpResponse&& response) {
    int status = response.status;
    if (responder.Send(std::move(response))) count(route, status);
  });
}

void HttpFrontDoor::DispatchOne(http::PendingRequest&& pending) {
  const http::HttpRequest& request = pending.request;
  if (!contract_yaml_.empty() && request.method == "GET" && request.path == "/v1/openapi.yaml") {
    http::HttpResponse response;
    response.content_type = "application/yaml";
    response.body = std::string(contract_yaml_);
    Counted(pending.responder, "/v1/openapi.yaml").Send(std::move(response));
    return;
  }
  const HttpRoute* route = nullptr;
  std::map<std::string, std::string> params;
  std::string allowed;
  for (const auto& candidate : routes_) {
    std::map<std::string, std::string> found;
    Match match = MatchPattern(candidate.pattern, request.path, found);
    if (match == Match::kMalformed) {
      SendProblem(Counted(pending.responder, kUnmatchedRoute),
                  Status(wire::INVALID_ARGUMENT, "malformed percent-escape in the path"));
      return;
    }
    if (match == Match::kNo) continue;
    if (candidate.method == request.method) {
      route = &candidate;
      params = std::move(found);
      break;
    }
    if (allowed.find(candidate.method) == std::string::npos) {
      allowed += (allowed.empty() ? "" : ", ") + candidate.method;
    }
  }
  if (route == nullptr) {
    http::Responder responder = Counted(pending.responder, kUnmatchedRoute);
    if (!allowed.empty()) {
      auto response = http::ProblemResponse(http::HttpOnlyProblem::kMethodNotAllowed,
                                            request.method + " is not served on " + request.path);
      response.headers.emplace_back("Allow", allowed);
      responder.Send(std::move(response));
    } else {
      responder.Send(
          http::ProblemResponse(http::HttpOnlyProblem::kNotFound, "no resource " + request.path));
    }
    return;
  }
  // Counted innermost: the status counted is the one sent, after the commit's verdict.
  http::Responder counted = Counted(pending.responder, route->pattern);
  http::Responder responder = counted;
  if (after_commit_) {
    // The route's answer leaves after this turn's group commit (or as its error).
    responder = http::Responder([original = counted,
                                 after_commit = after_commit_](http::HttpResponse&& response) {
      after_commit([original, response = std::move(response)](const Status& committed) mutable {
        original.Send(committed.ok() ? std::move(response) : http::ProblemResponse(committed));
      });
    });
  }
  HttpCall call{std::move(pending.request), std::move(params), {}, {}, std::move(responder)};
  if (route->needs_token && !(route->open_on_loopback && loopback_)) {
    auto token = http::BearerToken(call.request);
    Result<TokenIdentity> identity =
        token.ok() ? tokens_.Authenticate(*token) : Result<TokenIdentity>(token.status());
    if (!identity.ok()) {
      auto response = http::ProblemResponse(
          Status(wire::NOT_AUTHENTICATED, token.ok() ? "unknown or revoked token"
                                                     : token.status().message()));
      // One challenge (RFC 9110 11.6.1): the problem response's plain "Bearer" gets the realm.
      std::erase_if(response.headers,
                    [](const auto& header) { return header.first == "WWW-Authenticate"; });
      response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"aplus\"");
      call.responder.Send(std::move(response));
      return;
    }
    call.token = std::move(identity).value();
  }
  auto query = ParseQuery(call.request.query);
  if (!query.ok()) {
    SendProblem(call.responder, query.status());
    return;
  }
  call.query = std::move(query).value();
  route->handle(std::move(call));
}

std::optional<nlohmann::json> ReadJsonBody(const HttpCall& call,
                                           const std::vector<JsonField>& fields) {
  const auto& request = call.request;
  nlohmann::json body = nlohmann::json::object();
  if (!request.body.empty()) {
    auto content_type = request.Header("content-type");
    if (!content_type || !IsJsonMediaType(*content_type)) {
      call.responder.Send(http::ProblemResponse(http::HttpOnlyProblem::kUnsupportedMediaType,
                                                "send the body as application/json"));
      return std::nullopt;
    }
    // A name given twice in one object would silently keep the last value: refused, so that
    // what the client meant is never guessed (RFC 8259 leaves it undefined).
    std::vector<std::set<std::string>> names;
    bool duplicate = false;
    nlohmann::json::parser_callback_t check = [&](int, nlohmann::json::parse_event_t event,
                                                  nlohmann::json& parsed) {
      using Event = nlohmann::json::parse_event_t;
      if (event == Event::object_start) names.emplace_back();
      if (event == Event::object_end && !names.empty()) names.pop_back();
      if (event == Event::key && !names.empty() &&
          !names.back().insert(parsed.get<std::string>()).second) {
        duplicate = true;
      }
      return true;
    };
    body = nlohmann::json::parse(request.body, check, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      SendProblem(call.responder, Status(wire::MALFORMED, "the body is not valid JSON"));
      return std::nullopt;
    }
    if (duplicate) {
      SendProblem(call.responder,
                  Status(wire::MALFORMED, "the body names a field twice in one object"));
      return std::nullopt;
    }
    if (!body.is_object()) {
      SendProblem(call.responder, Status(wire::MALFORMED, "the body must be a JSON object"));
      return std::nullopt;
    }
  }
  for (const auto& [name, value] : body.items()) {
    const JsonField* field = nullptr;
    for (const auto& candidate : fields) {
      if (name == candidate.name) field = &candidate;
    }
    if (field == nullptr) {
      SendProblem(call.responder, Status(wire::INVALID_ARGUMENT, "unknown field \"" + name + "\""));
      return std::nullopt;
    }
    if (!HasType(value, field->type)) {
      SendProblem(call.responder,
                  Status(wire::INVALID_ARGUMENT, "\"" + name + "\" must be " +
                                                     std::string(JsonTypeName(field->type))));
      return std::nullopt;
    }
    if (field->type == JsonType::kString) {
      const auto& text = value.get_ref<const std::string&>();
      if (field->max_length > 0 && text.size() > field->max_length) {
        SendProblem(call.responder,
                    Status(wire::INVALID_ARGUMENT, "\"" + name + "\" is longer than " +
                                                       std::to_string(field->max_length) +
                                                       " bytes"));
        return std::nullopt;
      }
      if (field->required && text.empty()) {
        SendProblem(call.responder,
                    Status(wire::INVALID_ARGUMENT, "\"" + name + "\" must not be empty"));
        return std::nullopt;
      }
    }
  }
  for (const auto& field : fields) {
    if (field.required && !body.contains(field.name)) {
      SendProblem(call.responder, Status(wire::INVALID_ARGUMENT,
                                         "\"" + std::string(field.name) + "\" is required"));
      return std::nullopt;
    }
  }
  return body;
}

Result<int64_t> QueryInteger(const HttpCall& call, const std::string& name, int64_t fallback,
                             int64_t min, int64_t max) {
  auto it = call.query.find(name);
  if (it == call.query.end()) return fallback;
  const std::string& text = it->second;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return Status(wire::INVALID_ARGUMENT, "\"" + name + "\" must be an integer from " +
                                              std::to_string(min) + " to " + std::to_string(max));
  }
  return value;
}

void SendJson(const http::Responder& responder, int status, const nlohmann::json& body,
              std::vector<std::pair<std::string, std::string>> headers) {
  auto response = http::HttpResponse::Json(
      status, body.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace));
  response.headers = std::move(headers);
  responder.Send(std::move(response));
}

void SendProblem(const http::Responder& responder, const Status& status) {
  responder.Send(http::ProblemResponse(status));
}

}  // namespace aplus
