// RFC 9457 problem documents (application/problem+json), the body of every error response of the
// HTTP API (docs/openapi.yaml, components/schemas/Problem):
//   {"type": "https://aplus.example/problems/unknown_case", "title": "Unknown case",
//    "status": 404, "detail": "no case PER-7K3M-Q9XD", "code": "UNKNOWN_CASE",
//    "retryAfterSeconds": 3}
// The HTTP status of an A+ error comes from ONE table (problem.cc, kWireProblems) with a row for
// every wire::ErrorCode; errors that exist only in HTTP (no route, wrong method, wrong media
// type) have their own small table. Transient refusals (429, 503) always carry Retry-After.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/http_message.h"

namespace aplus::http {

// The problem a wire error code becomes.
struct ProblemRow {
  int http_status;
  const char* title;
};

// The row of `code`, or nullopt for a code the table lacks (a test checks there is none).
std::optional<ProblemRow> FindProblemRow(ErrorCode code);

// The HTTP status of `code` (500 for a code without a row).
int HttpStatusFor(ErrorCode code);

// Errors found by the HTTP layer itself, with no wire::ErrorCode.
enum class HttpOnlyProblem {
  kNotFound,              // 404 NOT_FOUND: no such path
  kMethodNotAllowed,      // 405 METHOD_NOT_ALLOWED: the path exists, the method does not
  kUnsupportedMediaType,  // 415 UNSUPPORTED_MEDIA_TYPE: a body that is not application/json
  kHeaderTooLarge,        // 431 TOO_LARGE: the request header exceeds the server's limit
  kIdempotencyKeyReused,  // 422 IDEMPOTENCY_KEY_REUSED: the key was used with another body
};

// The problem response for `status` (which must not be OK: an OK status becomes INTERNAL). When
// the HTTP status is 429 or 503, Retry-After and retryAfterSeconds are set from
// status.retry_after_ms() rounded up to whole seconds, or 1 second without a hint.
HttpResponse ProblemResponse(const Status& status);

// The problem response for an HTTP-only error, with `detail` as its detail.
HttpResponse ProblemResponse(HttpOnlyProblem problem, std::string detail);

// "https://aplus.example/problems/<code in lower case>".
std::string ProblemType(std::string_view code_name);

}  // namespace aplus::http
