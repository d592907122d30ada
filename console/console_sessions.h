// The console's signed-in people: one session per sign-in, named by a random 256-bit id sent
// as an HttpOnly, SameSite=Strict cookie, with its own CSRF token that every POST must echo in
// the X-CSRF-Token header. A session ends at sign-out, after kIdleLimitMs without a request
// (the live alert stream does not count: an open tab must still idle out), kLifetimeMs after
// sign-in whatever happens, and as soon as the token it was opened with is removed or replaced
// (Console::Signed checks it on every request).
// Sessions live in memory only: a restarted console asks everyone to sign in again (the
// tokens, not the sessions, are the credential).
//
// Thread rules: one thread (the console's loop thread). The clock is passed in, so that tests
// can age sessions without sleeping.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "http/http_message.h"

namespace aplus {

struct ConsoleSession {
  std::string id;      // 64 hex characters, the cookie's value
  std::string person;  // the [[operators]] id the console acts for
  std::string csrf;    // 64 hex characters, echoed by every POST
  std::string token_sha256;  // the sign-in token's entry (common/token_store.h)
  int64_t opened_ms = 0;
  int64_t last_used_ms = 0;
};

class ConsoleSessions {
 public:
  static constexpr int64_t kIdleLimitMs = 8LL * 3600 * 1000;
  static constexpr int64_t kLifetimeMs = 12LL * 3600 * 1000;
  // At most this many sessions per person: the oldest is closed when one more opens (one
  // valid token cannot fill the console's memory).
  static constexpr size_t kMaxSessionsPerPerson = 16;
  static constexpr const char* kCookieName = "aplus_session";

  // Opens a session for `person` at `now_ms` with fresh random id and CSRF token.
  const ConsoleSession& Open(const std::string& person, const std::string& token_sha256,
                             int64_t now_ms);

  // The live session named by the request's cookie, its idle clock restarted when `touch`;
  // nullopt when the request has no such cookie, or the session ended, idled out or outlived
  // kLifetimeMs (then it is forgotten).
  std::optional<ConsoleSession> Find(const http::HttpRequest& request, int64_t now_ms,
                                     bool touch = true);

  // Ends the session `id` (nothing when unknown).
  void Close(const std::string& id);

  // The Set-Cookie value that gives the browser session `id` (Secure when served over TLS);
  // an empty id clears the cookie.
  static std::string CookieHeader(const std::string& id, bool secure);

  // The value of cookie `name` in the request's Cookie headers; "" when absent.
  static std::string CookieValue(const http::HttpRequest& request, const std::string& name);

  size_t size() const { return sessions_.size(); }

 private:
  void ForgetIdle(int64_t now_ms);
  bool Expired(const ConsoleSession& session, int64_t now_ms) const;

  std::map<std::string, ConsoleSession> sessions_;  // by id
};

// 32 random bytes from the system's CSPRNG (OpenSSL RAND_bytes), as 64 hex characters.
std::string RandomHex256();

}  // namespace aplus
