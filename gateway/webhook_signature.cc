#include "gateway/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>

#include "common/text.h"

namespace aplus {
namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::string_view kVersionPrefix = "v1,";
constexpr size_t kMinSecretBytes = 24;
constexpr size_t kMaxSecretBytes = 64;
constexpr size_t kGeneratedSecretBytes = 32;
constexpr size_t kMaxSecrets = 2;
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Status Denied(std::string message) { return Status(wire::PERMISSION_DENIED, std::move(message)); }

int AlphabetIndex(char c) {
  size_t at = kAlphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// The timestamp is signed as the header spells it: a receiver checks what it was sent.
std::string Hmac(std::string_view key, std::string_view id, std::string_view timestamp,
                 std::string_view body) {
  std::string message;
  message.reserve(id.size() + timestamp.size() + body.size() + 2);
  message.append(id).append(".").append(timestamp).append(".").append(body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  // HMAC() with a valid digest and in-memory buffers does not fail short of memory exhaustion;
  // an empty MAC then matches nothing on the receiver's side.
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(),
           &mac_size) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac.data()), mac_size);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // The lengths are public (a signature's length says nothing about the key).
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string EncodeBase64(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t group = (static_cast<uint8_t>(bytes[i]) << 16) |
                     (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) text += kAlphabet[(group >> shift) & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t group = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) group |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    text += kAlphabet[(group >> 18) & 63];
    text += kAlphabet[(group >> 12) & 63];
    text += rest == 2 ? kAlphabet[(group >> 6) & 63] : '=';
    text += '=';
  }
  return text;
}

Result<std::string> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgument("not base64: its length is not a multiple of 4");
  std::string bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int padding = 0;
    if (last && text[i + 3] == '=') padding = text[i + 2] == '=' ? 2 : 1;
    uint32_t group = 0;
    for (int k = 0; k < 4; ++k) {
      int value = 0;
      if (k >= 4 - padding) {
        value = 0;
      } else {
        value = AlphabetIndex(text[i + k]);
        if (value < 0) return InvalidArgument("not base64: unexpected character");
      }
      group = (group << 6) | static_cast<uint32_t>(value);
    }
    // Canonical only: the bits the padding drops must be zero, so one value has one spelling.
    if ((padding == 1 && (group & 0xFF) != 0) || (padding == 2 && (group & 0xFFFF) != 0)) {
      return InvalidArgument("not base64: non-canonical padding");
    }
    bytes += static_cast<char>((group >> 16) & 0xFF);
    if (padding < 2) bytes += static_cast<char>((group >> 8) & 0xFF);
    if (padding < 1) bytes += static_cast<char>(group & 0xFF);
  }
  return bytes;
}

Result<WebhookSecret> WebhookSecret::Parse(std::string_view text) {
  text = TrimBlanks(text);
  if (text.substr(0, kSecretPrefix.size()) == kSecretPrefix) {
    text.remove_prefix(kSecretPrefix.size());
  }
  auto key = DecodeBase64(text);
  if (!key.ok()) {
    return InvalidArgument("webhook secret: " + key.status().message() +
                           " (expected whsec_<base64>)");
  }
  if (key->size() < kMinSecretBytes || key->size() > kMaxSecretBytes) {
    return InvalidArgument("webhook secret: " + std::to_string(key->size()) +
                           " bytes; a secret has 24 to 64 random bytes");
  }
  return WebhookSecret(std::move(*key));
}

Result<WebhookSecret> WebhookSecret::Generate() {
  std::string key(kGeneratedSecretBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return Status(wire::INTERNAL, "webhook secret: no random bytes from OpenSSL");
  }
  return WebhookSecret(std::move(key));
}

std::string WebhookSecret::ToString() const {
  return std::string(kSecretPrefix) + EncodeBase64(key_);
}

std::string WebhookSecret::Sign(std::string_view id, int64_t timestamp_seconds,
                                std::string_view body) const {
  return std::string(kVersionPrefix) +
         EncodeBase64(Hmac(key_, id, std::to_string(timestamp_seconds), body));
}

Result<std::vector<WebhookSecret>> ParseWebhookSecrets(std::string_view text) {
  std::vector<WebhookSecret> secrets;
  int line_number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = TrimBlanks(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    auto secret = WebhookSecret::Parse(line);
    if (!secret.ok()) {
      return InvalidArgument("line " + std::to_string(line_number) + ": " +
                             secret.status().message());
    }
    secrets.push_back(std::move(*secret));
  }
  if (secrets.empty())
    return InvalidArgument("no webhook secret (expected one whsec_<base64> per line)");
  if (secrets.size() > kMaxSecrets) {
    return InvalidArgument(
        std::to_string(secrets.size()) +
        " webhook secrets; at most two (the current one and the next) are valid at "
        "once");
  }
  return secrets;
}

std::string SignWebhook(const std::vector<WebhookSecret>& secrets, std::string_view id,
                        int64_t timestamp_seconds, std::string_view body) {
  std::string header;
  for (const auto& secret : secrets) {
    if (!header.empty()) header += ' ';
    header += secret.Sign(id, timestamp_seconds, body);
  }
  return header;
}

Status VerifyWebhook(const std::vector<WebhookSecret>& secrets, std::string_view id,
                     std::string_view timestamp_header, std::string_view signature_header,
                     std::string_view body, int64_t now_seconds, int64_t tolerance_seconds) {
  if (id.empty()) return InvalidArgument("no webhook-id");
  int64_t timestamp = 0;
  const char* end = timestamp_header.data() + timestamp_header.size();
  auto [parsed_end, error] = std::from_chars(timestamp_header.data(), end, timestamp);
  if (timestamp_header.empty() || error != std::errc() || parsed_end != end) {
    return Denied("webhook-timestamp is not Unix seconds");
  }
  if (timestamp < now_seconds - tolerance_seconds) return Denied("webhook-timestamp too old");
  if (timestamp > now_seconds + tolerance_seconds) return Denied("webhook-timestamp in the future");
  for (const auto& secret : secrets) {
    std::string expected =
        std::string(kVersionPrefix) + EncodeBase64(Hmac(secret.key_, id, timestamp_header, body));
    std::string_view rest = signature_header;
    while (!rest.empty()) {
      size_t space = rest.find(' ');
      std::string_view candidate = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      if (candidate.substr(0, kVersionPrefix.size()) != kVersionPrefix) continue;
      if (ConstantTimeEquals(candidate, expected)) return Status::Ok();
    }
  }
  return Denied("no matching webhook-signature");
}

}  // namespace aplus
