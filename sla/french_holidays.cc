#include "sla/french_holidays.h"

#include <algorithm>
#include <array>

namespace aplus::sla {
namespace {

struct FixedHoliday {
  int32_t month;
  int32_t day;
  std::string_view name;
};

constexpr std::array<FixedHoliday, 8> kNationalFixed = {{
    {1, 1, "Jour de l'an"},
    {5, 1, "Fête du Travail"},
    {5, 8, "Victoire 1945"},
    {7, 14, "Fête nationale"},
    {8, 15, "Assomption"},
    {11, 1, "Toussaint"},
    {11, 11, "Armistice 1918"},
    {12, 25, "Noël"},
}};

struct OverseasHoliday {
  std::string_view departement;
  int32_t month;
  int32_t day;
  std::string_view name;
};

// Abolition of slavery: each territory's own commemoration day, a public holiday there only.
constexpr std::array<OverseasHoliday, 5> kAbolition = {{
    {"971", 5, 27, "Abolition de l'esclavage (Guadeloupe)"},
    {"972", 5, 22, "Abolition de l'esclavage (Martinique)"},
    {"973", 6, 10, "Abolition de l'esclavage (Guyane)"},
    {"974", 12, 20, "Abolition de l'esclavage (La Réunion)"},
    {"976", 4, 27, "Abolition de l'esclavage (Mayotte)"},
}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Date EasterSunday(int32_t year) {
  // Anonymous Gregorian algorithm (Meeus, "Astronomical Algorithms", after Jones and Butcher).
  const int32_t a = year % 19;   // position in the Metonic cycle
  const int32_t b = year / 100;  // century
  const int32_t c = year % 100;
  const int32_t d = b / 4;
  const int32_t e = b % 4;
  const int32_t f = (b + 8) / 25;
  const int32_t g = (b - f + 1) / 3;                 // lunar correction
  const int32_t h = (19 * a + b - d - g + 15) % 30;  // epact-related: days to full moon
  const int32_t i = c / 4;
  const int32_t k = c % 4;
  const int32_t l = (32 + 2 * e + 2 * i - h - k) % 7;  // days to the following Sunday
  const int32_t m = (a + 11 * h + 22 * l) / 451;
  const int32_t month = (h + l - 7 * m + 114) / 31;
  const int32_t day = (h + l - 7 * m + 114) % 31 + 1;
  return Date{year, month, day};
}

bool IsWhitMonday(Date date) { return date == AddDays(EasterSunday(date.year), 50); }

Status ValidateDepartement(std::string_view departement) {
  if (departement.empty()) return Status::Ok();
  if (departement == "2A" || departement == "2B" || departement == "2a" || departement == "2b") {
    return Status::Ok();
  }
  if (departement.size() == 2 && IsDigit(departement[0]) && IsDigit(departement[1])) {
    const int code = (departement[0] - '0') * 10 + (departement[1] - '0');
    if (code >= 1 && code <= 95 && code != 20) return Status::Ok();
  }
  if (departement == "971" || departement == "972" || departement == "973" ||
      departement == "974" || departement == "976") {
    return Status::Ok();
  }
  return Status(wire::INVALID_ARGUMENT,
                "unknown département \"" + std::string(departement) +
                    "\": expected a code 01-95 (not 20), 2A, 2B, 971, 972, 973, 974 or 976");
}

Result<HolidayCalendar> HolidayCalendar::ForDepartement(std::string_view departement) {
  Status valid = ValidateDepartement(departement);
  if (!valid.ok()) return valid;
  std::string code(departement);
  if (code == "2a") code = "2A";
  if (code == "2b") code = "2B";
  return HolidayCalendar(std::move(code));
}

bool HolidayCalendar::IsAlsaceMoselle() const {
  return departement_ == "57" || departement_ == "67" || departement_ == "68";
}

template <typename Visit>
void HolidayCalendar::ForEachHolidayOfYear(int32_t year, Visit&& visit) const {
  for (const FixedHoliday& fixed : kNationalFixed) {
    visit(Date{year, fixed.month, fixed.day}, fixed.name);
  }
  const Date easter = EasterSunday(year);
  visit(AddDays(easter, 1), std::string_view("Lundi de Pâques"));
  visit(AddDays(easter, 39), std::string_view("Ascension"));
  visit(AddDays(easter, 50), kWhitMondayName);
  if (IsAlsaceMoselle()) {
    visit(AddDays(easter, -2), std::string_view("Vendredi saint (Alsace-Moselle)"));
    visit(Date{year, 12, 26}, std::string_view("Saint-Étienne (Alsace-Moselle)"));
  }
  for (const OverseasHoliday& overseas : kAbolition) {
    if (overseas.departement == departement_) {
      visit(Date{year, overseas.month, overseas.day}, overseas.name);
    }
  }
}

std::vector<Holiday> HolidayCalendar::AllHolidaysOfYear(int32_t year) const {
  std::vector<Holiday> all;
  ForEachHolidayOfYear(year, [&](Date date, std::string_view name) {
    all.push_back({date, std::string(name)});
  });
  std::stable_sort(all.begin(), all.end(),
                   [](const Holiday& x, const Holiday& y) { return x.date < y.date; });
  return all;
}

std::vector<Holiday> HolidayCalendar::HolidaysOfYear(int32_t year) const {
  // A date carrying two holidays (Ascension on 1 May in 2008) appears once.
  std::vector<Holiday> merged;
  for (Holiday& holiday : AllHolidaysOfYear(year)) {
    if (!merged.empty() && merged.back().date == holiday.date) {
      merged.back().name += " / " + holiday.name;
    } else {
      merged.push_back(std::move(holiday));
    }
  }
  return merged;
}

std::vector<std::string> HolidayCalendar::HolidayNames(Date date) const {
  // Called for every day a deadline counts (SkipReason): the year's rules are walked without
  // building the year's list, and a string is made only for a holiday on `date`. The order is
  // AllHolidaysOfYear's (a stable sort keeps the rules' order among holidays of one date).
  std::vector<std::string> names;
  ForEachHolidayOfYear(date.year, [&](Date holiday, std::string_view name) {
    if (holiday == date) names.emplace_back(name);
  });
  return names;
}

std::optional<std::string> HolidayCalendar::HolidayName(Date date) const {
  std::vector<std::string> names = HolidayNames(date);
  if (names.empty()) return std::nullopt;
  std::string joined = names[0];
  for (size_t i = 1; i < names.size(); ++i) joined += " / " + names[i];
  return joined;
}

}  // namespace aplus::sla
