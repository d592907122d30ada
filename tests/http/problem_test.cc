#include "http/problem.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "http/bearer_token.h"

namespace aplus::http {
namespace {

std::optional<std::string> HeaderOf(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

TEST_CASE("every wire error code has a row in the problem table and a valid problem document") {
  const auto* descriptor = wire::ErrorCode_descriptor();
  REQUIRE(descriptor->value_count() > 10);
  for (int i = 0; i < descriptor->value_count(); ++i) {
    auto code = static_cast<ErrorCode>(descriptor->value(i)->number());
    CAPTURE(descriptor->value(i)->name());
    auto row = FindProblemRow(code);
    REQUIRE(row.has_value());
    CHECK(row->http_status >= 400);
    CHECK(row->http_status <= 599);
    if (code == wire::ERROR_UNSPECIFIED) continue;  // an OK status: see below
    HttpResponse response = ProblemResponse(Status(code, "detail of " + descriptor->value(i)->name()));
    CHECK(response.status == row->http_status);
    CHECK(response.content_type == "application/problem+json");
    auto document = nlohmann::json::parse(response.body);
    CHECK(document["status"] == row->http_status);
    CHECK(document["code"] == descriptor->value(i)->name());
    CHECK(document["title"] == row->title);
    CHECK(document["detail"] == "detail of " + descriptor->value(i)->name());
    CHECK(document["type"].get<std::string>().rfind("https://aplus.example/problems/", 0) == 0);
    bool transient = row->http_status == 429 || row->http_status == 503;
    CHECK(HeaderOf(response, "Retry-After").has_value() == transient);
    CHECK(document.contains("retryAfterSeconds") == transient);
  }
}

TEST_CASE("the mapping of the codes clients act upon") {
  CHECK(HttpStatusFor(wire::UNKNOWN_CASE) == 404);
  CHECK(HttpStatusFor(wire::PERMISSION_DENIED) == 403);
  CHECK(HttpStatusFor(wire::INVALID_ARGUMENT) == 400);
  CHECK(HttpStatusFor(wire::MALFORMED) == 400);
  CHECK(HttpStatusFor(wire::TOO_LARGE) == 413);
  CHECK(HttpStatusFor(wire::RATE_LIMITED) == 429);
  CHECK(HttpStatusFor(wire::TOO_MANY_OPEN_CASES) == 429);
  CHECK(HttpStatusFor(wire::UNAVAILABLE) == 503);
  CHECK(HttpStatusFor(wire::UNREACHABLE) == 503);
  CHECK(HttpStatusFor(wire::NOT_AUTHENTICATED) == 401);
  CHECK(HttpStatusFor(wire::BAD_CREDENTIAL) == 401);
  CHECK(HttpStatusFor(wire::INVALID_TRANSITION) == 409);
  CHECK(HttpStatusFor(wire::MANDATE_REQUIRED) == 422);
  CHECK(HttpStatusFor(wire::INTERNAL) == 500);
}

TEST_CASE("Retry-After is the hint rounded up to seconds, 1 without a hint") {
  auto limited = ProblemResponse(Status(wire::RATE_LIMITED, "slow down").WithRetryAfterMs(2001));
  CHECK(HeaderOf(limited, "Retry-After") == "3");
  CHECK(nlohmann::json::parse(limited.body)["retryAfterSeconds"] == 3);
  auto unavailable = ProblemResponse(Status(wire::UNAVAILABLE, "disk"));
  CHECK(HeaderOf(unavailable, "Retry-After") == "1");
  auto unauthenticated = ProblemResponse(Status(wire::NOT_AUTHENTICATED, "who?"));
  CHECK(HeaderOf(unauthenticated, "WWW-Authenticate") == "Bearer");
}

TEST_CASE("an OK status sent as an error becomes INTERNAL, and bad UTF-8 in a detail is replaced") {
  auto response = ProblemResponse(Status::Ok());
  CHECK(response.status == 500);
  CHECK(nlohmann::json::parse(response.body)["code"] == "INTERNAL");
  auto quoted = ProblemResponse(Status(wire::INVALID_ARGUMENT, std::string("bad \xff\xfe input")));
  CHECK(nlohmann::json::parse(quoted.body)["status"] == 400);
}

TEST_CASE("HTTP-only problems") {
  auto not_found = ProblemResponse(HttpOnlyProblem::kNotFound, "no /v2");
  CHECK(not_found.status == 404);
  CHECK(nlohmann::json::parse(not_found.body)["code"] == "NOT_FOUND");
  CHECK(ProblemResponse(HttpOnlyProblem::kMethodNotAllowed, "").status == 405);
  CHECK(ProblemResponse(HttpOnlyProblem::kUnsupportedMediaType, "").status == 415);
  auto header = ProblemResponse(HttpOnlyProblem::kHeaderTooLarge, "big");
  CHECK(header.status == 431);
  CHECK(nlohmann::json::parse(header.body)["code"] == "TOO_LARGE");
  CHECK(nlohmann::json::parse(header.body)["type"] == "https://aplus.example/problems/too_large");
}

HttpRequest WithAuthorization(const std::string& value) {
  HttpRequest request;
  request.headers.emplace_back("authorization", value);
  return request;
}

TEST_CASE("the Bearer token of a request") {
  CHECK(BearerToken(WithAuthorization("Bearer abc.DEF-123_~+/==")).value() == "abc.DEF-123_~+/==");
  CHECK(BearerToken(WithAuthorization("bearer  tok  ")).value() == "tok");
  for (const char* bad : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Bearer ==",
                          "Bearertoken", "Bearer t\xc3\xa9"}) {
    CAPTURE(bad);
    auto token = BearerToken(WithAuthorization(std::string(bad)));
    REQUIRE(!token.ok());
    CHECK(token.status().code() == wire::NOT_AUTHENTICATED);
  }
  CHECK(BearerToken(HttpRequest{}).status().code() == wire::NOT_AUTHENTICATED);
}

}  // namespace
}  // namespace aplus::http
