// The one retry table and the backoff every retrying client uses (common/retry_policy.h).
#include "common/retry_policy.h"

#include <doctest/doctest.h>

#include <set>

using namespace aplus;

TEST_CASE("every ErrorCode of the wire has exactly one row in the retry table") {
  const auto* descriptor = wire::ErrorCode_descriptor();
  std::set<int> rows;
  for (const auto& rule : ErrorRules()) {
    INFO("code " << wire::ErrorCode_Name(rule.code));
    CHECK(rows.insert(rule.code).second);  // no code twice
  }
  for (int i = 0; i < descriptor->value_count(); ++i) {
    INFO("code " << descriptor->value(i)->name() << " has no row");
    CHECK(rows.count(descriptor->value(i)->number()) == 1);
  }
  CHECK(rows.size() == static_cast<size_t>(descriptor->value_count()));
}

TEST_CASE("the transient codes are the ones a later attempt can change") {
  std::set<wire::ErrorCode> transient;
  for (const auto& rule : ErrorRules()) {
    if (rule.retry == Retry::kTransient) transient.insert(rule.code);
  }
  CHECK(transient == std::set<wire::ErrorCode>{wire::UNREACHABLE, wire::UNAVAILABLE,
                                               wire::NOT_AUTHENTICATED, wire::RATE_LIMITED,
                                               wire::TOO_MANY_OPEN_CASES, wire::NOT_LEADER});
  CHECK(IsTransient(wire::RATE_LIMITED));
  CHECK_FALSE(IsTransient(wire::INTERNAL));
  CHECK_FALSE(IsTransient(wire::INVALID_TRANSITION));
  CHECK_FALSE(IsTransient(wire::ERROR_UNSPECIFIED));
  CHECK_FALSE(IsTransient(static_cast<wire::ErrorCode>(999)));  // a newer peer's code
  CHECK_FALSE(IsTransient(Status::Ok()));
  CHECK(IsTransient(Status(wire::UNAVAILABLE, "disk")));
}

TEST_CASE("backoff grows exponentially with full jitter, is capped, and starts over on Reset") {
  Backoff backoff(100, 2000, /*seed=*/42);
  const Status refused(wire::UNREACHABLE, "down");
  int64_t ceiling = 100;
  for (int attempt = 1; attempt <= 12; ++attempt) {
    int64_t delay = backoff.NextDelayMs(refused);
    INFO("attempt " << attempt);
    CHECK(delay >= 0);
    CHECK(delay <= ceiling);
    ceiling = std::min<int64_t>(ceiling * 2, 2000);
  }
  CHECK(backoff.failures() == 12);
  // Jitter: many draws at the cap are spread, not one value.
  std::set<int64_t> seen;
  for (int i = 0; i < 50; ++i) seen.insert(backoff.NextDelayMs(refused));
  CHECK(seen.size() > 10);
  CHECK(*seen.rbegin() <= 2000);
  // After a success the first failure waits at most the base again.
  backoff.Reset();
  CHECK(backoff.failures() == 0);
  for (int i = 0; i < 20; ++i) {
    backoff.Reset();
    CHECK(backoff.NextDelayMs(refused) <= 100);
  }
}

TEST_CASE("backoff never retries sooner than the refusal's retry-after hint") {
  Backoff backoff(100, 5000, /*seed=*/7);
  for (int i = 0; i < 20; ++i) {
    backoff.Reset();
    Status refused = Status(wire::RATE_LIMITED, "slow down").WithRetryAfterMs(800);
    CHECK(backoff.NextDelayMs(refused) >= 800);
  }
  // A hint longer than the backoff's cap is still honoured (the open-case ceiling says a
  // minute), up to kMaxHintMs: a hint is no reason to stall for hours.
  CHECK(backoff.NextDelayMs(Status(wire::TOO_MANY_OPEN_CASES, "full").WithRetryAfterMs(60000)) >=
        60000);
  CHECK(backoff.NextDelayMs(Status(wire::TOO_MANY_OPEN_CASES, "full").WithRetryAfterMs(3600000)) ==
        Backoff::kMaxHintMs);
}
