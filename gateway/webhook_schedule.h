// When the partner gateway tries a webhook again, and what an HTTP outcome means for it.
//
// The schedule is a list of delays, then a period, then a limit. Attempt 0 is made delays[0]
// after the webhook is queued (0: at once); attempt n (n >= 1) is made delays[n] after attempt
// n-1 failed, or `every` after it once the list is used up; no attempt is scheduled later than
// `until` after the first one: the webhook then fails for good (the operator can redeliver it).
// The default follows the Standard Webhooks recommendation (as Svix does):
//   "0s,5s,5m,30m,2h,5h,10h;every=10h;until=3d;jitter=0.2;report=1 jours-ouvres"
// Tests write e.g. "0s,200ms,500ms;every=1s;until=10s;jitter=0;report=3 seconds".
//
// Config grammar (';'-separated clauses, the delay list first and required, others optional,
// each at most once):
//   schedule = delays *( ";" clause )
//   delays   = duration *( "," duration )            at most 32 of them
//   clause   = "every=" duration / "until=" duration / "jitter=" fraction / "report=" policy
//   duration = 1*DIGIT ( "ms" / "s" / "m" / "h" / "d" )  at most 30 days each
//   fraction = a decimal in [0, 1]                    e.g. 0.2
//   policy   = as sla::ParseReplyPolicy ("1 jours-ouvres", "24 heures", "30 seconds")
// `every` defaults to the last delay (at least 1 s), `until` to 3 d, jitter to 0.2, report to
// 1 working day.
//
// Jitter: a retry's delay is multiplied by a factor drawn uniformly in [1 - jitter, 1 + jitter]
// so that many webhooks failing together do not come back together; the first attempt (a delay
// of 0) is never delayed. A receiver's Retry-After is honoured: the next attempt is no sooner
// than it says (the schedule's later attempts move with it), within `until`.
//
// "Failing since": the time of the first failed attempt of the oldest webhook still pending
// for a partner. Once `report` has passed since then (counted by the SLA calendar of
// deadline_calculator.h: "1 jours-ouvres" is the end of the next working day of the partner's
// département), the gateway logs it once as an error and reports it with its pings.
//
// Thread rules: a WebhookSchedule is an immutable value; the functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "sla/reply_policy.h"

namespace aplus {

// How one delivery attempt ended, as the HTTP client saw it.
enum class WebhookTransport {
  kResponse,         // a complete HTTP response: see status_code
  kTimeout,          // no complete response in time (connect, send or read)
  kConnectionError,  // refused, reset, DNS or TLS failure
};

struct WebhookOutcome {
  WebhookTransport transport = WebhookTransport::kResponse;
  int status_code = 0;  // kResponse only
  // The response's Retry-After, as ParseRetryAfter reads it; 0 when none.
  int64_t retry_after_ms = 0;
};

enum class WebhookVerdict {
  kDelivered,  // done
  kRetry,      // try again by the schedule
  kPermanent,  // the receiver refuses it: no retry (it stays listed, for redelivery)
};

// The table of verdicts (first matching row wins):
//   response 200-299              delivered
//   timeout, connection error     retry
//   response 408, 429, 500-599    retry
//   any other response            permanent (other 4xx; also 1xx and 3xx, which a receiver
//                                 should not send: redirects are not followed)
WebhookVerdict ClassifyWebhookOutcome(const WebhookOutcome& outcome);
// "delivered", "retry", "permanent": for logs and `aplus partner webhooks`.
std::string_view WebhookVerdictName(WebhookVerdict verdict);

// A Retry-After header value: delay-seconds ("120") or an IMF-fixdate ("Wed, 21 Oct 2015
// 07:28:00 GMT", taken relative to `now_ms`) -> milliseconds from now (0 for a date in the
// past); nullopt when it is neither (the header is then ignored).
std::optional<int64_t> ParseRetryAfter(std::string_view header, int64_t now_ms);

class WebhookSchedule {
 public:
  // The default described above.
  WebhookSchedule();

  // The grammar above; INVALID_ARGUMENT naming the first wrong clause.
  static Result<WebhookSchedule> Parse(std::string_view text);

  // When to make attempt number `attempts_made` (0 = the first), given when the webhook was
  // queued, when the first attempt and the previous one were made (ignored while
  // attempts_made is 0, resp. < 1), the previous outcome's Retry-After (0 = none) and a
  // uniform random number in [0, 1) for the jitter. nullopt: give up (that attempt would come
  // more than `until` after the first one).
  std::optional<int64_t> NextAttemptMs(int attempts_made, int64_t queued_ms,
                                       int64_t first_attempt_ms, int64_t previous_attempt_ms,
                                       int64_t retry_after_ms, double unit_random) const;

  // When a partner failing since `failing_since_ms` is reported: `report` counted from then on
  // the calendar of `departement` (sla::ComputeDeadline). Errors as ComputeDeadline's.
  Result<int64_t> ReportAtMs(int64_t failing_since_ms, std::string_view departement) const;

  // The config form, which Parse reads back to the same schedule.
  std::string ToString() const;

  const std::vector<int64_t>& delays_ms() const { return delays_ms_; }
  int64_t every_ms() const { return every_ms_; }
  int64_t until_ms() const { return until_ms_; }
  double jitter() const { return jitter_; }
  const sla::ReplyPolicy& report() const { return report_; }

 private:
  struct Unset {};
  explicit WebhookSchedule(Unset) {}

  std::vector<int64_t> delays_ms_;
  int64_t every_ms_ = 0;
  int64_t until_ms_ = 0;
  double jitter_ = 0;
  sla::ReplyPolicy report_;
};

// "0s,5s,5m,30m,2h,5h,10h;every=10h;until=3d;jitter=0.2;report=1 jours-ouvres"
inline constexpr const char* kDefaultWebhookSchedule =
    "0s,5s,5m,30m,2h,5h,10h;every=10h;until=3d;jitter=0.2;report=1 jours-ouvres";

}  // namespace aplus
