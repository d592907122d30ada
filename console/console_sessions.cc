#include "console/console_sessions.h"

#include <openssl/rand.h>

#include <stdexcept>

namespace aplus {

std::string RandomHex256() {
  unsigned char bytes[32];
  // Without randomness no session id can be trusted: refuse loudly rather than guessably.
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char byte : bytes) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out;
}

const ConsoleSession& ConsoleSessions::Open(const std::string& person,
                                            const std::string& token_sha256, int64_t now_ms) {
  ForgetIdle(now_ms);
  size_t open = 0;
  auto oldest = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (it->second.person != person) continue;
    ++open;
    if (oldest == sessions_.end() || it->second.opened_ms < oldest->second.opened_ms) oldest = it;
  }
  if (open >= kMaxSessionsPerPerson) sessions_.erase(oldest);
  ConsoleSession session{RandomHex256(), person, RandomHex256(), token_sha256, now_ms, now_ms};
  auto [it, inserted] = sessions_.emplace(session.id, session);
  return it->second;
}

bool ConsoleSessions::Expired(const ConsoleSession& session, int64_t now_ms) const {
  return now_ms - session.last_used_ms > kIdleLimitMs || now_ms - session.opened_ms > kLifetimeMs;
}

std::optional<ConsoleSession> ConsoleSessions::Find(const http::HttpRequest& request,
                                                    int64_t now_ms, bool touch) {
  std::string id = CookieValue(request, kCookieName);
  if (id.empty()) return std::nullopt;
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (Expired(it->second, now_ms)) {
    sessions_.erase(it);
    return std::nullopt;
  }
  if (touch) it->second.last_used_ms = now_ms;
  return it->second;
}

void ConsoleSessions::Close(const std::string& id) { sessions_.erase(id); }

void ConsoleSessions::ForgetIdle(int64_t now_ms) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (Expired(it->second, now_ms)) {
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string ConsoleSessions::CookieHeader(const std::string& id, bool secure) {
  std::string cookie = std::string(kCookieName) + "=" + id + "; Path=/; HttpOnly; SameSite=Strict";
  if (id.empty()) cookie += "; Max-Age=0";
  if (secure) cookie += "; Secure";
  return cookie;
}

std::string ConsoleSessions::CookieValue(const http::HttpRequest& request,
                                         const std::string& name) {
  for (const auto& [header, value] : request.headers) {
    if (header != "cookie") continue;
    size_t pos = 0;
    while (pos < value.size()) {
      size_t end = value.find(';', pos);
      if (end == std::string::npos) end = value.size();
      std::string pair = value.substr(pos, end - pos);
      size_t start = pair.find_first_not_of(' ');
      if (start != std::string::npos) pair = pair.substr(start);
      size_t eq = pair.find('=');
      if (eq != std::string::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
      pos = end + 1;
    }
  }
  return "";
}

}  // namespace aplus
