// The webhook retry schedule: the default, the config grammar, jitter, Retry-After, the give-up
// limit, the verdict table and the "failing since" report time.
#include "gateway/webhook_schedule.h"

#include <doctest/doctest.h>

#include <string>

namespace {

using aplus::WebhookOutcome;
using aplus::WebhookSchedule;
using aplus::WebhookTransport;
using aplus::WebhookVerdict;

constexpr int64_t kS = 1000;
constexpr int64_t kMin = 60 * kS;
constexpr int64_t kH = 60 * kMin;
constexpr int64_t kD = 24 * kH;

WebhookSchedule Parse(const std::string& text) {
  auto schedule = WebhookSchedule::Parse(text);
  INFO(text);
  REQUIRE(schedule.ok());
  return *schedule;
}

// The instants of every attempt of a webhook that always fails, without jitter.
std::vector<int64_t> Attempts(const WebhookSchedule& schedule, int64_t queued_ms) {
  std::vector<int64_t> at;
  for (int n = 0; n < 1000; ++n) {
    auto next = schedule.NextAttemptMs(n, queued_ms, at.empty() ? 0 : at.front(),
                                       at.empty() ? 0 : at.back(), 0, 0.5);
    if (!next) break;
    at.push_back(*next);
  }
  return at;
}

WebhookVerdict Verdict(int status) {
  return aplus::ClassifyWebhookOutcome(WebhookOutcome{WebhookTransport::kResponse, status, 0});
}

}  // namespace

TEST_CASE("the default: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every 10 h for 3 days") {
  WebhookSchedule schedule;
  CHECK(schedule.ToString() ==
        "0s,5s,5m,30m,2h,5h,10h;every=10h;until=3d;jitter=0.2;report=1 jours-ouvres");
  CHECK(Parse(aplus::kDefaultWebhookSchedule).ToString() == schedule.ToString());
  CHECK(schedule.every_ms() == 10 * kH);
  CHECK(schedule.until_ms() == 3 * kD);

  std::vector<int64_t> at = Attempts(schedule, 1000);
  REQUIRE(at.size() >= 8);
  CHECK(at[0] == 1000);
  int64_t expected_gaps[] = {5 * kS, 5 * kMin, 30 * kMin, 2 * kH, 5 * kH, 10 * kH, 10 * kH};
  for (size_t i = 0; i < std::size(expected_gaps); ++i) {
    CAPTURE(i);
    CHECK(at[i + 1] - at[i] == expected_gaps[i]);
  }
  // 0 + 5s + 5m + 30m + 2h + 5h + 10h = 17h35m05s; then every 10 h while within 3 days.
  CHECK(at.back() - at.front() <= 3 * kD);
  CHECK(at.back() - at.front() > 3 * kD - 10 * kH);
  CHECK(at.size() == 12);  // 17h35m05s + 5 x 10 h = 67h35m05s; a 6th would be 77h35m
}

TEST_CASE("a short schedule for tests, and the config's defaults") {
  WebhookSchedule fast = Parse("0s,200ms,500ms;every=1s;until=4s;jitter=0;report=3 seconds");
  std::vector<int64_t> at = Attempts(fast, 0);
  CHECK(at == std::vector<int64_t>{0, 200, 700, 1700, 2700, 3700});
  CHECK(fast.ToString() == "0s,200ms,500ms;every=1s;until=4s;jitter=0;report=3 secondes");
  CHECK(Parse(fast.ToString()).ToString() == fast.ToString());

  WebhookSchedule bare = Parse("0s, 2s");
  CHECK(bare.every_ms() == 2 * kS);  // the last delay
  CHECK(bare.until_ms() == 3 * kD);
  CHECK(bare.jitter() == doctest::Approx(0.2));
  CHECK(Parse("0s").every_ms() == kS);  // never a busy loop
  // A first attempt may wait too.
  CHECK(Parse("1s,1s;jitter=0").NextAttemptMs(0, 500, 0, 0, 0, 0.9) == 1500);
}

TEST_CASE("bad schedules are refused with the clause named") {
  for (const char* text : {"", "5", "5x", "-5s", "5s,", "31d", "0s;every=0s", "0s;every=500ms",
                           "0s;every", "0s;until=forever", "0s;jitter=2", "0s;jitter=-0.1",
                           "0s;jitter=", "0s;report=1 fortnight", "0s;color=red",
                           "0s;every=1s;every=2s", "0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,"
                                                   "0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,0s,"
                                                   "0s,0s,0s"}) {
    CAPTURE(text);
    auto parsed = WebhookSchedule::Parse(text);
    CHECK(parsed.status().code() == aplus::wire::INVALID_ARGUMENT);
    CHECK(parsed.status().message().find("webhook schedule") == 0);
  }
}

TEST_CASE("jitter spreads a retry within +-jitter, never the first attempt") {
  WebhookSchedule schedule = Parse("0s,10s;jitter=0.2");
  CHECK(schedule.NextAttemptMs(0, 7, 0, 0, 0, 0.99) == 7);
  CHECK(schedule.NextAttemptMs(1, 0, 0, 0, 0, 0.0) == 8 * kS);
  CHECK(schedule.NextAttemptMs(1, 0, 0, 0, 0, 0.5) == 10 * kS);
  CHECK(schedule.NextAttemptMs(1, 0, 0, 0, 0, 1.0) == 12 * kS);
  for (double r = 0; r < 1; r += 0.01) {
    auto at = schedule.NextAttemptMs(1, 0, 0, 0, 0, r);
    REQUIRE(at);
    CHECK(*at >= 8 * kS);
    CHECK(*at <= 12 * kS);
  }
}

TEST_CASE("Retry-After delays the next attempt, within the limit") {
  WebhookSchedule schedule = Parse("0s,5s;every=5s;until=1m;jitter=0");
  CHECK(schedule.NextAttemptMs(1, 0, 0, 0, 30 * kS, 0.5) == 30 * kS);
  CHECK(schedule.NextAttemptMs(1, 0, 0, 0, 1 * kS, 0.5) == 5 * kS);  // sooner: the schedule wins
  CHECK_FALSE(schedule.NextAttemptMs(1, 0, 0, 0, 2 * kMin, 0.5));    // past the limit: give up
  CHECK_FALSE(schedule.NextAttemptMs(5, 0, 0, 58 * kS, 0, 0.5));

  CHECK(aplus::ParseRetryAfter("120", 0) == 120 * kS);
  CHECK(aplus::ParseRetryAfter(" 0 ", 0) == 0);
  // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480.
  CHECK(aplus::ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480000 - 90 * kS) ==
        90 * kS);
  CHECK(aplus::ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480000 + kS) == 0);
  for (const char* bad : {"", "soon", "-1", "1.5", "99999999999", "Wed, 21 Oct 2015 07:28:00"}) {
    CAPTURE(bad);
    CHECK_FALSE(aplus::ParseRetryAfter(bad, 0));
  }
}

TEST_CASE("the verdict table: 2xx done; timeout, connection error, 5xx, 408, 429 retried") {
  for (int status : {200, 201, 202, 204, 299}) {
    CAPTURE(status);
    CHECK(Verdict(status) == WebhookVerdict::kDelivered);
  }
  for (int status : {408, 429, 500, 502, 503, 504, 599}) {
    CAPTURE(status);
    CHECK(Verdict(status) == WebhookVerdict::kRetry);
  }
  for (int status : {0, 100, 199, 301, 302, 400, 401, 403, 404, 405, 409, 410, 413, 422, 600}) {
    CAPTURE(status);
    CHECK(Verdict(status) == WebhookVerdict::kPermanent);
  }
  CHECK(aplus::ClassifyWebhookOutcome({WebhookTransport::kTimeout, 0, 0}) ==
        WebhookVerdict::kRetry);
  CHECK(aplus::ClassifyWebhookOutcome({WebhookTransport::kConnectionError, 0, 0}) ==
        WebhookVerdict::kRetry);
  // A status code left over in a transport failure does not change its verdict.
  CHECK(aplus::ClassifyWebhookOutcome({WebhookTransport::kTimeout, 404, 0}) ==
        WebhookVerdict::kRetry);
  CHECK(aplus::WebhookVerdictName(WebhookVerdict::kPermanent) == "permanent");
}

TEST_CASE("failing since: reported after one working day of the partner's calendar") {
  WebhookSchedule schedule;
  // Friday 27 November 2026, 10:00 UTC: the next working day is Monday 30; the report comes at
  // its end, 23:59:59 in Paris (22:59:59 UTC).
  constexpr int64_t kFriday = 1795773600000;
  constexpr int64_t kMondayEnd = 1796079599000;
  auto at = schedule.ReportAtMs(kFriday, "28");
  REQUIRE(at.ok());
  CHECK(*at == kMondayEnd);
  CHECK_FALSE(schedule.ReportAtMs(kFriday, "no-such-departement").ok());

  WebhookSchedule fast = Parse("0s;report=3 seconds");
  CHECK(*fast.ReportAtMs(kFriday, "28") == kFriday + 3 * kS);
}
