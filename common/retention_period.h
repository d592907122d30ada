// How long the broker keeps something before acting on it (the retention of personal data, the
// spacing of purge compactions): a whole number and a unit.
//
//   "12 months"   calendar months added to the civil date in Europe/Paris, same wall-clock
//                 time; a day the target month lacks becomes its last day (31 March + 1 month
//                 = 30 April)
//   "30 days"     calendar days, same wall-clock time (a day across a DST change is 23 or
//                 25 hours)
//   "6 hours", "15 minutes", "2 seconds"   plain durations (seconds are for tests and demos)
//
// Units are case-insensitive, singular or plural, English or French ("mois", "jours",
// "heures", "secondes"). The number is at least 1 and the period at most 100 years.
//
// Thread rules: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "sla/civil_time.h"

namespace aplus {

struct RetentionPeriod {
  enum class Unit { kMonths, kDays, kHours, kMinutes, kSeconds };
  int64_t count = 12;
  Unit unit = Unit::kMonths;
  friend bool operator==(const RetentionPeriod&, const RetentionPeriod&) = default;
};

// "12 months", "1 month", "2 seconds", "30 jours": the count, whitespace, the unit.
// INVALID_ARGUMENT naming the accepted units otherwise.
Result<RetentionPeriod> ParseRetentionPeriod(std::string_view text);

// The config form, which ParseRetentionPeriod reads back: "12 months", "1 hours".
std::string FormatRetentionPeriod(const RetentionPeriod& period);

// The instant `period` after `from_ms` (unix ms UTC), months and days counted on the civil
// calendar of `zone` as described above.
int64_t AddRetentionPeriod(int64_t from_ms, const RetentionPeriod& period,
                           const sla::TimeZone& zone);

// The length in ms of a period of hours, minutes or seconds, or of days taken as 24 hours;
// nullopt for months, whose length depends on the date.
std::optional<int64_t> FixedDurationMs(const RetentionPeriod& period);

// How often a gateway looks for copies whose erasure has fallen due: once a minute, or once per
// period when the period is shorter (seconds, for tests and demos), at most once a second.
int64_t RetentionSweepIntervalMs(const RetentionPeriod& period);

}  // namespace aplus
