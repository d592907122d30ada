// The HTTP client that POSTs a webhook to a partner's URL: the project's one outgoing exchange
// (common/http_post.h: Boost.Beast, https with OpenSSL verifying the server's certificate
// against the system's CAs and its host name), with the webhook sender's words for failures.
// One request per connection ("Connection: close"): webhooks are sent one at a time and rarely
// enough that keeping connections alive is not worth the state. Redirects are not followed
// (a 3xx is an answer, see webhook_schedule.h).
//
// Timeouts: the whole exchange (name resolution, connect, TLS handshake, send, response) must
// end within `timeout`; otherwise the outcome is kTimeout. Refused, reset, unresolvable and
// TLS failures are kConnectionError, with the reason in `error`.
//
// Thread rules: a client is used by one thread at a time (the webhook sender's); Post blocks
// that thread for at most about `timeout`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "gateway/webhook_schedule.h"

namespace aplus {

// "http://host[:port]/path" or "https://...", split.
struct WebhookUrl {
  bool tls = false;
  std::string host;
  std::string port;    // "80" / "443" when not given
  std::string target;  // "/path?query", "/" when empty
  // INVALID_ARGUMENT for another scheme, no host, user info, or a fragment.
  static Result<WebhookUrl> Parse(const std::string& text);
};

struct WebhookHttpResult {
  WebhookOutcome outcome;
  std::string error;  // "" for a complete response; else "timeout", "connection refused"...
};

class WebhookHttpClient {
 public:
  explicit WebhookHttpClient(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  // POSTs `body` as application/json with `headers` to `url`; the response's Retry-After is
  // read with ParseRetryAfter (relative to `now_ms`).
  WebhookHttpResult Post(const WebhookUrl& url,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         const std::string& body, int64_t now_ms) const;

 private:
  const std::chrono::milliseconds timeout_;
};

}  // namespace aplus
