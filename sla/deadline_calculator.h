// The reply deadline of a case, and why it is what it is.
//
// Conventions (the rules every program shows and enforces):
//
// 1. Local time. Instants are unix ms UTC; days are counted on the local calendar of the
//    contact point's département: Europe/Paris, or the overseas zone (civil_time.h).
//
// 2. Day units. The day of submission is never counted, whatever the hour. From the next day
//    on, each day is either counted or skipped:
//      jours calendaires  every day counts (weekends, holidays and closures included);
//      jours ouvrés       skipped: Saturday ("samedi"), Sunday ("dimanche"), the département's
//                         public holidays (french_holidays.h) and the partner's closure days
//                         ("fermeture du partenaire");
//      jours ouvrables    as jours ouvrés, but Saturdays count.
//    A partner may declare Whit Monday worked (journée de solidarité): it then counts like any
//    Monday, unless it is also another holiday or a closure. A skipped day lists all its reasons
//    joined by ", " ("dimanche, Fête nationale").
//    The base deadline is 23:59:59.000 local time of the Nth counted day. A reply at or before
//    deadline_ms is on time; the case is overdue once now_ms > deadline_ms.
//
// 3. Duration units (heures, minutes, secondes): base deadline = submission + N x unit, no
//    calendar, nothing counted or skipped.
//
// 4. Pauses (INFO_REQUESTED periods, [start_ms, end_ms)) stop the SLA clock: the deadline is the
//    instant at which the un-paused time since submission reaches the base window. In practice:
//    deadline = base deadline + total paused duration, in wall-clock terms also for the day
//    units (a 2-day pause moves a 23:59:59 deadline by exactly 48 h, whatever the calendar
//    says about the days it lands on). Precisely: overlapping pauses count once, the part of a
//    pause before submission does not count, and a pause that starts at or after the deadline
//    (as already extended by the earlier pauses) is not applied: the case was already late.
//    An ongoing pause is passed with end_ms = now.
//
// 5. Warning. Default lead: "when one counted day or 25% of the window remains, whichever
//    comes first", i.e. warning = min(A, B), the earlier of the two instants at which each
//    condition becomes true:
//      A = the moment exactly one counted day remains = the end (23:59:59) of counted day N-1,
//          i.e. the deadline an (N-1)-day window would have had; for N = 1 that holds from the
//          start, so A = submission. For duration units, A = base deadline - one unit.
//      B = base deadline - 25% of (base deadline - submission), rounded down to the ms.
//    A lead can instead be configured as a duration (deadline - lead) or as K counted days
//    (end of counted day N-K; submission if K >= N; deadline - K units for duration units).
//    The warning is never before submission; it is then moved by the pauses by the same rule as
//    the deadline (pauses starting before it delay it).
//
// Thread rules: pure functions of their arguments; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "sla/civil_time.h"
#include "sla/french_holidays.h"
#include "sla/reply_policy.h"

namespace aplus::sla {

// A period during which the SLA clock is stopped, [start_ms, end_ms), unix ms UTC.
struct Pause {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  friend bool operator==(const Pause&, const Pause&) = default;
};

// What the partner adds to the public calendar.
struct PartnerCalendar {
  std::vector<Date> closures;       // explicit closure days, local dates
  bool whit_monday_worked = false;  // journée de solidarité on Whit Monday
};

struct SkippedDay {
  Date date;
  std::string reason;  // "samedi", "Lundi de Pâques", "fermeture du partenaire", ...
  friend bool operator==(const SkippedDay&, const SkippedDay&) = default;
};

struct WarningLead {
  enum class Kind { kDefault, kDuration, kCountedDays };
  Kind kind = Kind::kDefault;
  int64_t value = 0;  // ms for kDuration, days (or units) for kCountedDays; >= 0

  static WarningLead Default() { return {}; }
  static WarningLead Duration(int64_t ms) { return {Kind::kDuration, ms}; }
  static WarningLead CountedDays(int64_t days) { return {Kind::kCountedDays, days}; }
};

struct DeadlineExplanation {
  ReplyPolicy policy;
  std::string departement;
  std::string zone;  // IANA name of the local time used
  int64_t submitted_ms = 0;
  Date submission_date;                  // local date of submission (never counted)
  int64_t base_deadline_ms = 0;          // before pauses
  int64_t deadline_ms = 0;               // after pauses: the one to enforce
  std::vector<Date> counted_days;        // day units only, in order; size() == window
  std::vector<SkippedDay> skipped_days;  // day units only, between submission and deadline
  std::vector<Pause> pauses_applied;     // merged and clipped, in order
  std::vector<Pause> pauses_ignored;     // merged and clipped, started after the deadline
  int64_t paused_ms = 0;                 // total of pauses_applied
  int64_t warning_at_ms = 0;             // with WarningLead::Default()
  // Human-readable, French, one line each, in this order: policy and convention; submission;
  // counted days; skipped days with reasons (day units only); pauses (and, if any, the deadline
  // before pauses); "Échéance : ..."; "Alerte : ..." (default lead).
  std::vector<std::string> lines;
};

// `write_lines = false` skips the human-readable lines (the broker's hot path needs only the
// instants). INVALID_ARGUMENT for: a policy out of bounds, an unknown département, a closure that is not
// a real date, a pause ending before it starts, instants outside years 1970-9999, or a calendar
// so full of closures that N counted days are not found within 20 years.
Result<DeadlineExplanation> ComputeDeadline(const ReplyPolicy& policy, int64_t submitted_ms,
                                            std::string_view departement,
                                            const PartnerCalendar& partner = {},
                                            const std::vector<Pause>& pauses = {},
                                            bool write_lines = true);

// Replaces the base deadline of `explanation` (as returned by ComputeDeadline for the same
// start and pauses) with `base_deadline_ms`, and applies `pauses` to it by the rule of
// convention 4: deadline_ms, paused_ms, pauses_applied and pauses_ignored follow; the lines and
// the warning are left as they were. A transfer that keeps the original deadline rebases on
// that deadline *before pauses*, so that each pause (before or after the transfer) counts once.
void RebaseDeadline(DeadlineExplanation& explanation, int64_t base_deadline_ms,
                    const std::vector<Pause>& pauses);

// The warning instant for `explanation` (as returned by ComputeDeadline) with another lead.
// INVALID_ARGUMENT for a negative lead.
Result<int64_t> WarningAt(const DeadlineExplanation& explanation, const WarningLead& lead);

// Why `date` is not counted under `unit` ("samedi", "dimanche, Fête nationale", ...), or
// nullopt if it counts.
std::optional<std::string> SkipReason(ReplyUnit unit, Date date, const HolidayCalendar& calendar,
                                      const PartnerCalendar& partner);

// "2 j 03:00:00", "00:45:00", "00:00:01.500".
std::string FormatDuration(int64_t ms);

}  // namespace aplus::sla
