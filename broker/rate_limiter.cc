#include "broker/rate_limiter.h"

#include <algorithm>

namespace aplus {

RateLimiter::RateLimiter(double per_second, uint32_t burst)
    : per_second_(per_second), burst_(std::max<double>(1, burst)) {}

RateDecision RateLimiter::Take(const std::string& principal, int64_t now_ms) {
  if (!enabled()) return RateDecision::kAllowed;
  auto [it, inserted] = buckets_.try_emplace(principal);
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = burst_;
    bucket.refilled_at_ms = now_ms;
  } else if (now_ms > bucket.refilled_at_ms) {
    bucket.tokens = std::min(burst_, bucket.tokens + (now_ms - bucket.refilled_at_ms) * per_second_ / 1000.0);
    bucket.refilled_at_ms = now_ms;
  }
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    bucket.refusing = false;
    return RateDecision::kAllowed;
  }
  bool first = !bucket.refusing;
  bucket.refusing = true;
  return first ? RateDecision::kFirstRefusal : RateDecision::kRefused;
}

}  // namespace aplus
