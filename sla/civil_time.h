// Civil dates and the few time zones the SLA engine needs, without the C library.
//
// Why not localtime_r/setenv("TZ") or std::chrono::zoned_time: the first depends on process-wide
// state (not thread-safe, and on the host's tzdata), the second is missing from g++ 12's
// libstdc++. The zones A+ serves are few and their rules simple, so they are written here:
//
//   Europe/Paris         CET  = UTC+1, CEST = UTC+2 from the last Sunday of March 01:00 UTC to
//                        the last Sunday of October 01:00 UTC (EU rule, in force since 1996;
//                        applied to every year, earlier history is out of scope)
//   America/Guadeloupe   UTC-4, no DST (also the zone of "971")
//   America/Martinique   UTC-4, no DST ("972")
//   America/Cayenne      UTC-3, no DST ("973", Guyane)
//   Indian/Reunion       UTC+4, no DST ("974")
//   Indian/Mayotte       UTC+3, no DST ("976")
//   UTC                  for tests and logs
//
// Date arithmetic uses Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian
// calendar, day 0 = 1970-01-01), exact for any int32 year.
//
// Thread rules: everything here is a pure function or an immutable value; safe from any thread.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace aplus::sla {

inline constexpr int64_t kMsPerSecond = 1000;
inline constexpr int64_t kMsPerMinute = 60 * kMsPerSecond;
inline constexpr int64_t kMsPerHour = 60 * kMsPerMinute;
inline constexpr int64_t kMsPerDay = 24 * kMsPerHour;

// A calendar date with no time zone. Ordered chronologically (year, month, day).
struct Date {
  int32_t year = 1970;
  int32_t month = 1;  // 1..12
  int32_t day = 1;    // 1..31
  friend auto operator<=>(const Date&, const Date&) = default;
};

// ISO numbering: Monday = 1 ... Sunday = 7.
enum class Weekday { kMonday = 1, kTuesday, kWednesday, kThursday, kFriday, kSaturday, kSunday };

// Days since 1970-01-01 (negative before). `date` must be valid (IsValidDate).
int64_t DaysFromCivil(Date date);
// The inverse of DaysFromCivil.
Date CivilFromDays(int64_t days);
Date AddDays(Date date, int64_t days);
Weekday WeekdayOf(Date date);
bool IsLeapYear(int32_t year);
int32_t DaysInMonth(int32_t year, int32_t month);
bool IsValidDate(Date date);

// "2026-05-14".
std::string FormatDate(Date date);
// Parses exactly "YYYY-MM-DD" (a real date); INVALID_ARGUMENT otherwise.
Result<Date> ParseDate(std::string_view text);
// "lundi" ... "dimanche".
std::string_view FrenchWeekdayName(Weekday weekday);
// "jeudi 14 mai 2026".
std::string FormatDateFrench(Date date);

// floor(a / b) for b > 0, also for negative a (C++ division truncates toward zero).
constexpr int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && (a < 0)); }

// A UTC instant seen on a local wall clock.
struct LocalTime {
  Date date;
  int32_t hour = 0;
  int32_t minute = 0;
  int32_t second = 0;
  int32_t millisecond = 0;
  int64_t utc_offset_ms = 0;  // local - UTC at that instant
};

// One of the zones listed at the top of this file. Immutable value, cheap to copy.
class TimeZone {
 public:
  // INVALID_ARGUMENT for a name not listed above (the names are the IANA ones, case-sensitive).
  static Result<TimeZone> FromName(std::string_view name);
  static TimeZone Paris();
  static TimeZone Utc();

  const std::string& name() const { return name_; }
  // local - UTC, in ms, at the UTC instant `utc_ms`.
  int64_t UtcOffsetMs(int64_t utc_ms) const;
  LocalTime ToLocal(int64_t utc_ms) const;
  // The UTC instant showing `ms_of_day` (0 .. 86'399'999) on the local clock on `date`.
  // In a spring-forward gap (Paris 02:00-03:00 on the last Sunday of March) the wall time does
  // not exist and is read with the offset in force before the gap (02:30 -> 03:30 CEST); in the
  // autumn overlap (02:00-03:00 twice) the earlier instant (still CEST) is returned. Neither case
  // can concern an end of day.
  int64_t LocalToUtcMs(Date date, int64_t ms_of_day) const;
  // The instant shown as 23:59:59.000 local time on `date`: the SLA "end of day".
  int64_t EndOfDayMs(Date date) const;
  // "2026-05-14 23:59:59 UTC+02:00".
  std::string Format(int64_t utc_ms) const;

 private:
  enum class Rule { kFixed, kEuropeanUnion };
  TimeZone(std::string name, Rule rule, int64_t standard_offset_ms)
      : name_(std::move(name)), rule_(rule), standard_offset_ms_(standard_offset_ms) {}

  std::string name_;
  Rule rule_;
  int64_t standard_offset_ms_;
};

// Convenience forms of the above taking the zone by name; INVALID_ARGUMENT for an unknown zone.
Result<LocalTime> ToLocal(int64_t utc_ms, std::string_view zone);
Result<int64_t> LocalEndOfDayMs(Date date, std::string_view zone);

// The IANA zone in which a contact point in `departement` lives: the overseas départements
// listed above, Europe/Paris for every other code (including "" and metropolitan codes).
std::string_view ZoneForDepartement(std::string_view departement);

}  // namespace aplus::sla
