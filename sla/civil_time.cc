#include "sla/civil_time.h"

#include <array>
#include <cstdio>

namespace aplus::sla {
namespace {

// The last Sunday of `month` in `year`, where the EU switches its clocks.
Date LastSunday(int32_t year, int32_t month) {
  Date last{year, month, DaysInMonth(year, month)};
  int back = static_cast<int>(WeekdayOf(last)) % 7;  // Sunday (7) -> 0
  return AddDays(last, -back);
}

std::string FormatOffset(int64_t offset_ms) {
  char sign = offset_ms < 0 ? '-' : '+';
  int64_t minutes = (offset_ms < 0 ? -offset_ms : offset_ms) / kMsPerMinute;
  char text[16];
  std::snprintf(text, sizeof(text), "UTC%c%02d:%02d", sign, static_cast<int>(minutes / 60),
                static_cast<int>(minutes % 60));
  return text;
}

}  // namespace

// Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms": eras of 400 years so that the
// arithmetic never depends on the sign of the year.
int64_t DaysFromCivil(Date date) {
  const int64_t y = static_cast<int64_t>(date.year) - (date.month <= 2 ? 1 : 0);
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;                          // [0, 399]
  const int64_t mp = (date.month + 9) % 12;                   // March = 0
  const int64_t doy = (153 * mp + 2) / 5 + date.day - 1;      // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  // [0, 146096]
  return era * 146097 + doe - 719468;
}

Date CivilFromDays(int64_t days) {
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;                           // [1, 31]
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;                            // [1, 12]
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return Date{static_cast<int32_t>(year), static_cast<int32_t>(month), static_cast<int32_t>(day)};
}

Date AddDays(Date date, int64_t days) { return CivilFromDays(DaysFromCivil(date) + days); }

Weekday WeekdayOf(Date date) {
  // 1970-01-01 was a Thursday (ISO 4).
  const int64_t index = ((DaysFromCivil(date) + 3) % 7 + 7) % 7;  // Monday = 0
  return static_cast<Weekday>(index + 1);
}

bool IsLeapYear(int32_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int32_t DaysInMonth(int32_t year, int32_t month) {
  static constexpr std::array<int32_t, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && IsLeapYear(year)) return 29;
  return kDays[static_cast<size_t>(month - 1)];
}

bool IsValidDate(Date date) {
  return date.month >= 1 && date.month <= 12 && date.day >= 1 &&
         date.day <= DaysInMonth(date.year, date.month);
}

std::string FormatDate(Date date) {
  char text[32];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02d", static_cast<int>(date.year),
                static_cast<int>(date.month), static_cast<int>(date.day));
  return text;
}

Result<Date> ParseDate(std::string_view text) {
  auto invalid = [&] {
    return Status(wire::INVALID_ARGUMENT,
                  "invalid date \"" + std::string(text) + "\": expected YYYY-MM-DD");
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return invalid();
  auto number = [&](size_t begin, size_t length, int32_t& out) {
    out = 0;
    for (size_t i = begin; i < begin + length; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  Date date;
  if (!number(0, 4, date.year) || !number(5, 2, date.month) || !number(8, 2, date.day)) {
    return invalid();
  }
  if (!IsValidDate(date)) {
    return Status(wire::INVALID_ARGUMENT,
                  "invalid date \"" + std::string(text) + "\": no such day in the calendar");
  }
  return date;
}

std::string_view FrenchWeekdayName(Weekday weekday) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"};
  return kNames[static_cast<size_t>(weekday) - 1];
}

std::string FormatDateFrench(Date date) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "janvier", "février", "mars",      "avril",   "mai",      "juin",
      "juillet", "août",    "septembre", "octobre", "novembre", "décembre"};
  std::string text(FrenchWeekdayName(WeekdayOf(date)));
  text += ' ';
  text += date.day == 1 ? "1er" : std::to_string(date.day);
  text += ' ';
  text += kMonths[static_cast<size_t>(date.month - 1)];
  text += ' ';
  text += std::to_string(date.year);
  return text;
}

Result<TimeZone> TimeZone::FromName(std::string_view name) {
  if (name == "Europe/Paris") return Paris();
  if (name == "UTC") return Utc();
  struct Fixed {
    std::string_view name;
    int64_t offset_ms;
  };
  static constexpr std::array<Fixed, 5> kFixed = {{
      {"America/Guadeloupe", -4 * kMsPerHour},
      {"America/Martinique", -4 * kMsPerHour},
      {"America/Cayenne", -3 * kMsPerHour},
      {"Indian/Reunion", 4 * kMsPerHour},
      {"Indian/Mayotte", 3 * kMsPerHour},
  }};
  for (const Fixed& zone : kFixed) {
    if (zone.name == name) return TimeZone(std::string(zone.name), Rule::kFixed, zone.offset_ms);
  }
  return Status(wire::INVALID_ARGUMENT,
                "unknown time zone \"" + std::string(name) +
                    "\": known zones are Europe/Paris, America/Guadeloupe, America/Martinique, "
                    "America/Cayenne, Indian/Reunion, Indian/Mayotte and UTC");
}

TimeZone TimeZone::Paris() { return TimeZone("Europe/Paris", Rule::kEuropeanUnion, kMsPerHour); }

TimeZone TimeZone::Utc() { return TimeZone("UTC", Rule::kFixed, 0); }

int64_t TimeZone::UtcOffsetMs(int64_t utc_ms) const {
  if (rule_ == Rule::kFixed) return standard_offset_ms_;
  // The switches happen at 01:00 UTC in March and October, far from any year boundary, so the
  // UTC year of the instant is the year whose switches matter.
  const int32_t year = CivilFromDays(FloorDiv(utc_ms, kMsPerDay)).year;
  const int64_t summer_begins = DaysFromCivil(LastSunday(year, 3)) * kMsPerDay + kMsPerHour;
  const int64_t summer_ends = DaysFromCivil(LastSunday(year, 10)) * kMsPerDay + kMsPerHour;
  const bool summer = utc_ms >= summer_begins && utc_ms < summer_ends;
  return standard_offset_ms_ + (summer ? kMsPerHour : 0);
}

LocalTime TimeZone::ToLocal(int64_t utc_ms) const {
  LocalTime local;
  local.utc_offset_ms = UtcOffsetMs(utc_ms);
  const int64_t local_ms = utc_ms + local.utc_offset_ms;
  const int64_t days = FloorDiv(local_ms, kMsPerDay);
  int64_t ms_of_day = local_ms - days * kMsPerDay;
  local.date = CivilFromDays(days);
  local.hour = static_cast<int32_t>(ms_of_day / kMsPerHour);
  ms_of_day %= kMsPerHour;
  local.minute = static_cast<int32_t>(ms_of_day / kMsPerMinute);
  ms_of_day %= kMsPerMinute;
  local.second = static_cast<int32_t>(ms_of_day / kMsPerSecond);
  local.millisecond = static_cast<int32_t>(ms_of_day % kMsPerSecond);
  return local;
}

int64_t TimeZone::LocalToUtcMs(Date date, int64_t ms_of_day) const {
  const int64_t local_ms = DaysFromCivil(date) * kMsPerDay + ms_of_day;
  if (rule_ == Rule::kFixed) return local_ms - standard_offset_ms_;
  // A wall time is valid under an offset if that offset is the one in force at the instant it
  // designates. Try summer time first so that the autumn overlap resolves to the earlier instant.
  const int64_t summer_offset = standard_offset_ms_ + kMsPerHour;
  const int64_t as_summer = local_ms - summer_offset;
  if (UtcOffsetMs(as_summer) == summer_offset) return as_summer;
  // Winter time, or the spring gap, which is read with the winter offset in force before it.
  return local_ms - standard_offset_ms_;
}

int64_t TimeZone::EndOfDayMs(Date date) const {
  return LocalToUtcMs(date, 23 * kMsPerHour + 59 * kMsPerMinute + 59 * kMsPerSecond);
}

std::string TimeZone::Format(int64_t utc_ms) const {
  const LocalTime local = ToLocal(utc_ms);
  char text[64];
  if (local.millisecond == 0) {
    std::snprintf(text, sizeof(text), "%s %02d:%02d:%02d ", FormatDate(local.date).c_str(),
                  local.hour, local.minute, local.second);
  } else {
    std::snprintf(text, sizeof(text), "%s %02d:%02d:%02d.%03d ", FormatDate(local.date).c_str(),
                  local.hour, local.minute, local.second, local.millisecond);
  }
  return text + FormatOffset(local.utc_offset_ms);
}

Result<LocalTime> ToLocal(int64_t utc_ms, std::string_view zone) {
  Result<TimeZone> time_zone = TimeZone::FromName(zone);
  if (!time_zone.ok()) return time_zone.status();
  return time_zone->ToLocal(utc_ms);
}

Result<int64_t> LocalEndOfDayMs(Date date, std::string_view zone) {
  Result<TimeZone> time_zone = TimeZone::FromName(zone);
  if (!time_zone.ok()) return time_zone.status();
  return time_zone->EndOfDayMs(date);
}

std::string_view ZoneForDepartement(std::string_view departement) {
  if (departement == "971") return "America/Guadeloupe";
  if (departement == "972") return "America/Martinique";
  if (departement == "973") return "America/Cayenne";
  if (departement == "974") return "Indian/Reunion";
  if (departement == "976") return "Indian/Mayotte";
  return "Europe/Paris";
}

}  // namespace aplus::sla
