#include "broker/rate_limiter.h"

#include <algorithm>
#include <cmath>

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

int64_t RateLimiter::MsUntilToken(const std::string& principal) const {
  if (!enabled()) return 0;
  auto it = buckets_.find(principal);
  double missing = it == buckets_.end() ? 0 : std::max(0.0, 1.0 - it->second.tokens);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(missing * 1000.0 / per_second_)));
}

}  // namespace aplus
