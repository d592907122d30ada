#include "console/console_sessions.h"

#include <doctest/doctest.h>

using namespace aplus;

namespace {

http::HttpRequest WithCookie(const std::string& cookie) {
  http::HttpRequest request;
  request.headers.emplace_back("cookie", cookie);
  return request;
}

}  // namespace

TEST_CASE("a session is found by its cookie, with its own CSRF token") {
  ConsoleSessions sessions;
  const ConsoleSession& opened = sessions.Open("operator", 1000);
  std::string id = opened.id;
  std::string csrf = opened.csrf;
  CHECK(id.size() == 64);
  CHECK(csrf.size() == 64);
  CHECK(id != csrf);
  auto found = sessions.Find(WithCookie("theme=dark; aplus_session=" + id + "; x=1"), 2000);
  REQUIRE(found);
  CHECK(found->person == "operator");
  CHECK(found->csrf == csrf);
  CHECK_FALSE(sessions.Find(WithCookie("aplus_session=" + std::string(64, '0')), 2000));
  CHECK_FALSE(sessions.Find(http::HttpRequest{}, 2000));
  CHECK(sessions.Open("operator", 3000).id != id);  // every sign-in its own session
}

TEST_CASE("a session ends after 8 hours idle, or at sign-out") {
  ConsoleSessions sessions;
  std::string id = sessions.Open("operator", 0).id;
  auto request = WithCookie("aplus_session=" + id);
  // Each request restarts the idle clock.
  CHECK(sessions.Find(request, ConsoleSessions::kIdleLimitMs - 1));
  CHECK(sessions.Find(request, 2 * ConsoleSessions::kIdleLimitMs - 2));
  CHECK_FALSE(sessions.Find(request, 3 * ConsoleSessions::kIdleLimitMs));
  std::string other = sessions.Open("admin", 0).id;
  sessions.Close(other);
  CHECK_FALSE(sessions.Find(WithCookie("aplus_session=" + other), 1));
}

TEST_CASE("the cookie is HttpOnly and SameSite=Strict, Secure under TLS") {
  std::string plain = ConsoleSessions::CookieHeader("abc", false);
  CHECK(plain == "aplus_session=abc; Path=/; HttpOnly; SameSite=Strict");
  CHECK(ConsoleSessions::CookieHeader("abc", true).find("; Secure") != std::string::npos);
  CHECK(ConsoleSessions::CookieHeader("", false).find("Max-Age=0") != std::string::npos);
}
