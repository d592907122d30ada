#include "broker/rate_limiter.h"

#include <doctest/doctest.h>

using aplus::RateDecision;
using aplus::RateLimiter;

TEST_CASE("a quiet principal may send a burst, then the sustained rate") {
  RateLimiter limiter(/*per_second=*/10, /*burst=*/5);
  for (int i = 0; i < 5; ++i) CHECK(limiter.Take("cp/a", 1000) == RateDecision::kAllowed);
  CHECK(limiter.Take("cp/a", 1000) == RateDecision::kFirstRefusal);
  CHECK(limiter.Take("cp/a", 1000) == RateDecision::kRefused);
  // 100 ms at 10/s buys exactly one more request.
  CHECK(limiter.Take("cp/a", 1100) == RateDecision::kAllowed);
  CHECK(limiter.Take("cp/a", 1100) == RateDecision::kFirstRefusal);
  // A long pause refills the bucket up to the burst, not beyond.
  for (int i = 0; i < 5; ++i) CHECK(limiter.Take("cp/a", 60000) == RateDecision::kAllowed);
  CHECK(limiter.Take("cp/a", 60000) != RateDecision::kAllowed);
}

TEST_CASE("one principal's flood does not spend another's tokens") {
  RateLimiter limiter(1, 2);
  CHECK(limiter.Take("partner/caf", 0) == RateDecision::kAllowed);
  CHECK(limiter.Take("partner/caf", 0) == RateDecision::kAllowed);
  CHECK(limiter.Take("partner/caf", 0) != RateDecision::kAllowed);
  CHECK(limiter.Take("partner/msa", 0) == RateDecision::kAllowed);
}

TEST_CASE("a zero rate means no limit") {
  RateLimiter limiter(0, 1);
  for (int i = 0; i < 10000; ++i) REQUIRE(limiter.Take("cp/a", 0) == RateDecision::kAllowed);
}
