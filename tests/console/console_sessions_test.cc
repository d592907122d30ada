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
  const ConsoleSession& opened = sessions.Open("operator", "hash", 1000);
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
  CHECK(sessions.Open("operator", "hash", 3000).id != id);  // every sign-in its own session
}

TEST_CASE("a session ends after 8 hours idle, 12 hours after sign-in, or at sign-out") {
  constexpr int64_t kHour = 3600 * 1000;
  ConsoleSessions sessions;
  std::string id = sessions.Open("operator", "hash", 0).id;
  auto request = WithCookie("aplus_session=" + id);
  // Each request restarts the idle clock...
  CHECK(sessions.Find(request, 7 * kHour));
  CHECK(sessions.Find(request, 11 * kHour));
  // ...but not past the session's lifetime.
  CHECK_FALSE(sessions.Find(request, 12 * kHour + 1));

  std::string idle = sessions.Open("operator", "hash", 0).id;
  CHECK_FALSE(sessions.Find(WithCookie("aplus_session=" + idle), 8 * kHour + 1));

  // A request that does not touch (the live alert stream) keeps no tab signed in.
  std::string tab = sessions.Open("operator", "hash", 0).id;
  auto stream = WithCookie("aplus_session=" + tab);
  CHECK(sessions.Find(stream, 7 * kHour, /*touch=*/false));
  CHECK_FALSE(sessions.Find(stream, 8 * kHour + 1, /*touch=*/false));

  std::string other = sessions.Open("admin", "hash", 0).id;
  sessions.Close(other);
  CHECK_FALSE(sessions.Find(WithCookie("aplus_session=" + other), 1));
}

TEST_CASE("one person holds a bounded number of sessions: the oldest goes first") {
  ConsoleSessions sessions;
  std::string first = sessions.Open("operator", "hash", 0).id;
  for (size_t i = 1; i < ConsoleSessions::kMaxSessionsPerPerson; ++i) {
    sessions.Open("operator", "hash", static_cast<int64_t>(i));
  }
  CHECK(sessions.Find(WithCookie("aplus_session=" + first), 100, false));
  sessions.Open("operator", "hash", 1000);
  CHECK(sessions.size() == ConsoleSessions::kMaxSessionsPerPerson);
  CHECK_FALSE(sessions.Find(WithCookie("aplus_session=" + first), 1001));
  std::string admin = sessions.Open("admin", "hash", 1000).id;  // others are not affected
  CHECK(sessions.Find(WithCookie("aplus_session=" + admin), 1001));
}

TEST_CASE("the cookie is HttpOnly and SameSite=Strict, Secure under TLS") {
  std::string plain = ConsoleSessions::CookieHeader("abc", false);
  CHECK(plain == "aplus_session=abc; Path=/; HttpOnly; SameSite=Strict");
  CHECK(ConsoleSessions::CookieHeader("abc", true).find("; Secure") != std::string::npos);
  CHECK(ConsoleSessions::CookieHeader("", false).find("Max-Age=0") != std::string::npos);
}
