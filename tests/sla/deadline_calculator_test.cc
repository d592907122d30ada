#include "sla/deadline_calculator.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

namespace aplus::sla {

// Readable failures: doctest prints values through operator<< found by ADL.
std::ostream& operator<<(std::ostream& out, const Date& date) { return out << FormatDate(date); }
std::ostream& operator<<(std::ostream& out, const SkippedDay& day) {
  return out << FormatDate(day.date) << " (" << day.reason << ")";
}
std::ostream& operator<<(std::ostream& out, const Pause& pause) {
  return out << "[" << pause.start_ms << ", " << pause.end_ms << ")";
}
template <typename T>
std::ostream& operator<<(std::ostream& out, const std::vector<T>& items) {
  out << "{";
  for (size_t i = 0; i < items.size(); ++i) out << (i ? ", " : "") << items[i];
  return out << "}";
}

namespace {

// Unix ms of a UTC wall time (DaysFromCivil is pinned by civil_time_test).
int64_t Utc(int32_t y, int32_t mo, int32_t d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
  return DaysFromCivil(Date{y, mo, d}) * kMsPerDay + h * kMsPerHour + mi * kMsPerMinute +
         s * kMsPerSecond + ms;
}

ReplyPolicy Policy(std::string_view text) {
  Result<ReplyPolicy> policy = ParseReplyPolicy(text);
  REQUIRE(policy.ok());
  return *policy;
}

DeadlineExplanation Explain(std::string_view policy, int64_t submitted_ms,
                            std::string_view departement = "75",
                            const PartnerCalendar& partner = {},
                            const std::vector<Pause>& pauses = {}) {
  Result<DeadlineExplanation> explanation =
      ComputeDeadline(Policy(policy), submitted_ms, departement, partner, pauses);
  REQUIRE_MESSAGE(explanation.ok(), explanation.status().ToString());
  return *explanation;
}

std::vector<Date> Days(int32_t year, int32_t month, std::vector<int32_t> days) {
  std::vector<Date> dates;
  for (int32_t day : days) dates.push_back(Date{year, month, day});
  return dates;
}

bool HasLine(const DeadlineExplanation& e, std::string_view text) {
  return std::any_of(e.lines.begin(), e.lines.end(),
                     [&](const std::string& line) { return line.find(text) != std::string::npos; });
}

int64_t WarningWith(const DeadlineExplanation& e, const WarningLead& lead) {
  Result<int64_t> warning = WarningAt(e, lead);
  REQUIRE(warning.ok());
  return *warning;
}

// 2026-01-09 is a Friday; 10:00 in Paris (CET) is 09:00 UTC.
const int64_t kFridayJan9 = Utc(2026, 1, 9, 9);

TEST_CASE("submitted on Friday, 4 jours ouvrés end on Thursday 23:59:59 Paris") {
  const DeadlineExplanation e = Explain("4 jours-ouvres", kFridayJan9);
  CHECK(e.zone == "Europe/Paris");
  CHECK(e.submission_date == Date{2026, 1, 9});
  CHECK(e.counted_days == Days(2026, 1, {12, 13, 14, 15}));
  CHECK(e.skipped_days ==
        std::vector<SkippedDay>{{{2026, 1, 10}, "samedi"}, {{2026, 1, 11}, "dimanche"}});
  CHECK(e.base_deadline_ms == Utc(2026, 1, 15, 22, 59, 59));
  CHECK(e.deadline_ms == e.base_deadline_ms);
  CHECK(e.paused_ms == 0);
  CHECK(HasLine(e, "Échéance : jeudi 15 janvier 2026, 2026-01-15 23:59:59 UTC+01:00."));
  CHECK(HasLine(e, "samedi 10 janvier 2026 (samedi), dimanche 11 janvier 2026 (dimanche)"));
  CHECK(HasLine(e, "Délai : 4 jours ouvrés"));
  CHECK(HasLine(e, "Pauses (demandes d'information) : aucune."));
}

TEST_CASE("the day of submission never counts, whatever the hour") {
  // Just after local midnight and just before it: the same answer.
  CHECK(Explain("4 jours-ouvres", Utc(2026, 1, 8, 23, 0, 1)).base_deadline_ms ==
        Utc(2026, 1, 15, 22, 59, 59));
  CHECK(Explain("4 jours-ouvres", Utc(2026, 1, 9, 22, 59, 59)).base_deadline_ms ==
        Utc(2026, 1, 15, 22, 59, 59));
  // The local day decides: Thursday 23:30 UTC is already Friday in Paris.
  const DeadlineExplanation late = Explain("1 jour-ouvre", Utc(2026, 1, 8, 23, 30));
  CHECK(late.submission_date == Date{2026, 1, 9});
  CHECK(late.counted_days == Days(2026, 1, {12}));
  // Submitted on a Saturday or Sunday: counting starts the next day.
  CHECK(Explain("4 jours-ouvres", Utc(2026, 1, 10, 9)).counted_days ==
        Days(2026, 1, {12, 13, 14, 15}));
  CHECK(Explain("4 jours-ouvres", Utc(2026, 1, 11, 9)).counted_days ==
        Days(2026, 1, {12, 13, 14, 15}));
  // Submitted on Monday: Tuesday to Friday.
  CHECK(Explain("4 jours-ouvres", Utc(2026, 1, 12, 9)).counted_days ==
        Days(2026, 1, {13, 14, 15, 16}));
}

TEST_CASE("Ascension bridge: the Thursday is skipped, the Friday after counts") {
  // 2026-05-13 is a Wednesday; Ascension on Thursday 14 May.
  const DeadlineExplanation e = Explain("4 jours-ouvres", Utc(2026, 5, 13, 7));
  CHECK(e.counted_days == Days(2026, 5, {15, 18, 19, 20}));
  CHECK(e.skipped_days == std::vector<SkippedDay>{{{2026, 5, 14}, "Ascension"},
                                                  {{2026, 5, 16}, "samedi"},
                                                  {{2026, 5, 17}, "dimanche"}});
  CHECK(e.deadline_ms == Utc(2026, 5, 20, 21, 59, 59));  // CEST
}

TEST_CASE("year end: Christmas, the weekend and New Year's Day are skipped") {
  // 2026-12-24 is a Thursday.
  const int64_t christmas_eve = Utc(2026, 12, 24, 14);
  const DeadlineExplanation four = Explain("4 jours-ouvres", christmas_eve);
  CHECK(four.counted_days == Days(2026, 12, {28, 29, 30, 31}));
  CHECK(four.skipped_days == std::vector<SkippedDay>{{{2026, 12, 25}, "Noël"},
                                                     {{2026, 12, 26}, "samedi"},
                                                     {{2026, 12, 27}, "dimanche"}});
  CHECK(four.deadline_ms == Utc(2026, 12, 31, 22, 59, 59));

  const DeadlineExplanation five = Explain("5 jours-ouvres", christmas_eve);
  CHECK(five.counted_days.back() == Date{2027, 1, 4});
  CHECK(five.skipped_days.size() == 6);
  CHECK(five.skipped_days[3] == SkippedDay{{2027, 1, 1}, "Jour de l'an"});
  CHECK(five.skipped_days[4] == SkippedDay{{2027, 1, 2}, "samedi"});
  CHECK(five.skipped_days[5] == SkippedDay{{2027, 1, 3}, "dimanche"});
  CHECK(five.deadline_ms == Utc(2027, 1, 4, 22, 59, 59));
}

TEST_CASE("DST: the deadline's UTC instant follows CET or CEST of the deadline day") {
  // Submitted in CET (Wednesday 25 March 2026), due in CEST (Tuesday 31 March).
  const DeadlineExplanation spring = Explain("4 jours-ouvres", Utc(2026, 3, 25, 9));
  CHECK(spring.counted_days ==
        std::vector<Date>{{2026, 3, 26}, {2026, 3, 27}, {2026, 3, 30}, {2026, 3, 31}});
  CHECK(spring.deadline_ms == Utc(2026, 3, 31, 21, 59, 59));
  // Submitted in CEST (Thursday 22 October 2026), due in CET (Wednesday 28 October).
  const DeadlineExplanation autumn = Explain("4 jours-ouvres", Utc(2026, 10, 22, 8));
  CHECK(autumn.counted_days ==
        std::vector<Date>{{2026, 10, 23}, {2026, 10, 26}, {2026, 10, 27}, {2026, 10, 28}});
  CHECK(autumn.deadline_ms == Utc(2026, 10, 28, 22, 59, 59));
  // One calendar day across the switch night itself.
  CHECK(Explain("1 jour-calendaire", Utc(2026, 3, 28, 11)).deadline_ms ==
        Utc(2026, 3, 29, 21, 59, 59));
  CHECK(Explain("1 jour-calendaire", Utc(2026, 10, 24, 10)).deadline_ms ==
        Utc(2026, 10, 25, 22, 59, 59));
}

TEST_CASE("Alsace-Moselle skips Good Friday and 26 December") {
  // Thursday 2 April 2026; Good Friday 3 April, Easter Monday 6 April.
  const int64_t thursday = Utc(2026, 4, 2, 8);
  for (const char* departement : {"57", "67", "68"}) {
    CAPTURE(departement);
    const DeadlineExplanation e = Explain("2 jours-ouvres", thursday, departement);
    CHECK(e.counted_days == Days(2026, 4, {7, 8}));
    CHECK(e.skipped_days ==
          std::vector<SkippedDay>{{{2026, 4, 3}, "Vendredi saint (Alsace-Moselle)"},
                                  {{2026, 4, 4}, "samedi"},
                                  {{2026, 4, 5}, "dimanche"},
                                  {{2026, 4, 6}, "Lundi de Pâques"}});
    CHECK(e.deadline_ms == Utc(2026, 4, 8, 21, 59, 59));
  }
  const DeadlineExplanation paris = Explain("2 jours-ouvres", thursday, "75");
  CHECK(paris.counted_days == std::vector<Date>{{2026, 4, 3}, {2026, 4, 7}});

  // Wednesday 24 December 2025: 25 and 26 (Friday) are both holidays in Moselle.
  const DeadlineExplanation moselle = Explain("1 jour-ouvre", Utc(2025, 12, 24, 9), "57");
  CHECK(moselle.counted_days == Days(2025, 12, {29}));
  CHECK(moselle.skipped_days[1] == SkippedDay{{2025, 12, 26}, "Saint-Étienne (Alsace-Moselle)"});
  CHECK(Explain("1 jour-ouvre", Utc(2025, 12, 24, 9), "75").counted_days == Days(2025, 12, {26}));
}

TEST_CASE("overseas: local holiday and local time zone") {
  // La Réunion, UTC+4. Friday 17 December 2027 10:00 local; Monday 20 is the local holiday.
  const DeadlineExplanation reunion = Explain("1 jour-ouvre", Utc(2027, 12, 17, 6), "974");
  CHECK(reunion.zone == "Indian/Reunion");
  CHECK(reunion.skipped_days.back() ==
        SkippedDay{{2027, 12, 20}, "Abolition de l'esclavage (La Réunion)"});
  CHECK(reunion.counted_days == Days(2027, 12, {21}));
  CHECK(reunion.deadline_ms == Utc(2027, 12, 21, 19, 59, 59));
  CHECK(HasLine(reunion, "2027-12-21 23:59:59 UTC+04:00"));
  // Thursday 21:00 UTC is already Friday 01:00 in La Réunion.
  CHECK(Explain("1 jour-ouvre", Utc(2027, 12, 16, 21), "974").submission_date ==
        Date{2027, 12, 17});
  // The same Paris submission is not affected by the Réunion holiday.
  CHECK(Explain("1 jour-ouvre", Utc(2027, 12, 17, 9), "75").counted_days == Days(2027, 12, {20}));
  // 2026: 20 December is a Sunday; both reasons are given.
  const DeadlineExplanation sunday = Explain("1 jour-ouvrable", Utc(2026, 12, 19, 6), "974");
  CHECK(
      sunday.skipped_days ==
      std::vector<SkippedDay>{{{2026, 12, 20}, "dimanche, Abolition de l'esclavage (La Réunion)"}});
  CHECK(sunday.deadline_ms == Utc(2026, 12, 21, 19, 59, 59));

  // Guadeloupe, UTC-4: Tuesday 26 May 2026 10:00 local; Wednesday 27 is the local holiday.
  const DeadlineExplanation guadeloupe = Explain("1 jour-ouvre", Utc(2026, 5, 26, 14), "971");
  CHECK(guadeloupe.zone == "America/Guadeloupe");
  CHECK(guadeloupe.skipped_days ==
        std::vector<SkippedDay>{{{2026, 5, 27}, "Abolition de l'esclavage (Guadeloupe)"}});
  CHECK(guadeloupe.deadline_ms == Utc(2026, 5, 29, 3, 59, 59));  // Thursday 23:59:59 UTC-4
  // Guyane UTC-3, Martinique UTC-4, Mayotte UTC+3.
  CHECK(Explain("1 jour-ouvre", Utc(2026, 6, 9, 13), "973").deadline_ms ==
        Utc(2026, 6, 12, 2, 59, 59));  // 10 June skipped, Thursday 11 June counted
  CHECK(Explain("1 jour-ouvre", Utc(2026, 5, 21, 14), "972").counted_days ==
        Days(2026, 5, {26}));  // Fri 22 (abolition), weekend, Mon 25 (Pentecôte)
  CHECK(Explain("1 jour-ouvre", Utc(2026, 4, 24, 7), "976").deadline_ms ==
        Utc(2026, 4, 28, 20, 59, 59));  // Mon 27 April skipped, Tuesday 28 counted
}

TEST_CASE("partner closure days are skipped") {
  PartnerCalendar partner;
  partner.closures = {Date{2026, 1, 12}, Date{2026, 1, 13}};
  const DeadlineExplanation e = Explain("4 jours-ouvres", kFridayJan9, "75", partner);
  CHECK(e.counted_days == Days(2026, 1, {14, 15, 16, 19}));
  CHECK(e.skipped_days == std::vector<SkippedDay>{{{2026, 1, 10}, "samedi"},
                                                  {{2026, 1, 11}, "dimanche"},
                                                  {{2026, 1, 12}, "fermeture du partenaire"},
                                                  {{2026, 1, 13}, "fermeture du partenaire"},
                                                  {{2026, 1, 17}, "samedi"},
                                                  {{2026, 1, 18}, "dimanche"}});
  CHECK(e.deadline_ms == Utc(2026, 1, 19, 22, 59, 59));

  // A closure on a weekend or holiday gives every reason; on calendar days it changes nothing.
  PartnerCalendar easter_week;
  easter_week.closures = {Date{2026, 4, 4}, Date{2026, 4, 6}};
  const DeadlineExplanation both = Explain("1 jour-ouvre", Utc(2026, 4, 2, 8), "75", easter_week);
  CHECK(both.counted_days == Days(2026, 4, {3}));
  const DeadlineExplanation after = Explain("1 jour-ouvre", Utc(2026, 4, 3, 8), "75", easter_week);
  CHECK(after.skipped_days ==
        std::vector<SkippedDay>{{{2026, 4, 4}, "samedi, fermeture du partenaire"},
                                {{2026, 4, 5}, "dimanche"},
                                {{2026, 4, 6}, "Lundi de Pâques, fermeture du partenaire"}});
  CHECK(Explain("2 jours-calendaires", kFridayJan9, "75", partner).counted_days ==
        Days(2026, 1, {10, 11}));

  PartnerCalendar bad;
  bad.closures = {Date{2026, 2, 30}};
  Result<DeadlineExplanation> refused =
      ComputeDeadline(DefaultReplyPolicy(), kFridayJan9, "75", bad, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == wire::INVALID_ARGUMENT);
}

TEST_CASE("Whit Monday declared worked (journée de solidarité) counts") {
  // Friday 22 May 2026; Whit Monday 25 May.
  const int64_t friday = Utc(2026, 5, 22, 8);
  const DeadlineExplanation holiday = Explain("1 jour-ouvre", friday);
  CHECK(holiday.counted_days == Days(2026, 5, {26}));
  CHECK(holiday.skipped_days.back() == SkippedDay{{2026, 5, 25}, "Lundi de Pentecôte"});

  PartnerCalendar solidarity;
  solidarity.whit_monday_worked = true;
  const DeadlineExplanation worked = Explain("1 jour-ouvre", friday, "75", solidarity);
  CHECK(worked.counted_days == Days(2026, 5, {25}));
  CHECK(worked.deadline_ms == Utc(2026, 5, 25, 21, 59, 59));
  // Only Whit Monday: Ascension and Easter Monday remain holidays.
  CHECK(Explain("1 jour-ouvre", Utc(2026, 5, 13, 8), "75", solidarity).counted_days ==
        Days(2026, 5, {15}));
  // A closure on that Monday still wins.
  solidarity.closures = {Date{2026, 5, 25}};
  CHECK(Explain("1 jour-ouvre", friday, "75", solidarity).counted_days == Days(2026, 5, {26}));
}

TEST_CASE("jours ouvrables count Saturdays, not Sundays or holidays") {
  const DeadlineExplanation e = Explain("4 jours-ouvrables", kFridayJan9);
  CHECK(e.counted_days == Days(2026, 1, {10, 12, 13, 14}));
  CHECK(e.skipped_days == std::vector<SkippedDay>{{{2026, 1, 11}, "dimanche"}});
  CHECK(e.deadline_ms == Utc(2026, 1, 14, 22, 59, 59));
  // Saturday 15 August 2026 is a holiday: skipped as such, not as a Saturday.
  const DeadlineExplanation assumption = Explain("1 jour-ouvrable", Utc(2026, 8, 14, 8));
  CHECK(assumption.skipped_days ==
        std::vector<SkippedDay>{{{2026, 8, 15}, "Assomption"}, {{2026, 8, 16}, "dimanche"}});
  CHECK(assumption.counted_days == Days(2026, 8, {17}));
  // In jours ouvrés the same Saturday has both reasons.
  CHECK(Explain("1 jour-ouvre", Utc(2026, 8, 14, 8)).skipped_days[0] ==
        SkippedDay{{2026, 8, 15}, "samedi, Assomption"});
}

TEST_CASE("jours calendaires count every day, holidays included") {
  const DeadlineExplanation e = Explain("4 jours-calendaires", kFridayJan9);
  CHECK(e.counted_days == Days(2026, 1, {10, 11, 12, 13}));
  CHECK(e.skipped_days.empty());
  CHECK(e.deadline_ms == Utc(2026, 1, 13, 22, 59, 59));
  const DeadlineExplanation christmas = Explain("4 jours-calendaires", Utc(2026, 12, 24, 14));
  CHECK(christmas.counted_days == Days(2026, 12, {25, 26, 27, 28}));
  CHECK(christmas.deadline_ms == Utc(2026, 12, 28, 22, 59, 59));
  CHECK(HasLine(christmas, "Jours non comptés : aucun."));
}

TEST_CASE("duration units ignore the calendar") {
  const int64_t saturday_night = Utc(2026, 12, 26, 22, 15, 30, 123);
  const DeadlineExplanation hours = Explain("48 heures", saturday_night);
  CHECK(hours.deadline_ms == saturday_night + 48 * kMsPerHour);
  CHECK(hours.counted_days.empty());
  CHECK(hours.skipped_days.empty());
  CHECK(Explain("30 minutes", saturday_night).deadline_ms == saturday_night + 30 * kMsPerMinute);
  CHECK(Explain("90 secondes", saturday_night).deadline_ms == saturday_night + 90 * kMsPerSecond);
  // Across the DST switch: still exactly N hours of real time.
  const int64_t before_switch = Utc(2026, 3, 28, 23);
  CHECK(Explain("5 heures", before_switch).deadline_ms == before_switch + 5 * kMsPerHour);
  CHECK(HasLine(hours, "sans calendrier"));
}

TEST_CASE("pauses move the deadline by the paused time") {
  // Base: Friday 9 January 10:00 -> Thursday 15 January 23:59:59 (22:59:59 UTC).
  const int64_t base = Utc(2026, 1, 15, 22, 59, 59);
  SUBCASE("one 48 h pause") {
    const DeadlineExplanation e = Explain("4 jours-ouvres", kFridayJan9, "75", {},
                                          {{Utc(2026, 1, 12, 8), Utc(2026, 1, 14, 8)}});
    CHECK(e.base_deadline_ms == base);
    CHECK(e.paused_ms == 48 * kMsPerHour);
    CHECK(e.deadline_ms == base + 48 * kMsPerHour);  // Saturday 17 January 23:59:59
    CHECK(e.pauses_applied.size() == 1);
    CHECK(HasLine(e, "durée totale 2 j 00:00:00"));
    CHECK(HasLine(e, "Échéance avant pauses : jeudi 15 janvier 2026"));
  }
  SUBCASE("overlapping pauses count once") {
    const DeadlineExplanation e = Explain("4 jours-ouvres", kFridayJan9, "75", {},
                                          {{Utc(2026, 1, 12, 20), Utc(2026, 1, 14, 8)},
                                           {Utc(2026, 1, 12, 8), Utc(2026, 1, 13, 8)},
                                           {Utc(2026, 1, 12, 8), Utc(2026, 1, 13, 8)}});
    CHECK(e.paused_ms == 48 * kMsPerHour);
    CHECK(e.pauses_applied == std::vector<Pause>{{Utc(2026, 1, 12, 8), Utc(2026, 1, 14, 8)}});
  }
  SUBCASE("the part of a pause before submission does not count") {
    const DeadlineExplanation e = Explain("4 jours-ouvres", kFridayJan9, "75", {},
                                          {{Utc(2026, 1, 8, 8), Utc(2026, 1, 9, 11)}});
    CHECK(e.paused_ms == 2 * kMsPerHour);
    CHECK(e.deadline_ms == base + 2 * kMsPerHour);
  }
  SUBCASE("a pause starting after the deadline is not applied") {
    const DeadlineExplanation e = Explain("4 jours-ouvres", kFridayJan9, "75", {},
                                          {{Utc(2026, 1, 16, 8), Utc(2026, 1, 17, 8)}});
    CHECK(e.deadline_ms == base);
    CHECK(e.paused_ms == 0);
    CHECK(e.pauses_ignored.size() == 1);
    CHECK(HasLine(e, "Pause non prise en compte"));
    // Starting exactly at the deadline is already too late.
    CHECK(
        Explain("4 jours-ouvres", kFridayJan9, "75", {}, {{base, base + kMsPerHour}}).deadline_ms ==
        base);
    // One millisecond before it still counts, whole.
    CHECK(Explain("4 jours-ouvres", kFridayJan9, "75", {}, {{base - 1, base + kMsPerHour}})
              .deadline_ms == base + kMsPerHour + 1);
  }
  SUBCASE("a later pause counts if it starts before the already extended deadline") {
    const DeadlineExplanation e = Explain(
        "4 jours-ouvres", kFridayJan9, "75", {},
        {{Utc(2026, 1, 16, 8), Utc(2026, 1, 16, 20)}, {Utc(2026, 1, 12, 8), Utc(2026, 1, 14, 8)}});
    CHECK(e.paused_ms == 60 * kMsPerHour);
    CHECK(e.deadline_ms == base + 60 * kMsPerHour);
    CHECK(e.pauses_applied.size() == 2);
  }
  SUBCASE("empty pauses change nothing; reversed ones are refused") {
    CHECK(Explain("4 jours-ouvres", kFridayJan9, "75", {}, {{Utc(2026, 1, 12), Utc(2026, 1, 12)}})
              .deadline_ms == base);
    Result<DeadlineExplanation> reversed = ComputeDeadline(
        DefaultReplyPolicy(), kFridayJan9, "75", {}, {{Utc(2026, 1, 13), Utc(2026, 1, 12)}});
    REQUIRE_FALSE(reversed.ok());
    CHECK(reversed.status().code() == wire::INVALID_ARGUMENT);
  }
  SUBCASE("calendar days and durations move by wall-clock time too") {
    const Pause day{Utc(2026, 1, 10, 12), Utc(2026, 1, 11, 12)};
    CHECK(Explain("4 jours-calendaires", kFridayJan9, "75", {}, {day}).deadline_ms ==
          Utc(2026, 1, 14, 22, 59, 59));
    CHECK(Explain("48 heures", kFridayJan9, "75", {}, {day}).deadline_ms ==
          kFridayJan9 + 72 * kMsPerHour);
  }
}

TEST_CASE("default warning: one counted day or 25% of the window, whichever comes first") {
  SUBCASE("long window: 25% is reached first") {
    // Window = 6 d 13:59:59 from Friday 10:00; 25% = 1 d 15:29:59.750.
    const DeadlineExplanation e = Explain("4 jours-ouvres", kFridayJan9);
    CHECK(e.warning_at_ms == Utc(2026, 1, 14, 7, 29, 59, 250));
    CHECK(WarningWith(e, WarningLead::Default()) == e.warning_at_ms);
    CHECK(HasLine(e, "Alerte : mercredi 14 janvier 2026, 2026-01-14 08:29:59.250 UTC+01:00"));
  }
  SUBCASE("short window: one counted day left is reached first") {
    // Monday 10:00 -> Wednesday 23:59:59; the end of Tuesday comes before the 25% mark.
    const DeadlineExplanation e = Explain("2 jours-ouvres", Utc(2026, 1, 12, 9));
    CHECK(e.deadline_ms == Utc(2026, 1, 14, 22, 59, 59));
    CHECK(e.warning_at_ms == Utc(2026, 1, 13, 22, 59, 59));
  }
  SUBCASE("one-day window: one day remains from the start") {
    const DeadlineExplanation e = Explain("1 jour-ouvre", Utc(2026, 1, 12, 9));
    CHECK(e.warning_at_ms == Utc(2026, 1, 12, 9));
  }
  SUBCASE("weekend inside: one day remains from the end of the previous counted day") {
    // Thursday 10:00, 2 jours ouvrés: Friday and Monday. Window 4 d 13:59:59 (25% = 1 d
    // 3:29:59.75).
    const DeadlineExplanation e = Explain("2 jours-ouvres", Utc(2026, 1, 8, 9));
    CHECK(e.counted_days == std::vector<Date>{{2026, 1, 9}, {2026, 1, 12}});
    CHECK(e.warning_at_ms == Utc(2026, 1, 9, 22, 59, 59));  // Friday end, before Sunday 19:30
  }
  SUBCASE("duration units: one unit or 25%") {
    const int64_t start = Utc(2026, 1, 12, 9);
    CHECK(Explain("10 heures", start).warning_at_ms == start + 7 * kMsPerHour + 30 * kMsPerMinute);
    CHECK(Explain("4 heures", start).warning_at_ms == start + 3 * kMsPerHour);
    CHECK(Explain("2 heures", start).warning_at_ms == start + 1 * kMsPerHour);
    CHECK(Explain("30 secondes", start).warning_at_ms == start + 22'500);
  }
}

TEST_CASE("configured warning leads") {
  const DeadlineExplanation e = Explain("4 jours-ouvres", kFridayJan9);
  CHECK(WarningWith(e, WarningLead::Duration(6 * kMsPerHour)) == Utc(2026, 1, 15, 16, 59, 59));
  CHECK(WarningWith(e, WarningLead::Duration(30 * kMsPerDay)) == kFridayJan9);  // clamped
  CHECK(WarningWith(e, WarningLead::Duration(0)) == e.deadline_ms);
  CHECK(WarningWith(e, WarningLead::CountedDays(1)) == Utc(2026, 1, 14, 22, 59, 59));
  CHECK(WarningWith(e, WarningLead::CountedDays(2)) == Utc(2026, 1, 13, 22, 59, 59));
  CHECK(WarningWith(e, WarningLead::CountedDays(3)) == Utc(2026, 1, 12, 22, 59, 59));
  CHECK(WarningWith(e, WarningLead::CountedDays(4)) == kFridayJan9);
  CHECK(WarningWith(e, WarningLead::CountedDays(1000)) == kFridayJan9);
  CHECK(WarningWith(e, WarningLead::CountedDays(0)) == e.deadline_ms);
  Result<int64_t> negative = WarningAt(e, WarningLead::Duration(-1));
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.status().code() == wire::INVALID_ARGUMENT);
  // Duration units: K counted "days" are K units.
  const DeadlineExplanation hours = Explain("10 heures", kFridayJan9);
  CHECK(WarningWith(hours, WarningLead::CountedDays(2)) == kFridayJan9 + 8 * kMsPerHour);
}

TEST_CASE("pauses move the warning only if they start before it") {
  // Default warning: Wednesday 14 January 07:29:59.250 UTC.
  const DeadlineExplanation early = Explain("4 jours-ouvres", kFridayJan9, "75", {},
                                            {{Utc(2026, 1, 12, 8), Utc(2026, 1, 14, 8)}});
  CHECK(early.warning_at_ms == Utc(2026, 1, 16, 7, 29, 59, 250));
  CHECK(WarningWith(early, WarningLead::CountedDays(1)) == Utc(2026, 1, 16, 22, 59, 59));
  const DeadlineExplanation late = Explain("4 jours-ouvres", kFridayJan9, "75", {},
                                           {{Utc(2026, 1, 15, 8), Utc(2026, 1, 15, 10)}});
  CHECK(late.deadline_ms == Utc(2026, 1, 16, 0, 59, 59));
  CHECK(late.warning_at_ms == Utc(2026, 1, 14, 7, 29, 59, 250));
}

TEST_CASE("invalid inputs are INVALID_ARGUMENT") {
  auto code = [](const Result<DeadlineExplanation>& r) { return r.status().code(); };
  CHECK(code(ComputeDeadline(DefaultReplyPolicy(), kFridayJan9, "999")) == wire::INVALID_ARGUMENT);
  CHECK(code(ComputeDeadline(ReplyPolicy{0, ReplyUnit::kWorkingDays}, kFridayJan9, "75")) ==
        wire::INVALID_ARGUMENT);
  CHECK(code(ComputeDeadline(ReplyPolicy{400, ReplyUnit::kCalendarDays}, kFridayJan9, "75")) ==
        wire::INVALID_ARGUMENT);
  CHECK(code(ComputeDeadline(DefaultReplyPolicy(), -1, "75")) == wire::INVALID_ARGUMENT);
  CHECK(code(ComputeDeadline(DefaultReplyPolicy(), Utc(10000, 1, 1), "75")) ==
        wire::INVALID_ARGUMENT);
  // So many closures that no working day is left within 20 years.
  PartnerCalendar closed;
  for (int64_t day = 1; day <= 20 * 366 + 10; ++day) {
    closed.closures.push_back(AddDays(Date{2026, 1, 9}, day));
  }
  CHECK(code(ComputeDeadline(DefaultReplyPolicy(), kFridayJan9, "75", closed)) ==
        wire::INVALID_ARGUMENT);
  // An empty département is metropolitan France.
  Result<DeadlineExplanation> unspecified = ComputeDeadline(DefaultReplyPolicy(), kFridayJan9, "");
  REQUIRE(unspecified.ok());
  CHECK(unspecified->deadline_ms == Utc(2026, 1, 15, 22, 59, 59));
}

TEST_CASE("SkipReason combines every reason") {
  Result<HolidayCalendar> paris = HolidayCalendar::ForDepartement("75");
  REQUIRE(paris.ok());
  // 14 July 2024 was a Sunday.
  CHECK(SkipReason(ReplyUnit::kWorkingDays, Date{2024, 7, 14}, *paris, {}) ==
        "dimanche, Fête nationale");
  CHECK(SkipReason(ReplyUnit::kWorkingDays, Date{2024, 7, 15}, *paris, {}) == std::nullopt);
  CHECK(SkipReason(ReplyUnit::kCalendarDays, Date{2024, 7, 14}, *paris, {}) == std::nullopt);
  CHECK(SkipReason(ReplyUnit::kWorkingDaysWithSaturday, Date{2024, 7, 13}, *paris, {}) ==
        std::nullopt);
  CHECK(SkipReason(ReplyUnit::kWorkingDays, Date{2024, 7, 13}, *paris, {}) == "samedi");
}

TEST_CASE("invariants over four years of daily submissions") {
  for (const char* departement : {"75", "67", "974", "971"}) {
    Result<HolidayCalendar> calendar = HolidayCalendar::ForDepartement(departement);
    REQUIRE(calendar.ok());
    Result<TimeZone> zone = TimeZone::FromName(calendar->zone_name());
    REQUIRE(zone.ok());
    for (const char* policy : {"1 jour-ouvre", "4 jours-ouvres", "10 jours-ouvres",
                               "4 jours-ouvrables", "7 jours-calendaires"}) {
      const ReplyPolicy reply = Policy(policy);
      for (int64_t day = DaysFromCivil({2024, 1, 1}); day < DaysFromCivil({2028, 1, 1}); ++day) {
        const int64_t submitted = day * kMsPerDay + 11 * kMsPerHour + 17 * kMsPerMinute;
        Result<DeadlineExplanation> r = ComputeDeadline(reply, submitted, departement);
        REQUIRE(r.ok());
        const DeadlineExplanation& e = *r;
        CAPTURE(departement);
        CAPTURE(policy);
        CAPTURE(FormatDate(e.submission_date));
        REQUIRE(e.submission_date == zone->ToLocal(submitted).date);
        REQUIRE(static_cast<int64_t>(e.counted_days.size()) == reply.window);
        // Counted and skipped days tile the days after submission, up to the deadline day.
        std::vector<Date> all = e.counted_days;
        for (const SkippedDay& s : e.skipped_days) all.push_back(s.date);
        std::sort(all.begin(), all.end());
        for (size_t i = 0; i < all.size(); ++i) {
          REQUIRE(all[i] == AddDays(e.submission_date, static_cast<int64_t>(i) + 1));
        }
        REQUIRE(all.back() == e.counted_days.back());
        for (const Date& counted : e.counted_days) {
          const Weekday weekday = WeekdayOf(counted);
          if (reply.unit != ReplyUnit::kCalendarDays) {
            REQUIRE(weekday != Weekday::kSunday);
            REQUIRE_FALSE(calendar->IsHoliday(counted));
          }
          if (reply.unit == ReplyUnit::kWorkingDays) REQUIRE(weekday != Weekday::kSaturday);
        }
        for (const SkippedDay& s : e.skipped_days) REQUIRE_FALSE(s.reason.empty());
        const LocalTime end = zone->ToLocal(e.deadline_ms);
        REQUIRE(end.date == e.counted_days.back());
        REQUIRE((end.hour == 23 && end.minute == 59 && end.second == 59 && end.millisecond == 0));
        REQUIRE(e.warning_at_ms >= e.submitted_ms);
        REQUIRE(e.warning_at_ms <= e.deadline_ms);
        // 25% of the window is never exceeded by the default warning.
        REQUIRE(e.deadline_ms - e.warning_at_ms >= (e.deadline_ms - e.submitted_ms) / 4);
      }
    }
  }
}

}  // namespace
}  // namespace aplus::sla
