#include "sla/civil_time.h"

#include <doctest/doctest.h>

#include <string>

namespace aplus::sla {
namespace {

// Unix ms of a UTC wall time. DaysFromCivil is checked against published constants below.
int64_t Utc(int32_t y, int32_t mo, int32_t d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
  return DaysFromCivil(Date{y, mo, d}) * kMsPerDay + h * kMsPerHour + mi * kMsPerMinute +
         s * kMsPerSecond + ms;
}

TEST_CASE("DaysFromCivil matches known unix days") {
  CHECK(DaysFromCivil(Date{1970, 1, 1}) == 0);
  CHECK(DaysFromCivil(Date{1969, 12, 31}) == -1);
  CHECK(DaysFromCivil(Date{2000, 3, 1}) == 11017);
  CHECK(DaysFromCivil(Date{2026, 1, 1}) * 86400 == 1767225600);  // date -u -d 2026-01-01 +%s
  CHECK(DaysFromCivil(Date{2038, 1, 19}) == 24855);              // the 32-bit time_t limit
  CHECK(DaysFromCivil(Date{1600, 1, 1}) == -135140);
}

TEST_CASE("CivilFromDays inverts DaysFromCivil over eight centuries") {
  Date previous = CivilFromDays(-150000);
  for (int64_t day = -150000 + 1; day <= 150000; ++day) {
    const Date date = CivilFromDays(day);
    REQUIRE(IsValidDate(date));
    REQUIRE(DaysFromCivil(date) == day);
    REQUIRE(previous < date);
    // Consecutive days: either the next day of the month or the first of the next month.
    if (date.day != 1)
      REQUIRE(date.day == previous.day + 1);
    else
      REQUIRE(previous.day == DaysInMonth(previous.year, previous.month));
    previous = date;
  }
}

TEST_CASE("WeekdayOf knows well-known days") {
  CHECK(WeekdayOf(Date{1970, 1, 1}) == Weekday::kThursday);
  CHECK(WeekdayOf(Date{2000, 1, 1}) == Weekday::kSaturday);
  CHECK(WeekdayOf(Date{2024, 2, 29}) == Weekday::kThursday);
  CHECK(WeekdayOf(Date{2026, 1, 1}) == Weekday::kThursday);
  CHECK(WeekdayOf(Date{2026, 12, 25}) == Weekday::kFriday);
  CHECK(WeekdayOf(Date{1969, 7, 20}) == Weekday::kSunday);
  CHECK(FrenchWeekdayName(Weekday::kMonday) == "lundi");
  CHECK(FrenchWeekdayName(Weekday::kSunday) == "dimanche");
}

TEST_CASE("leap years and month lengths") {
  CHECK(IsLeapYear(2024));
  CHECK(IsLeapYear(2000));
  CHECK_FALSE(IsLeapYear(1900));
  CHECK_FALSE(IsLeapYear(2026));
  CHECK(DaysInMonth(2024, 2) == 29);
  CHECK(DaysInMonth(2026, 2) == 28);
  CHECK(DaysInMonth(2026, 4) == 30);
  CHECK(DaysInMonth(2026, 12) == 31);
  CHECK(AddDays(Date{2024, 2, 28}, 1) == Date{2024, 2, 29});
  CHECK(AddDays(Date{2026, 12, 31}, 1) == Date{2027, 1, 1});
  CHECK(AddDays(Date{2026, 3, 1}, -1) == Date{2026, 2, 28});
}

TEST_CASE("ParseDate and FormatDate") {
  Result<Date> date = ParseDate("2024-02-29");
  REQUIRE(date.ok());
  CHECK(*date == Date{2024, 2, 29});
  CHECK(FormatDate(*date) == "2024-02-29");
  for (const char* bad : {"2026-02-29", "2026-13-01", "2026-00-10", "2026-1-01", "2026/01/01", "",
                          "20260101", "2026-01-01x", "abcd-ef-gh", "2026-04-31"}) {
    Result<Date> parsed = ParseDate(bad);
    CHECK_MESSAGE(!parsed.ok(), bad);
    if (!parsed.ok()) CHECK(parsed.status().code() == wire::INVALID_ARGUMENT);
  }
  CHECK(FormatDateFrench(Date{2026, 1, 15}) == "jeudi 15 janvier 2026");
  CHECK(FormatDateFrench(Date{2026, 5, 1}) == "vendredi 1er mai 2026");
  CHECK(FormatDateFrench(Date{2026, 8, 15}) == "samedi 15 août 2026");
}

TEST_CASE("Europe/Paris switches at 01:00 UTC on the last Sundays of March and October") {
  struct Switches {
    int32_t year;
    int32_t march_day;
    int32_t october_day;
  };
  // Published EU summer-time dates.
  const Switches kSwitches[] = {{2020, 29, 25}, {2021, 28, 31}, {2022, 27, 30}, {2023, 26, 29},
                                {2024, 31, 27}, {2025, 30, 26}, {2026, 29, 25}, {2027, 28, 31},
                                {2028, 26, 29}, {2029, 25, 28}, {2030, 31, 27}};
  const TimeZone paris = TimeZone::Paris();
  for (const Switches& s : kSwitches) {
    CAPTURE(s.year);
    const int64_t spring = Utc(s.year, 3, s.march_day, 1);
    const int64_t autumn = Utc(s.year, 10, s.october_day, 1);
    CHECK(paris.UtcOffsetMs(spring - 1) == kMsPerHour);
    CHECK(paris.UtcOffsetMs(spring) == 2 * kMsPerHour);
    CHECK(paris.UtcOffsetMs(autumn - 1) == 2 * kMsPerHour);
    CHECK(paris.UtcOffsetMs(autumn) == kMsPerHour);
    CHECK(paris.UtcOffsetMs(Utc(s.year, 1, 15, 12)) == kMsPerHour);
    CHECK(paris.UtcOffsetMs(Utc(s.year, 7, 15, 12)) == 2 * kMsPerHour);
    CHECK(paris.UtcOffsetMs(Utc(s.year, 12, 31, 23, 30)) == kMsPerHour);
  }
}

TEST_CASE("ToLocal in Paris around the spring switch") {
  const TimeZone paris = TimeZone::Paris();
  // 2026-03-29 00:59:59 UTC = 01:59:59 CET; one second later 03:00:00 CEST.
  LocalTime before = paris.ToLocal(Utc(2026, 3, 29, 0, 59, 59));
  CHECK(before.date == Date{2026, 3, 29});
  CHECK(before.hour == 1);
  CHECK(before.minute == 59);
  CHECK(before.second == 59);
  CHECK(before.utc_offset_ms == kMsPerHour);
  LocalTime after = paris.ToLocal(Utc(2026, 3, 29, 1));
  CHECK(after.hour == 3);
  CHECK(after.minute == 0);
  CHECK(after.utc_offset_ms == 2 * kMsPerHour);
  // Local midnight crossing: 23:30 UTC on 31 December is already New Year in Paris.
  LocalTime new_year = paris.ToLocal(Utc(2026, 12, 31, 23, 30, 0, 250));
  CHECK(new_year.date == Date{2027, 1, 1});
  CHECK(new_year.hour == 0);
  CHECK(new_year.minute == 30);
  CHECK(new_year.millisecond == 250);
}

TEST_CASE("LocalToUtcMs resolves gaps and overlaps as documented") {
  const TimeZone paris = TimeZone::Paris();
  // Winter and summer ordinary times.
  CHECK(paris.LocalToUtcMs(Date{2026, 1, 15}, 12 * kMsPerHour) == Utc(2026, 1, 15, 11));
  CHECK(paris.LocalToUtcMs(Date{2026, 7, 15}, 12 * kMsPerHour) == Utc(2026, 7, 15, 10));
  // Spring gap: 02:30 does not exist on 2026-03-29; read with CET -> 01:30 UTC (03:30 CEST).
  CHECK(paris.LocalToUtcMs(Date{2026, 3, 29}, 2 * kMsPerHour + 30 * kMsPerMinute) ==
        Utc(2026, 3, 29, 1, 30));
  CHECK(paris.LocalToUtcMs(Date{2026, 3, 29}, 3 * kMsPerHour) == Utc(2026, 3, 29, 1));
  CHECK(paris.LocalToUtcMs(Date{2026, 3, 29}, 1 * kMsPerHour + 59 * kMsPerMinute) ==
        Utc(2026, 3, 29, 0, 59));
  // Autumn overlap: 02:30 happens twice on 2026-10-25; the earlier (CEST) instant is chosen.
  CHECK(paris.LocalToUtcMs(Date{2026, 10, 25}, 2 * kMsPerHour + 30 * kMsPerMinute) ==
        Utc(2026, 10, 25, 0, 30));
  CHECK(paris.LocalToUtcMs(Date{2026, 10, 25}, 3 * kMsPerHour) == Utc(2026, 10, 25, 2));
  // Round trip for every quarter hour of 2026 outside the gap.
  for (int64_t t = Utc(2026, 1, 1); t < Utc(2027, 1, 1); t += 15 * kMsPerMinute) {
    const LocalTime local = paris.ToLocal(t);
    const int64_t ms_of_day =
        local.hour * kMsPerHour + local.minute * kMsPerMinute + local.second * kMsPerSecond;
    const int64_t back = paris.LocalToUtcMs(local.date, ms_of_day);
    // Only the second pass through the autumn overlap maps back to the first.
    if (back != t) {
      REQUIRE(t - back == kMsPerHour);
      REQUIRE(local.date == Date{2026, 10, 25});
      REQUIRE(local.hour == 2);
    }
  }
}

TEST_CASE("EndOfDayMs is 23:59:59 local, in CET or CEST") {
  const TimeZone paris = TimeZone::Paris();
  CHECK(paris.EndOfDayMs(Date{2026, 1, 15}) == Utc(2026, 1, 15, 22, 59, 59));  // CET
  CHECK(paris.EndOfDayMs(Date{2026, 7, 15}) == Utc(2026, 7, 15, 21, 59, 59));  // CEST
  CHECK(paris.EndOfDayMs(Date{2026, 3, 28}) == Utc(2026, 3, 28, 22, 59, 59));  // eve of switch
  CHECK(paris.EndOfDayMs(Date{2026, 3, 29}) == Utc(2026, 3, 29, 21, 59, 59));  // switch day
  CHECK(paris.EndOfDayMs(Date{2026, 10, 24}) == Utc(2026, 10, 24, 21, 59, 59));
  CHECK(paris.EndOfDayMs(Date{2026, 10, 25}) == Utc(2026, 10, 25, 22, 59, 59));
  // The switch days are 23 h and 25 h long.
  CHECK(paris.EndOfDayMs(Date{2026, 3, 29}) - paris.EndOfDayMs(Date{2026, 3, 28}) ==
        23 * kMsPerHour);
  CHECK(paris.EndOfDayMs(Date{2026, 10, 25}) - paris.EndOfDayMs(Date{2026, 10, 24}) ==
        25 * kMsPerHour);
}

TEST_CASE("overseas zones have fixed offsets") {
  struct Case {
    const char* zone;
    int64_t offset_hours;
  };
  for (const Case& c :
       {Case{"America/Guadeloupe", -4}, Case{"America/Martinique", -4}, Case{"America/Cayenne", -3},
        Case{"Indian/Reunion", 4}, Case{"Indian/Mayotte", 3}, Case{"UTC", 0}}) {
    CAPTURE(c.zone);
    Result<TimeZone> zone = TimeZone::FromName(c.zone);
    REQUIRE(zone.ok());
    CHECK(zone->name() == c.zone);
    for (int64_t t : {Utc(2026, 1, 15, 12), Utc(2026, 7, 15, 12), Utc(2026, 3, 29, 1)}) {
      CHECK(zone->UtcOffsetMs(t) == c.offset_hours * kMsPerHour);
    }
    CHECK(zone->EndOfDayMs(Date{2026, 7, 15}) ==
          Utc(2026, 7, 15, 23, 59, 59) - c.offset_hours * kMsPerHour);
  }
  Result<int64_t> reunion = LocalEndOfDayMs(Date{2026, 12, 21}, "Indian/Reunion");
  REQUIRE(reunion.ok());
  CHECK(*reunion == Utc(2026, 12, 21, 19, 59, 59));
  Result<LocalTime> guadeloupe = ToLocal(Utc(2026, 5, 29, 3, 59, 59), "America/Guadeloupe");
  REQUIRE(guadeloupe.ok());
  CHECK(guadeloupe->date == Date{2026, 5, 28});
  CHECK(guadeloupe->hour == 23);
}

TEST_CASE("unknown zones are INVALID_ARGUMENT") {
  for (const char* name : {"Europe/London", "europe/paris", "", "CET", "Pacific/Noumea"}) {
    Result<TimeZone> zone = TimeZone::FromName(name);
    CHECK_FALSE(zone.ok());
    if (!zone.ok()) CHECK(zone.status().code() == wire::INVALID_ARGUMENT);
  }
  CHECK_FALSE(LocalEndOfDayMs(Date{2026, 1, 1}, "Mars/Olympus").ok());
  CHECK_FALSE(ToLocal(0, "Mars/Olympus").ok());
}

TEST_CASE("ZoneForDepartement") {
  CHECK(ZoneForDepartement("75") == "Europe/Paris");
  CHECK(ZoneForDepartement("61") == "Europe/Paris");
  CHECK(ZoneForDepartement("67") == "Europe/Paris");
  CHECK(ZoneForDepartement("2A") == "Europe/Paris");
  CHECK(ZoneForDepartement("") == "Europe/Paris");
  CHECK(ZoneForDepartement("971") == "America/Guadeloupe");
  CHECK(ZoneForDepartement("972") == "America/Martinique");
  CHECK(ZoneForDepartement("973") == "America/Cayenne");
  CHECK(ZoneForDepartement("974") == "Indian/Reunion");
  CHECK(ZoneForDepartement("976") == "Indian/Mayotte");
}

TEST_CASE("Format shows local time and offset") {
  const TimeZone paris = TimeZone::Paris();
  CHECK(paris.Format(Utc(2026, 1, 15, 22, 59, 59)) == "2026-01-15 23:59:59 UTC+01:00");
  CHECK(paris.Format(Utc(2026, 7, 15, 21, 59, 59)) == "2026-07-15 23:59:59 UTC+02:00");
  CHECK(paris.Format(Utc(2026, 7, 15, 21, 59, 59, 5)) == "2026-07-15 23:59:59.005 UTC+02:00");
  Result<TimeZone> cayenne = TimeZone::FromName("America/Cayenne");
  REQUIRE(cayenne.ok());
  CHECK(cayenne->Format(Utc(2026, 6, 11, 2, 59, 59)) == "2026-06-10 23:59:59 UTC-03:00");
}

}  // namespace
}  // namespace aplus::sla
