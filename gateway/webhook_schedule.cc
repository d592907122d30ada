#include "gateway/webhook_schedule.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/text.h"
#include "sla/deadline_calculator.h"

namespace aplus {
namespace {

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kMinuteMs = 60 * kSecondMs;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kMaxDurationMs = 30 * kDayMs;
constexpr size_t kMaxDelays = 32;
constexpr int64_t kMinEveryMs = kSecondMs;
constexpr double kDefaultJitter = 0.2;

Status InvalidSchedule(std::string message) {
  return Status(wire::INVALID_ARGUMENT, "webhook schedule: " + std::move(message));
}

struct VerdictRow {
  WebhookTransport transport;
  int low;   // status code range, kResponse only
  int high;
  WebhookVerdict verdict;
};
// The one table of ClassifyWebhookOutcome (see the header); first match wins.
constexpr VerdictRow kVerdicts[] = {
    {WebhookTransport::kResponse, 200, 299, WebhookVerdict::kDelivered},
    {WebhookTransport::kTimeout, 0, 0, WebhookVerdict::kRetry},
    {WebhookTransport::kConnectionError, 0, 0, WebhookVerdict::kRetry},
    {WebhookTransport::kResponse, 408, 408, WebhookVerdict::kRetry},
    {WebhookTransport::kResponse, 429, 429, WebhookVerdict::kRetry},
    {WebhookTransport::kResponse, 500, 599, WebhookVerdict::kRetry},
};

struct UnitSpelling {
  std::string_view suffix;
  int64_t ms;
};
// "ms" before "m" and "s": the longest suffix is tried first.
constexpr UnitSpelling kUnits[] = {
    {"ms", 1}, {"s", kSecondMs}, {"m", kMinuteMs}, {"h", kHourMs}, {"d", kDayMs}};

Result<int64_t> ParseDuration(std::string_view text) {
  for (const auto& unit : kUnits) {
    if (text.size() <= unit.suffix.size() ||
        text.substr(text.size() - unit.suffix.size()) != unit.suffix) {
      continue;
    }
    std::string_view digits = text.substr(0, text.size() - unit.suffix.size());
    int64_t count = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    if (error != std::errc() || end != digits.data() + digits.size()) break;
    if (count < 0 || count > kMaxDurationMs / unit.ms) break;
    return count * unit.ms;
  }
  return InvalidSchedule("'" + std::string(text.substr(0, 32)) +
                         "' is not a duration (a whole number and ms, s, m, h or d; at most 30 d)");
}

std::string FormatDuration(int64_t ms) {
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (ms % it->ms == 0 && (ms != 0 || it->ms == kSecondMs)) {
      return std::to_string(ms / it->ms) + std::string(it->suffix);
    }
  }
  return std::to_string(ms) + "ms";
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t at = text.find(separator);
    parts.push_back(TrimBlanks(text.substr(0, at)));
    if (at == std::string_view::npos) return parts;
    text = text.substr(at + 1);
  }
}

}  // namespace

WebhookVerdict ClassifyWebhookOutcome(const WebhookOutcome& outcome) {
  for (const auto& row : kVerdicts) {
    if (row.transport != outcome.transport) continue;
    if (row.transport == WebhookTransport::kResponse &&
        (outcome.status_code < row.low || outcome.status_code > row.high)) {
      continue;
    }
    return row.verdict;
  }
  return WebhookVerdict::kPermanent;
}

std::string_view WebhookVerdictName(WebhookVerdict verdict) {
  switch (verdict) {
    case WebhookVerdict::kDelivered:
      return "delivered";
    case WebhookVerdict::kRetry:
      return "retry";
    case WebhookVerdict::kPermanent:
      return "permanent";
  }
  return "permanent";
}

std::optional<int64_t> ParseRetryAfter(std::string_view header, int64_t now_ms) {
  header = TrimBlanks(header);
  if (header.empty()) return std::nullopt;
  int64_t seconds = 0;
  auto [end, error] = std::from_chars(header.data(), header.data() + header.size(), seconds);
  if (error == std::errc() && end == header.data() + header.size()) {
    if (seconds < 0 || seconds > kMaxDurationMs / kSecondMs) return std::nullopt;
    return seconds * kSecondMs;
  }
  // IMF-fixdate, the one date form senders must use (RFC 9110 5.6.7).
  std::string text(header);
  struct tm parts {};
  const char* rest = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  if (rest == nullptr || *rest != '\0') return std::nullopt;
  int64_t at_ms = static_cast<int64_t>(::timegm(&parts)) * kSecondMs;
  return std::max<int64_t>(0, at_ms - now_ms);
}

WebhookSchedule::WebhookSchedule() {
  auto parsed = Parse(kDefaultWebhookSchedule);
  // The default is a constant of this file's grammar; Parse of it cannot fail.
  *this = std::move(*parsed);
}

Result<WebhookSchedule> WebhookSchedule::Parse(std::string_view text) {
  WebhookSchedule schedule{Unset{}};
  std::vector<std::string_view> clauses = Split(text, ';');
  std::vector<std::string_view> delays = Split(clauses[0], ',');
  if (delays.size() > kMaxDelays) return InvalidSchedule("more than 32 delays");
  for (std::string_view delay : delays) {
    auto ms = ParseDuration(delay);
    if (!ms.ok()) return ms.status();
    schedule.delays_ms_.push_back(*ms);
  }
  schedule.until_ms_ = 3 * kDayMs;
  schedule.jitter_ = kDefaultJitter;
  schedule.report_ = sla::ReplyPolicy{1, sla::ReplyUnit::kWorkingDays};
  bool seen[4] = {false, false, false, false};
  bool every_given = false;
  constexpr std::string_view kKeys[] = {"every", "until", "jitter", "report"};
  for (size_t i = 1; i < clauses.size(); ++i) {
    std::string_view clause = clauses[i];
    size_t equals = clause.find('=');
    std::string_view key = TrimBlanks(clause.substr(0, equals));
    std::string_view value = equals == std::string_view::npos
                                 ? std::string_view()
                                 : TrimBlanks(clause.substr(equals + 1));
    auto known = std::find(std::begin(kKeys), std::end(kKeys), key);
    if (known == std::end(kKeys) || equals == std::string_view::npos) {
      return InvalidSchedule("unknown clause '" + std::string(clause.substr(0, 32)) +
                             "' (expected every=, until=, jitter= or report=)");
    }
    size_t index = known - std::begin(kKeys);
    if (seen[index]) return InvalidSchedule("'" + std::string(key) + "' given twice");
    seen[index] = true;
    if (key == "every" || key == "until") {
      auto ms = ParseDuration(value);
      if (!ms.ok()) return ms.status();
      if (key == "every") {
        if (*ms < kMinEveryMs) return InvalidSchedule("every= is at least 1s");
        schedule.every_ms_ = *ms;
        every_given = true;
      } else {
        schedule.until_ms_ = *ms;
      }
    } else if (key == "jitter") {
      double jitter = -1;
      std::string copy(value);
      char* end = nullptr;
      jitter = std::strtod(copy.c_str(), &end);
      if (copy.empty() || end != copy.c_str() + copy.size() || !(jitter >= 0 && jitter <= 1)) {
        return InvalidSchedule("jitter= is a fraction between 0 and 1, not '" + copy.substr(0, 32) +
                               "'");
      }
      schedule.jitter_ = jitter;
    } else {
      auto policy = sla::ParseReplyPolicy(value);
      if (!policy.ok()) return InvalidSchedule("report=: " + policy.status().message());
      schedule.report_ = *policy;
    }
  }
  if (!every_given) schedule.every_ms_ = std::max(kMinEveryMs, schedule.delays_ms_.back());
  return schedule;
}

std::optional<int64_t> WebhookSchedule::NextAttemptMs(int attempts_made, int64_t queued_ms,
                                                      int64_t first_attempt_ms,
                                                      int64_t previous_attempt_ms,
                                                      int64_t retry_after_ms,
                                                      double unit_random) const {
  if (attempts_made <= 0) return queued_ms + delays_ms_[0];
  size_t index = static_cast<size_t>(attempts_made);
  int64_t delay = index < delays_ms_.size() ? delays_ms_[index] : every_ms_;
  double factor = 1.0 - jitter_ + 2.0 * jitter_ * std::clamp(unit_random, 0.0, 1.0);
  int64_t at = previous_attempt_ms + static_cast<int64_t>(std::llround(delay * factor));
  at = std::max(at, previous_attempt_ms + std::max<int64_t>(0, retry_after_ms));
  if (at > first_attempt_ms + until_ms_) return std::nullopt;
  return at;
}

Result<int64_t> WebhookSchedule::ReportAtMs(int64_t failing_since_ms,
                                            std::string_view departement) const {
  auto deadline = sla::ComputeDeadline(report_, failing_since_ms, departement, {}, {},
                                       /*write_lines=*/false);
  if (!deadline.ok()) return deadline.status();
  return deadline->deadline_ms;
}

std::string WebhookSchedule::ToString() const {
  std::string text;
  for (int64_t delay : delays_ms_) {
    if (!text.empty()) text += ',';
    text += FormatDuration(delay);
  }
  char jitter[32];
  std::snprintf(jitter, sizeof(jitter), "%g", jitter_);
  text += ";every=" + FormatDuration(every_ms_) + ";until=" + FormatDuration(until_ms_) +
          ";jitter=" + jitter + ";report=" + sla::FormatReplyPolicy(report_);
  return text;
}

}  // namespace aplus
