// Standard Webhooks signatures (https://www.standardwebhooks.com/), as the partner gateway signs
// the events it POSTs to a partner's URL and as a receiver checks them.
//
// A secret is written "whsec_<base64 of 24 to 64 random bytes>"; the HMAC key is the decoded
// bytes. A message is signed as
//   webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
// where id is the webhook-id header (the same on every retry) and timestamp the
// webhook-timestamp header (Unix seconds, decimal). During a rotation the sender holds two
// secrets and sends one signature per secret, separated by a space; the receiver accepts the
// message when any signature it can check matches (unknown versions such as "v1a," are skipped).
//
// The receiver's side, in Python (what README's snippet shows), is the same computation:
//   key = base64.b64decode(secret.removeprefix("whsec_"))
//   mac = base64.b64encode(hmac.new(key, f"{id}.{ts}.".encode() + body, "sha256").digest())
//   ok = any(hmac.compare_digest(s, b"v1," + mac) for s in signature.encode().split(b" "))
//        and abs(time.time() - int(ts)) <= 300
//
// Thread rules: no shared state; a WebhookSecret is immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace aplus {

// How far a webhook-timestamp may be from the receiver's clock, either way, by default: as the
// specification's reference libraries (five minutes).
inline constexpr int64_t kWebhookToleranceSeconds = 5 * 60;

class WebhookSecret {
 public:
  // "whsec_<base64>" (the prefix is optional on input, as the reference libraries accept it;
  // surrounding whitespace, e.g. a file's final newline, is ignored). INVALID_ARGUMENT when the
  // text is not base64 or decodes to fewer than 24 bytes (192 bits) or more than 64.
  static Result<WebhookSecret> Parse(std::string_view text);
  // A new secret of 32 random bytes from the system's CSPRNG; INTERNAL when none is available.
  static Result<WebhookSecret> Generate();

  // "whsec_<base64>": what goes into a secret file and to the partner.
  std::string ToString() const;
  // "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>".
  std::string Sign(std::string_view id, int64_t timestamp_seconds, std::string_view body) const;

 private:
  friend Status VerifyWebhook(const std::vector<WebhookSecret>&, std::string_view,
                              std::string_view, std::string_view, std::string_view, int64_t,
                              int64_t);
  explicit WebhookSecret(std::string key) : key_(std::move(key)) {}
  std::string key_;  // raw bytes
};

// Several secrets from a file's text: one per line (blank lines and lines starting with '#'
// skipped), at most two (the current one and, during a rotation, the next or the previous).
// INVALID_ARGUMENT naming the line when one is not a secret, when there is none or more than two.
Result<std::vector<WebhookSecret>> ParseWebhookSecrets(std::string_view text);

// The webhook-signature header for `secrets`: one signature per secret, space-separated, in
// the order given.
std::string SignWebhook(const std::vector<WebhookSecret>& secrets, std::string_view id,
                        int64_t timestamp_seconds, std::string_view body);

// The receiver's check. OK when `timestamp_header` is a decimal Unix time within
// `tolerance_seconds` of `now_seconds` and one of the space-separated "v1," signatures of
// `signature_header` is the signature of (id, timestamp, body) under one of `secrets`
// (compared in constant time). PERMISSION_DENIED otherwise, saying which check failed (a stale
// or future timestamp, a malformed timestamp, no matching signature); INVALID_ARGUMENT when
// `id` is empty.
Status VerifyWebhook(const std::vector<WebhookSecret>& secrets, std::string_view id,
                     std::string_view timestamp_header, std::string_view signature_header,
                     std::string_view body, int64_t now_seconds,
                     int64_t tolerance_seconds = kWebhookToleranceSeconds);

// Base64 (RFC 4648, with padding) as the specification uses it; exposed for the tests.
// DecodeBase64 refuses anything but canonical padded base64 (INVALID_ARGUMENT).
std::string EncodeBase64(std::string_view bytes);
Result<std::string> DecodeBase64(std::string_view text);

}  // namespace aplus
