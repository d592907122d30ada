// French public holidays ("jours fériés"), computed from rules, never typed in per year.
//
// National (Code du travail, art. L3133-1), everywhere:
//   1 January "Jour de l'an", Easter Monday "Lundi de Pâques" (Easter + 1), 1 May "Fête du
//   Travail", 8 May "Victoire 1945", Ascension "Ascension" (Easter + 39, a Thursday),
//   Whit Monday "Lundi de Pentecôte" (Easter + 50), 14 July "Fête nationale", 15 August
//   "Assomption", 1 November "Toussaint", 11 November "Armistice 1918", 25 December "Noël".
// Regional overlays, chosen by the contact point's département code:
//   Alsace-Moselle ("57", "67", "68"): Good Friday "Vendredi saint (Alsace-Moselle)"
//     (Easter - 2) and 26 December "Saint-Étienne (Alsace-Moselle)".
//   Abolition of slavery "Abolition de l'esclavage (<territory>)": Guadeloupe "971" 27 May,
//     Martinique "972" 22 May, Guyane "973" 10 June, La Réunion "974" 20 December,
//     Mayotte "976" 27 April.
// Whit Monday is listed as a holiday here; whether a partner works it (journée de solidarité)
// is the partner's calendar, decided by the deadline calculator.
//
// When two holidays fall on the same day (Ascension on 1 or 8 May, as in 2008), the date is
// reported once, with the names joined by " / ".
//
// Easter Sunday is the Gregorian computus (anonymous Gregorian algorithm, Meeus/Jones/Butcher),
// exact for every year from 1583.
//
// Thread rules: HolidayCalendar is an immutable value; every method is safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "sla/civil_time.h"

namespace aplus::sla {

// Easter Sunday of `year` (Gregorian, year >= 1583).
Date EasterSunday(int32_t year);

// Whether `departement` is a code A+ knows: "" (unspecified, treated as metropolitan France),
// "01".."95" except "20", "2A", "2B" (Corsica), "971", "972", "973", "974", "976". Returns
// INVALID_ARGUMENT with the reason otherwise.
Status ValidateDepartement(std::string_view departement);

struct Holiday {
  Date date;
  std::string name;
  friend bool operator==(const Holiday&, const Holiday&) = default;
};

// The public holidays of one place (a département).
class HolidayCalendar {
 public:
  // INVALID_ARGUMENT if ValidateDepartement refuses the code. "2a"/"2b" are accepted as "2A"/"2B".
  static Result<HolidayCalendar> ForDepartement(std::string_view departement);

  const std::string& departement() const { return departement_; }
  // The IANA zone of the département's local time (see civil_time.h).
  std::string_view zone_name() const { return ZoneForDepartement(departement_); }
  bool IsAlsaceMoselle() const;

  // The holiday's name if `date` is a public holiday here (two names joined by " / "), nullopt
  // otherwise.
  std::optional<std::string> HolidayName(Date date) const;
  bool IsHoliday(Date date) const { return !HolidayNames(date).empty(); }
  // Every holiday falling on `date` here, separately (usually none or one).
  std::vector<std::string> HolidayNames(Date date) const;
  // Every public holiday of `year` here, sorted by date, one entry per date.
  std::vector<Holiday> HolidaysOfYear(int32_t year) const;

 private:
  explicit HolidayCalendar(std::string departement) : departement_(std::move(departement)) {}
  // Sorted by date, not merged: a date may appear twice.
  std::vector<Holiday> AllHolidaysOfYear(int32_t year) const;
  // Calls visit(Date, std::string_view name) for each holiday rule of `year` here, in the
  // rules' order (not by date), allocating nothing.
  template <typename Visit>
  void ForEachHolidayOfYear(int32_t year, Visit&& visit) const;

  std::string departement_;
};

inline constexpr std::string_view kWhitMondayName = "Lundi de Pentecôte";

// Whether `date` is Whit Monday (Easter + 50), the day a partner may declare worked.
bool IsWhitMonday(Date date);

}  // namespace aplus::sla
