// The one retry policy of A+ clients (both gateways' forwarders, the broker link's Subscribe,
// the benchmark, the command line): which error codes are transient (send the same request
// again later: nothing was changed and the next attempt may succeed) and which are permanent
// (the refusal is the request's final answer), and how long to wait between attempts.
//
// Every wire::ErrorCode has exactly one row in kErrorRules (retry_policy.cc); a test walks the
// enum descriptor so that a code added to aplus.proto without a row fails the build's tests.
// Decisions:
//   - UNREACHABLE, UNAVAILABLE, NOT_AUTHENTICATED, RATE_LIMITED, TOO_MANY_OPEN_CASES are
//     transient: the link, the broker's durability, the session or a limit will come back.
//   - NOT_LEADER is transient: the broker asked is a standby; the link (common/broker_link.h,
//     common/sync_client.h) moves to the leader and the same request is sent again there at
//     once.
//   - INTERNAL is permanent: it reports a bug or an answer nobody expected, and sending the
//     same bytes again would only block every request queued behind it. A gateway sets such
//     an entry aside (FAILED_LOCALLY) where `aplus retry` can send it again once it is fixed.
//   - Everything else is a refusal of the request itself (bad input, rights, lifecycle).
#pragma once

#include <cstdint>
#include <random>
#include <span>

#include "aplus.pb.h"
#include "common/status.h"

namespace aplus {

enum class Retry { kTransient, kPermanent };

struct ErrorRule {
  wire::ErrorCode code;
  Retry retry;
};

// The table: one row per wire::ErrorCode value (ERROR_UNSPECIFIED included, as permanent: it
// is not an error and must never be retried as one).
std::span<const ErrorRule> ErrorRules();

// True when a request refused with `code` should be sent again later. A code without a row
// (a newer peer's) is permanent: better set aside and visible than retried forever.
bool IsTransient(wire::ErrorCode code);
inline bool IsTransient(const Status& status) { return !status.ok() && IsTransient(status.code()); }

// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
// Jitter"): the n-th consecutive failure waits a uniform random time in [0, min(cap, base *
// 2^(n-1))], and never less than the refusal's retry_after_ms hint (honoured up to kMaxHintMs:
// a hint is not a reason to stall for hours).
// Thread rules: not thread-safe; one per retrying loop.
class Backoff {
 public:
  static constexpr int64_t kDefaultBaseMs = 100;
  static constexpr int64_t kDefaultCapMs = 5000;
  // The longest retry-after hint honoured (TOO_MANY_OPEN_CASES says a minute).
  static constexpr int64_t kMaxHintMs = 5 * 60 * 1000;

  explicit Backoff(int64_t base_ms = kDefaultBaseMs, int64_t cap_ms = kDefaultCapMs,
                   uint64_t seed = std::random_device{}());

  // Records a failure and returns how long to wait before the next attempt.
  int64_t NextDelayMs(const Status& why);
  // A success (or a fresh session): the next failure starts from the base again.
  void Reset() { failures_ = 0; }
  // Consecutive failures since the last Reset.
  uint32_t failures() const { return failures_; }

 private:
  const int64_t base_ms_;
  const int64_t cap_ms_;
  uint32_t failures_ = 0;
  std::mt19937_64 random_;
};

}  // namespace aplus
