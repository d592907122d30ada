#include "common/retry_policy.h"

#include <algorithm>
#include <array>

namespace aplus {
namespace {

using wire::ErrorCode;
constexpr Retry kT = Retry::kTransient;
constexpr Retry kP = Retry::kPermanent;

// Why each row is what it is: see the header. Keep in the enum's order.
constexpr std::array kErrorRules = {
    ErrorRule{wire::ERROR_UNSPECIFIED, kP},
    ErrorRule{wire::MALFORMED, kP},
    ErrorRule{wire::UNKNOWN_MESSAGE, kP},
    ErrorRule{wire::TOO_LARGE, kP},
    ErrorRule{wire::NOT_AUTHENTICATED, kT},  // the broker restarted: say Hello, send again
    ErrorRule{wire::BAD_CREDENTIAL, kP},
    ErrorRule{wire::PERMISSION_DENIED, kP},
    ErrorRule{wire::UNKNOWN_PARTNER, kP},
    ErrorRule{wire::UNKNOWN_CONTACT_POINT, kP},
    ErrorRule{wire::UNKNOWN_CASE, kP},
    ErrorRule{wire::INVALID_TRANSITION, kP},
    ErrorRule{wire::INVALID_ARGUMENT, kP},
    ErrorRule{wire::UNAVAILABLE, kT},  // cannot write durably now; a restart recovers
    ErrorRule{wire::INTERNAL, kP},     // a bug: retrying would block the queue behind it
    ErrorRule{wire::UNREACHABLE, kT},  // no answer in time; the request is idempotent
    ErrorRule{wire::RATE_LIMITED, kT},
    ErrorRule{wire::TOO_MANY_OPEN_CASES, kT},  // cases get closed; honour retry_after_ms
    ErrorRule{wire::MANDATE_REQUIRED, kP},
    ErrorRule{wire::NOT_DEAD_LETTERED, kP},
    ErrorRule{wire::NOT_LEADER, kT},  // a standby: the link moves to the leader, send again there
};

}  // namespace

std::span<const ErrorRule> ErrorRules() { return kErrorRules; }

bool IsTransient(wire::ErrorCode code) {
  for (const auto& rule : kErrorRules) {
    if (rule.code == code) return rule.retry == Retry::kTransient;
  }
  return false;
}

Backoff::Backoff(int64_t base_ms, int64_t cap_ms, uint64_t seed)
    : base_ms_(std::max<int64_t>(1, base_ms)), cap_ms_(std::max(base_ms, cap_ms)), random_(seed) {}

int64_t Backoff::NextDelayMs(const Status& why) {
  ++failures_;
  int shift = static_cast<int>(std::min<uint32_t>(failures_ - 1, 30));
  int64_t ceiling = std::min(cap_ms_, base_ms_ << shift);
  int64_t delay = std::uniform_int_distribution<int64_t>(0, ceiling)(random_);
  return std::max(delay, std::min(why.retry_after_ms(), kMaxHintMs));
}

}  // namespace aplus
