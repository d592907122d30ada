// How long a partner has to answer a case: a window N and a unit.
//
//   unit (config name / English alias)                     what is counted
//   "jours-calendaires"  / "calendar-days"                 every day, holidays included
//   "jours-ouvres"       / "working-days"                  Monday-Friday, minus public holidays
//                                                          and the partner's closure days
//   "jours-ouvrables"    / "working-days-with-saturday"    Monday-Saturday, minus public holidays
//                                                          and the partner's closure days
//   "heures" / "hours", "minutes", "secondes" / "seconds"  a plain duration (tests, demos)
//
// Counting rules (see deadline_calculator.h): the day of submission is never counted; the
// deadline is 23:59:59 local time of the Nth counted day. For the duration units the deadline is
// simply submission + N x unit, without any calendar.
//
// Default: 4 jours ouvrés.
//
// Parsing is forgiving about spelling, strict about meaning: unit names are case-insensitive,
// accept "é" for "e", spaces or '_' for '-', and the singular ("1 jour-ouvre", "1 heure").
// The window is a whole number >= 1; a day window is at most 366 days, a duration at most the
// same 366 days.
//
// Thread rules: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace aplus::sla {

enum class ReplyUnit {
  kCalendarDays,             // jours calendaires
  kWorkingDays,              // jours ouvrés: Monday-Friday
  kWorkingDaysWithSaturday,  // jours ouvrables: Monday-Saturday
  kHours,
  kMinutes,
  kSeconds,
};

struct ReplyPolicy {
  int64_t window = 4;
  ReplyUnit unit = ReplyUnit::kWorkingDays;
  friend bool operator==(const ReplyPolicy&, const ReplyPolicy&) = default;
};

inline constexpr int64_t kMaxReplyWindowDays = 366;

// 4 jours ouvrés.
inline ReplyPolicy DefaultReplyPolicy() { return ReplyPolicy{}; }

// True for the three day units (counted on a calendar), false for hours/minutes/seconds.
bool CountsDays(ReplyUnit unit);
// Length of one unit in ms for the duration units; 0 for the day units.
int64_t UnitDurationMs(ReplyUnit unit);

// The canonical config name: "jours-ouvres", "heures", ...
std::string_view ReplyUnitConfigName(ReplyUnit unit);
// The unit for readers, in French, singular or plural: "jour ouvré", "jours ouvrés", "heures".
std::string_view ReplyUnitLabel(ReplyUnit unit, bool plural);

// Any accepted unit spelling (see above) -> the unit; INVALID_ARGUMENT listing the known names.
Result<ReplyUnit> ParseReplyUnit(std::string_view name);
// Window and unit as two config values (window must be in range, unit as for ParseReplyUnit).
Result<ReplyPolicy> MakeReplyPolicy(int64_t window, std::string_view unit);
// "4 jours-ouvres", "4 jours ouvrés", "48 heures", "30 seconds": the window, whitespace, the unit.
Result<ReplyPolicy> ParseReplyPolicy(std::string_view text);
// Checks the window against its unit's bounds.
Status ValidateReplyPolicy(const ReplyPolicy& policy);

// "4 jours-ouvres": the config form, which ParseReplyPolicy reads back to the same policy.
std::string FormatReplyPolicy(const ReplyPolicy& policy);
// "4 jours ouvrés", "1 jour calendaire", "90 secondes": for people.
std::string DescribeReplyPolicy(const ReplyPolicy& policy);

}  // namespace aplus::sla
