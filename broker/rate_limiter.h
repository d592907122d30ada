// Per-principal request rate limit: one token bucket per principal, refilled continuously.
// A principal that floods the broker is answered RATE_LIMITED while everyone else is served.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace aplus {

enum class RateDecision {
  kAllowed,
  kRefused,       // refused; the principal was already being refused (no need to log again)
  kFirstRefusal,  // the first refusal after a period of allowed requests: worth one log line
};

// Thread rules: owned and used by the broker's loop thread only.
class RateLimiter {
 public:
  // `per_second` = 0 disables the limit. `burst` is the bucket's size: how many requests a
  // quiet principal may send at once.
  RateLimiter(double per_second, uint32_t burst);

  RateDecision Take(const std::string& principal, int64_t now_ms);
  // After a refusal: milliseconds until `principal` has a token again (the Retry-After hint).
  int64_t MsUntilToken(const std::string& principal) const;
  bool enabled() const { return per_second_ > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t refilled_at_ms = 0;
    bool refusing = false;
  };
  const double per_second_;
  const double burst_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace aplus
