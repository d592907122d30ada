#include "http/problem.h"

#include <array>
#include <cctype>

#include <nlohmann/json.hpp>

namespace aplus::http {
namespace {

struct WireProblem {
  ErrorCode code;
  ProblemRow row;
};

// The one mapping of A+ error codes to HTTP statuses. 422 is for a well-formed request that names
// something the network does not know or lacks what the law requires; 409 for a request the
// case's current state forbids; 429/503 are transient (Retry-After).
constexpr std::array kWireProblems = {
    WireProblem{wire::ERROR_UNSPECIFIED, {500, "Internal error"}},  // an OK status sent as error
    WireProblem{wire::MALFORMED, {400, "Malformed request"}},
    WireProblem{wire::UNKNOWN_MESSAGE, {400, "Unknown request"}},
    WireProblem{wire::TOO_LARGE, {413, "Request too large"}},
    WireProblem{wire::NOT_AUTHENTICATED, {401, "Not authenticated"}},
    WireProblem{wire::BAD_CREDENTIAL, {401, "Bad credential"}},
    WireProblem{wire::PERMISSION_DENIED, {403, "Permission denied"}},
    WireProblem{wire::UNKNOWN_PARTNER, {422, "Unknown partner"}},
    WireProblem{wire::UNKNOWN_CONTACT_POINT, {422, "Unknown contact point"}},
    WireProblem{wire::UNKNOWN_CASE, {404, "Unknown case"}},
    WireProblem{wire::INVALID_TRANSITION, {409, "Not allowed in the case's state"}},
    WireProblem{wire::INVALID_ARGUMENT, {400, "Invalid argument"}},
    WireProblem{wire::UNAVAILABLE, {503, "Unavailable"}},
    WireProblem{wire::INTERNAL, {500, "Internal error"}},
    WireProblem{wire::UNREACHABLE, {503, "Broker unreachable"}},
    WireProblem{wire::RATE_LIMITED, {429, "Rate limited"}},
    WireProblem{wire::TOO_MANY_OPEN_CASES, {429, "Too many open cases"}},
    WireProblem{wire::MANDATE_REQUIRED, {422, "Mandate required"}},
    WireProblem{wire::NOT_DEAD_LETTERED, {409, "Not dead-lettered"}},
    // A standby of a pair (issue 12): the gateway's link moves to the leader; retry shortly.
    WireProblem{wire::NOT_LEADER, {503, "Not the leader"}},
};

struct HttpProblem {
  HttpOnlyProblem problem;
  int http_status;
  const char* code;
  const char* title;
};

constexpr std::array kHttpProblems = {
    HttpProblem{HttpOnlyProblem::kNotFound, 404, "NOT_FOUND", "Not found"},
    HttpProblem{HttpOnlyProblem::kMethodNotAllowed, 405, "METHOD_NOT_ALLOWED", "Method not allowed"},
    HttpProblem{HttpOnlyProblem::kUnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE",
                "Unsupported media type"},
    HttpProblem{HttpOnlyProblem::kHeaderTooLarge, 431, "TOO_LARGE", "Request header too large"},
    HttpProblem{HttpOnlyProblem::kIdempotencyKeyReused, 422, "IDEMPOTENCY_KEY_REUSED",
                "Idempotency key reused"},
};

HttpResponse Build(int http_status, std::string_view code, std::string_view title,
                   const std::string& detail, int64_t retry_after_ms) {
  nlohmann::json document = {{"type", ProblemType(code)},
                             {"title", title},
                             {"status", http_status},
                             {"code", code}};
  if (!detail.empty()) document["detail"] = detail;
  HttpResponse response;
  response.status = http_status;
  response.content_type = "application/problem+json";
  if (http_status == 429 || http_status == 503) {
    int64_t seconds = retry_after_ms > 0 ? (retry_after_ms + 999) / 1000 : 1;
    document["retryAfterSeconds"] = seconds;
    response.headers.emplace_back("Retry-After", std::to_string(seconds));
  }
  if (http_status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  // Replacement of invalid UTF-8 (a detail may quote client input) instead of an exception.
  response.body = document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

}  // namespace

std::optional<ProblemRow> FindProblemRow(ErrorCode code) {
  for (const auto& entry : kWireProblems) {
    if (entry.code == code) return entry.row;
  }
  return std::nullopt;
}

int HttpStatusFor(ErrorCode code) {
  auto row = FindProblemRow(code);
  return row ? row->http_status : 500;
}

std::string ProblemType(std::string_view code_name) {
  std::string type = "https://aplus.example/problems/";
  for (char c : code_name) type += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

HttpResponse ProblemResponse(const Status& status) {
  ErrorCode code = status.ok() ? wire::INTERNAL : status.code();
  auto row = FindProblemRow(code);
  if (!row) {
    code = wire::INTERNAL;
    row = FindProblemRow(code);
  }
  std::string detail = status.ok() ? "an error was reported without a code" : status.message();
  return Build(row->http_status, wire::ErrorCode_Name(code), row->title, detail,
               status.retry_after_ms());
}

HttpResponse ProblemResponse(HttpOnlyProblem problem, std::string detail) {
  for (const auto& entry : kHttpProblems) {
    if (entry.problem == problem) {
      return Build(entry.http_status, entry.code, entry.title, detail, 0);
    }
  }
  return ProblemResponse(Status(wire::INTERNAL, detail));
}

}  // namespace aplus::http
