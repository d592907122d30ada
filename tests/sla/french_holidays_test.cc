#include "sla/french_holidays.h"

#include <doctest/doctest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace aplus::sla {

// Readable failures: doctest prints values through operator<< found by ADL.
std::ostream& operator<<(std::ostream& out, const Date& date) { return out << FormatDate(date); }
std::ostream& operator<<(std::ostream& out, const Holiday& holiday) {
  return out << FormatDate(holiday.date) << " " << holiday.name;
}
template <typename T>
std::ostream& operator<<(std::ostream& out, const std::vector<T>& items) {
  out << "{";
  for (size_t i = 0; i < items.size(); ++i) out << (i ? ", " : "") << items[i];
  return out << "}";
}

namespace {

HolidayCalendar CalendarFor(std::string_view departement) {
  Result<HolidayCalendar> calendar = HolidayCalendar::ForDepartement(departement);
  REQUIRE(calendar.ok());
  return *calendar;
}

TEST_CASE("EasterSunday matches the published dates 1990-2040") {
  struct Published {
    int32_t year;
    int32_t month;
    int32_t day;
  };
  // Gregorian Easter Sundays as published in church calendars / almanacs.
  const Published kEaster[] = {
      {1990, 4, 15}, {1991, 3, 31}, {1992, 4, 19}, {1993, 4, 11}, {1994, 4, 3},  {1995, 4, 16},
      {1996, 4, 7},  {1997, 3, 30}, {1998, 4, 12}, {1999, 4, 4},  {2000, 4, 23}, {2001, 4, 15},
      {2002, 3, 31}, {2003, 4, 20}, {2004, 4, 11}, {2005, 3, 27}, {2006, 4, 16}, {2007, 4, 8},
      {2008, 3, 23}, {2009, 4, 12}, {2010, 4, 4},  {2011, 4, 24}, {2012, 4, 8},  {2013, 3, 31},
      {2014, 4, 20}, {2015, 4, 5},  {2016, 3, 27}, {2017, 4, 16}, {2018, 4, 1},  {2019, 4, 21},
      {2020, 4, 12}, {2021, 4, 4},  {2022, 4, 17}, {2023, 4, 9},  {2024, 3, 31}, {2025, 4, 20},
      {2026, 4, 5},  {2027, 3, 28}, {2028, 4, 16}, {2029, 4, 1},  {2030, 4, 21}, {2031, 4, 13},
      {2032, 3, 28}, {2033, 4, 17}, {2034, 4, 9},  {2035, 3, 25}, {2036, 4, 13}, {2037, 4, 5},
      {2038, 4, 25}, {2039, 4, 10}, {2040, 4, 1},
  };
  int32_t expected_year = 1990;
  for (const Published& p : kEaster) {
    CAPTURE(p.year);
    CHECK(p.year == expected_year++);  // no year skipped in the table
    CHECK(EasterSunday(p.year) == Date{p.year, p.month, p.day});
  }
  CHECK(expected_year == 2041);
}

TEST_CASE("EasterSunday at the extremes of its range") {
  CHECK(EasterSunday(1583) == Date{1583, 4, 10});  // first full Gregorian year
  CHECK(EasterSunday(1818) == Date{1818, 3, 22});  // earliest possible date
  CHECK(EasterSunday(2285) == Date{2285, 3, 22});
  CHECK(EasterSunday(1886) == Date{1886, 4, 25});  // latest possible date
  CHECK(EasterSunday(1943) == Date{1943, 4, 25});
  CHECK(EasterSunday(2100) == Date{2100, 3, 28});
  for (int32_t year = 1583; year <= 4000; ++year) {
    const Date easter = EasterSunday(year);
    REQUIRE(WeekdayOf(easter) == Weekday::kSunday);
    REQUIRE(easter >= Date{year, 3, 22});
    REQUIRE(easter <= Date{year, 4, 25});
  }
}

TEST_CASE("national holidays of 2026 in the Orne") {
  const std::vector<Holiday> expected = {
      {{2026, 1, 1}, "Jour de l'an"},    {{2026, 4, 6}, "Lundi de Pâques"},
      {{2026, 5, 1}, "Fête du Travail"}, {{2026, 5, 8}, "Victoire 1945"},
      {{2026, 5, 14}, "Ascension"},      {{2026, 5, 25}, "Lundi de Pentecôte"},
      {{2026, 7, 14}, "Fête nationale"}, {{2026, 8, 15}, "Assomption"},
      {{2026, 11, 1}, "Toussaint"},      {{2026, 11, 11}, "Armistice 1918"},
      {{2026, 12, 25}, "Noël"},
  };
  CHECK(CalendarFor("61").HolidaysOfYear(2026) == expected);
  CHECK(CalendarFor("").HolidaysOfYear(2026) == expected);
  CHECK(CalendarFor("2A").HolidaysOfYear(2026) == expected);
}

TEST_CASE("Easter-based holidays move with Easter") {
  const HolidayCalendar paris = CalendarFor("75");
  // 2024: Easter 31 March.
  CHECK(paris.HolidayName(Date{2024, 4, 1}) == "Lundi de Pâques");
  CHECK(paris.HolidayName(Date{2024, 5, 9}) == "Ascension");
  CHECK(paris.HolidayName(Date{2024, 5, 20}) == "Lundi de Pentecôte");
  // 2025: Easter 20 April.
  CHECK(paris.HolidayName(Date{2025, 4, 21}) == "Lundi de Pâques");
  CHECK(paris.HolidayName(Date{2025, 5, 29}) == "Ascension");
  CHECK(paris.HolidayName(Date{2025, 6, 9}) == "Lundi de Pentecôte");
  // 2038: Easter 25 April, the latest: Whit Monday 14 June.
  CHECK(paris.HolidayName(Date{2038, 6, 14}) == "Lundi de Pentecôte");
  CHECK(paris.HolidayName(Date{2038, 6, 3}) == "Ascension");
  // Easter Sunday itself and Good Friday are not public holidays outside Alsace-Moselle.
  CHECK_FALSE(paris.IsHoliday(Date{2026, 4, 5}));
  CHECK_FALSE(paris.IsHoliday(Date{2026, 4, 3}));
  CHECK_FALSE(paris.IsHoliday(Date{2026, 12, 26}));
  CHECK_FALSE(paris.IsHoliday(Date{2026, 5, 15}));  // the bridge Friday after Ascension
  CHECK(IsWhitMonday(Date{2026, 5, 25}));
  CHECK_FALSE(IsWhitMonday(Date{2026, 5, 18}));
  // Every year: Ascension is a Thursday, the Mondays are Mondays.
  for (int32_t year = 1990; year <= 2100; ++year) {
    const Date easter = EasterSunday(year);
    REQUIRE(WeekdayOf(AddDays(easter, 39)) == Weekday::kThursday);
    REQUIRE(paris.HolidayNames(AddDays(easter, 1)) == std::vector<std::string>{"Lundi de Pâques"});
    REQUIRE(paris.IsHoliday(AddDays(easter, 50)));
    REQUIRE(WeekdayOf(AddDays(easter, 50)) == Weekday::kMonday);
  }
}

TEST_CASE("fixed holidays every year") {
  const HolidayCalendar paris = CalendarFor("75");
  for (int32_t year = 1990; year <= 2060; ++year) {
    CAPTURE(year);
    CHECK(paris.IsHoliday(Date{year, 1, 1}));
    CHECK(paris.IsHoliday(Date{year, 5, 1}));
    CHECK(paris.IsHoliday(Date{year, 5, 8}));
    CHECK(paris.IsHoliday(Date{year, 7, 14}));
    CHECK(paris.IsHoliday(Date{year, 8, 15}));
    CHECK(paris.IsHoliday(Date{year, 11, 1}));
    CHECK(paris.IsHoliday(Date{year, 11, 11}));
    CHECK(paris.IsHoliday(Date{year, 12, 25}));
    CHECK_FALSE(paris.IsHoliday(Date{year, 12, 24}));
    CHECK_FALSE(paris.IsHoliday(Date{year, 12, 31}));
    // 11 holidays a year, except when two share a date.
    const size_t count = paris.HolidaysOfYear(year).size();
    CHECK((count == 11 || count == 10));
  }
}

TEST_CASE("two holidays on one date are reported once with both names") {
  // 2008: Easter 23 March, Ascension on 1 May.
  const HolidayCalendar paris = CalendarFor("75");
  CHECK(paris.HolidayName(Date{2008, 5, 1}) == "Fête du Travail / Ascension");
  CHECK(paris.HolidayNames(Date{2008, 5, 1}) ==
        std::vector<std::string>{"Fête du Travail", "Ascension"});
  CHECK(paris.HolidaysOfYear(2008).size() == 10);
}

TEST_CASE("Alsace-Moselle adds Good Friday and 26 December") {
  for (const char* departement : {"57", "67", "68"}) {
    CAPTURE(departement);
    const HolidayCalendar alsace = CalendarFor(departement);
    CHECK(alsace.IsAlsaceMoselle());
    CHECK(alsace.HolidayName(Date{2026, 4, 3}) == "Vendredi saint (Alsace-Moselle)");
    CHECK(alsace.HolidayName(Date{2025, 4, 18}) == "Vendredi saint (Alsace-Moselle)");
    CHECK(alsace.HolidayName(Date{2024, 3, 29}) == "Vendredi saint (Alsace-Moselle)");
    CHECK(alsace.HolidayName(Date{2026, 12, 26}) == "Saint-Étienne (Alsace-Moselle)");
    CHECK(alsace.HolidayName(Date{2026, 12, 25}) == "Noël");
    CHECK(alsace.HolidaysOfYear(2026).size() == 13);
  }
  for (const char* departement : {"75", "54", "88", "90", "61"}) {  // neighbours included
    CAPTURE(departement);
    const HolidayCalendar other = CalendarFor(departement);
    CHECK_FALSE(other.IsAlsaceMoselle());
    CHECK_FALSE(other.IsHoliday(Date{2026, 4, 3}));
    CHECK_FALSE(other.IsHoliday(Date{2026, 12, 26}));
  }
}

TEST_CASE("overseas départements add their abolition-of-slavery day") {
  struct Case {
    const char* departement;
    Date date;
    const char* name;
  };
  const Case kCases[] = {
      {"971", {2026, 5, 27}, "Abolition de l'esclavage (Guadeloupe)"},
      {"972", {2026, 5, 22}, "Abolition de l'esclavage (Martinique)"},
      {"973", {2026, 6, 10}, "Abolition de l'esclavage (Guyane)"},
      {"974", {2026, 12, 20}, "Abolition de l'esclavage (La Réunion)"},
      {"976", {2026, 4, 27}, "Abolition de l'esclavage (Mayotte)"},
  };
  for (const Case& c : kCases) {
    CAPTURE(c.departement);
    const HolidayCalendar here = CalendarFor(c.departement);
    CHECK(here.HolidayName(c.date) == c.name);
    CHECK(here.HolidaysOfYear(2026).size() == 12);
    CHECK(here.IsHoliday(Date{2026, 7, 14}));          // national holidays apply too
    CHECK_FALSE(here.IsHoliday(Date{2026, 4, 3}));     // not Alsace-Moselle
    CHECK_FALSE(CalendarFor("75").IsHoliday(c.date));  // not in metropolitan France
    for (const Case& other : kCases) {
      if (&other != &c) CHECK_FALSE(here.IsHoliday(other.date));
    }
  }
  CHECK(CalendarFor("974").zone_name() == "Indian/Reunion");
  CHECK(CalendarFor("971").zone_name() == "America/Guadeloupe");
}

TEST_CASE("HolidayNames of every day agrees with the year's list, Ascension on 1 May included") {
  // HolidayNames walks the rules without building the year (it runs for every counted day of
  // a deadline): day by day it must say what HolidaysOfYear says, names in the same order.
  for (std::string_view departement : {"61", "57", "971", "974", "976"}) {
    HolidayCalendar calendar = CalendarFor(departement);
    for (int32_t year : {2008, 2026, 2038}) {
      std::vector<Holiday> listed = calendar.HolidaysOfYear(year);
      std::vector<Holiday> seen;
      for (Date day{year, 1, 1}; day.year == year; day = AddDays(day, 1)) {
        std::optional<std::string> name = calendar.HolidayName(day);
        CHECK(calendar.IsHoliday(day) == name.has_value());
        if (name) seen.push_back({day, *name});
      }
      CHECK(seen == listed);
    }
  }
  CHECK(CalendarFor("61").HolidayName({2008, 5, 1}) == "Fête du Travail / Ascension");
}

TEST_CASE("ValidateDepartement") {
  for (const char* good : {"", "01", "09", "19", "21", "61", "75", "95", "2A", "2B", "2a", "971",
                           "972", "973", "974", "976"}) {
    CHECK_MESSAGE(ValidateDepartement(good).ok(), good);
  }
  for (const char* bad :
       {"00", "20", "96", "99", "975", "977", "1", "061", "2C", "abc", " 61", "61 ", "9741"}) {
    const Status status = ValidateDepartement(bad);
    CHECK_MESSAGE(!status.ok(), bad);
    CHECK(status.code() == wire::INVALID_ARGUMENT);
  }
  Result<HolidayCalendar> corsica = HolidayCalendar::ForDepartement("2b");
  REQUIRE(corsica.ok());
  CHECK(corsica->departement() == "2B");
  Result<HolidayCalendar> bad = HolidayCalendar::ForDepartement("999");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("999") != std::string::npos);
}

}  // namespace
}  // namespace aplus::sla
