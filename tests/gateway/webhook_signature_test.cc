// Standard Webhooks signatures: the specification's published vector, rotation with two
// secrets, the timestamp tolerance, and malformed secrets and headers.
#include "gateway/webhook_signature.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using aplus::WebhookSecret;

// From the specification's reference libraries (standard-webhooks/standard-webhooks,
// libraries/python/tests/test_webhooks.py, test_sign_function).
constexpr const char* kSpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kSpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kSpecTimestamp = 1614265330;
constexpr const char* kSpecBody = "{\"test\": 2432232314}";
constexpr const char* kSpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

WebhookSecret Secret(const std::string& text) {
  auto secret = WebhookSecret::Parse(text);
  REQUIRE(secret.ok());
  return *secret;
}

}  // namespace

TEST_CASE("the specification's test vector signs and verifies") {
  WebhookSecret secret = Secret(kSpecSecret);
  CHECK(secret.Sign(kSpecId, kSpecTimestamp, kSpecBody) == kSpecSignature);
  CHECK(secret.ToString() == kSpecSecret);
  // The prefix is optional on input, and a secret file's newline is ignored.
  CHECK(Secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").Sign(kSpecId, kSpecTimestamp, kSpecBody) ==
        kSpecSignature);
  CHECK(aplus::VerifyWebhook({secret}, kSpecId, "1614265330", kSpecSignature, kSpecBody,
                             kSpecTimestamp + 10)
            .ok());
}

TEST_CASE("a changed id, timestamp, body or signature is refused") {
  std::vector<WebhookSecret> secrets{Secret(kSpecSecret)};
  auto verify = [&](const char* id, const char* timestamp, const char* signature,
                    const char* body) {
    return aplus::VerifyWebhook(secrets, id, timestamp, signature, body, kSpecTimestamp);
  };
  CHECK(verify(kSpecId, "1614265330", kSpecSignature, kSpecBody).ok());
  CHECK(verify("msg_other", "1614265330", kSpecSignature, kSpecBody).code() ==
        aplus::wire::PERMISSION_DENIED);
  CHECK(verify(kSpecId, "1614265331", kSpecSignature, kSpecBody).code() ==
        aplus::wire::PERMISSION_DENIED);
  CHECK(verify(kSpecId, "1614265330", kSpecSignature, "{\"test\": 2432232315}").code() ==
        aplus::wire::PERMISSION_DENIED);
  // The reference tests' "invalid signature": the last character differs.
  CHECK(verify(kSpecId, "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", kSpecBody)
            .code() == aplus::wire::PERMISSION_DENIED);
  // Another version's prefix with the right MAC is not a v1 signature.
  CHECK_FALSE(
      verify(kSpecId, "1614265330", "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", kSpecBody)
          .ok());
  CHECK_FALSE(verify(kSpecId, "1614265330", "", kSpecBody).ok());
  CHECK(verify("", "1614265330", kSpecSignature, kSpecBody).code() ==
        aplus::wire::INVALID_ARGUMENT);
  for (const char* bad_timestamp : {"", "hello", "1614265330 ", "+1614265330", "16142653.30"}) {
    CAPTURE(bad_timestamp);
    CHECK(verify(kSpecId, bad_timestamp, kSpecSignature, kSpecBody).code() ==
          aplus::wire::PERMISSION_DENIED);
  }
}

TEST_CASE("the timestamp must be within the tolerance, either way") {
  std::vector<WebhookSecret> secrets{Secret(kSpecSecret)};
  auto at = [&](int64_t now) {
    return aplus::VerifyWebhook(secrets, kSpecId, "1614265330", kSpecSignature, kSpecBody, now);
  };
  CHECK(at(kSpecTimestamp + aplus::kWebhookToleranceSeconds).ok());
  CHECK(at(kSpecTimestamp - aplus::kWebhookToleranceSeconds).ok());
  aplus::Status old = at(kSpecTimestamp + aplus::kWebhookToleranceSeconds + 1);
  CHECK(old.code() == aplus::wire::PERMISSION_DENIED);
  CHECK(old.message().find("too old") != std::string::npos);
  CHECK(at(kSpecTimestamp - aplus::kWebhookToleranceSeconds - 1).message().find("future") !=
        std::string::npos);
  CHECK(aplus::VerifyWebhook(secrets, kSpecId, "1614265330", kSpecSignature, kSpecBody,
                             kSpecTimestamp + 60, /*tolerance_seconds=*/30)
            .code() == aplus::wire::PERMISSION_DENIED);
}

TEST_CASE("rotation: two secrets sign twice, and either secret alone verifies") {
  auto old_secret = WebhookSecret::Generate();
  auto new_secret = WebhookSecret::Generate();
  REQUIRE(old_secret.ok());
  REQUIRE(new_secret.ok());
  CHECK(old_secret->ToString() != new_secret->ToString());
  CHECK(Secret(old_secret->ToString()).ToString() == old_secret->ToString());

  std::string header = aplus::SignWebhook({*old_secret, *new_secret}, "evt-1", 1700000000, "{}");
  size_t space = header.find(' ');
  REQUIRE(space != std::string::npos);
  CHECK(header.substr(0, space) == old_secret->Sign("evt-1", 1700000000, "{}"));
  CHECK(header.substr(space + 1) == new_secret->Sign("evt-1", 1700000000, "{}"));

  for (const auto& receiver : {*old_secret, *new_secret}) {
    CHECK(aplus::VerifyWebhook({receiver}, "evt-1", "1700000000", header, "{}", 1700000000).ok());
  }
  auto stranger = WebhookSecret::Generate();
  CHECK(aplus::VerifyWebhook({*stranger}, "evt-1", "1700000000", header, "{}", 1700000000)
            .code() == aplus::wire::PERMISSION_DENIED);
  // The reference tests' multi-signature header: junk around the valid one is skipped.
  std::string spec_header = std::string("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ") +
                            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + kSpecSignature +
                            " v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
  CHECK(aplus::VerifyWebhook({Secret(kSpecSecret)}, kSpecId, "1614265330", spec_header, kSpecBody,
                             kSpecTimestamp)
            .ok());
}

TEST_CASE("secret files: one or two secrets, comments and blank lines skipped") {
  auto two = aplus::ParseWebhookSecrets(std::string("# current\n") + kSpecSecret +
                                        "\n\n  whsec_" + std::string(32, 'A') + "  \n");
  REQUIRE(two.ok());
  CHECK(two->size() == 2);
  CHECK((*two)[0].ToString() == kSpecSecret);

  CHECK(aplus::ParseWebhookSecrets("").status().code() == aplus::wire::INVALID_ARGUMENT);
  CHECK(aplus::ParseWebhookSecrets("# nothing\n").status().code() ==
        aplus::wire::INVALID_ARGUMENT);
  std::string three = std::string(kSpecSecret) + "\n" + kSpecSecret + "\n" + kSpecSecret + "\n";
  CHECK(aplus::ParseWebhookSecrets(three).status().code() == aplus::wire::INVALID_ARGUMENT);
  auto bad = aplus::ParseWebhookSecrets(std::string(kSpecSecret) + "\nwhsec_not base64\n");
  CHECK(bad.status().code() == aplus::wire::INVALID_ARGUMENT);
  CHECK(bad.status().message().find("line 2") != std::string::npos);
}

TEST_CASE("malformed or weak secrets are refused") {
  for (const char* text : {"", "whsec_", "whsec_abc", "whsec_!!!!",
                           "whsec_AAAAAAAAAAAAAAAAAAAAAAA=", "whsec_QUJD"}) {
    CAPTURE(text);
    CHECK(WebhookSecret::Parse(text).status().code() == aplus::wire::INVALID_ARGUMENT);
  }
  // 65 bytes is more than a secret holds.
  CHECK_FALSE(WebhookSecret::Parse("whsec_" + aplus::EncodeBase64(std::string(65, 'x'))).ok());
  CHECK(WebhookSecret::Parse("whsec_" + aplus::EncodeBase64(std::string(64, 'x'))).ok());
}

TEST_CASE("base64 round-trips and refuses non-canonical text") {
  for (std::string bytes : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                            std::string("foob"), std::string("\0\xff\x80", 3)}) {
    CAPTURE(bytes);
    auto decoded = aplus::DecodeBase64(aplus::EncodeBase64(bytes));
    REQUIRE(decoded.ok());
    CHECK(*decoded == bytes);
  }
  CHECK(aplus::EncodeBase64("foobar") == "Zm9vYmFy");
  CHECK(aplus::EncodeBase64("fo") == "Zm8=");
  CHECK_FALSE(aplus::DecodeBase64("Zm9=").ok());  // non-zero dropped bits
  CHECK_FALSE(aplus::DecodeBase64("Zm8").ok());
  CHECK_FALSE(aplus::DecodeBase64("Z=8=").ok());
  CHECK_FALSE(aplus::DecodeBase64("Zm-_").ok());
}
