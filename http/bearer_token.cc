#include "http/bearer_token.h"

#include <strings.h>

#include <cctype>

namespace aplus::http {
namespace {

bool IsToken68(const std::string& token) {
  size_t end = token.find_last_not_of('=');
  if (end == std::string::npos) return false;  // empty, or only '='
  for (size_t i = 0; i <= end; ++i) {
    unsigned char c = token[i];
    if (!std::isalnum(c) && c != '-' && c != '.' && c != '_' && c != '~' && c != '+' && c != '/') {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::string> BearerToken(const HttpRequest& request) {
  auto header = request.Header("authorization");
  if (!header) return Status(wire::NOT_AUTHENTICATED, "no Authorization header: send Authorization: Bearer <token>");
  const std::string& value = *header;
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() ||
      strncasecmp(value.data(), kScheme.data(), kScheme.size()) != 0 || value[kScheme.size()] != ' ') {
    return Status(wire::NOT_AUTHENTICATED, "the Authorization header is not of the Bearer scheme");
  }
  size_t start = value.find_first_not_of(' ', kScheme.size());
  size_t stop = value.find_last_not_of(' ');
  if (start == std::string::npos) return Status(wire::NOT_AUTHENTICATED, "the Bearer token is empty");
  std::string token = value.substr(start, stop - start + 1);
  if (!IsToken68(token)) {
    return Status(wire::NOT_AUTHENTICATED, "the Bearer token has characters a token cannot have");
  }
  return token;
}

}  // namespace aplus::http
