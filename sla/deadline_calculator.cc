#include "sla/deadline_calculator.h"

#include <algorithm>
#include <cstdio>

namespace aplus::sla {
namespace {

constexpr int64_t kMaxScannedDays = 20 * 366;

// Instants A+ can meaningfully handle; bounding them also keeps every sum below far from overflow.
bool InRange(int64_t ms) {
  static const int64_t kMax = (DaysFromCivil(Date{9999, 12, 31}) + 1) * kMsPerDay;
  return ms >= 0 && ms < kMax;
}

// Sorted union of the pauses, each clipped to start no earlier than `from_ms`; empty ones dropped.
std::vector<Pause> MergePauses(const std::vector<Pause>& pauses, int64_t from_ms) {
  std::vector<Pause> clipped;
  for (const Pause& pause : pauses) {
    const Pause part{std::max(pause.start_ms, from_ms), pause.end_ms};
    if (part.end_ms > part.start_ms) clipped.push_back(part);
  }
  std::sort(clipped.begin(), clipped.end(),
            [](const Pause& x, const Pause& y) { return x.start_ms < y.start_ms; });
  std::vector<Pause> merged;
  for (const Pause& pause : clipped) {
    if (!merged.empty() && pause.start_ms <= merged.back().end_ms) {
      merged.back().end_ms = std::max(merged.back().end_ms, pause.end_ms);
    } else {
      merged.push_back(pause);
    }
  }
  return merged;
}

// The clock-stop rule: walk the pauses in order; each one starting before the running instant
// pushes it back by its length. `applied` (optional) receives the pauses that did.
int64_t ShiftByPauses(int64_t instant_ms, const std::vector<Pause>& merged,
                      std::vector<Pause>* applied) {
  for (const Pause& pause : merged) {
    if (pause.start_ms >= instant_ms) break;
    instant_ms += pause.end_ms - pause.start_ms;
    if (applied != nullptr) applied->push_back(pause);
  }
  return instant_ms;
}

std::string JoinDates(const std::vector<Date>& dates) {
  std::string text;
  for (const Date& date : dates) {
    if (!text.empty()) text += ", ";
    text += FormatDateFrench(date);
  }
  return text;
}

std::string FormatInstant(const TimeZone& zone, int64_t ms) {
  return FormatDateFrench(zone.ToLocal(ms).date) + ", " + zone.Format(ms);
}

std::string FormatPause(const TimeZone& zone, const Pause& pause) {
  return "du " + zone.Format(pause.start_ms) + " au " + zone.Format(pause.end_ms) + " (" +
         FormatDuration(pause.end_ms - pause.start_ms) + ")";
}

// Base warning before pauses, per the rules in the header.
int64_t BaseWarning(const DeadlineExplanation& e, const TimeZone& zone, const WarningLead& lead) {
  const int64_t n = e.policy.window;
  // The instant at which exactly `k` counted days (or units) remain.
  auto when_remaining = [&](int64_t k) -> int64_t {
    if (!CountsDays(e.policy.unit)) return e.base_deadline_ms - k * UnitDurationMs(e.policy.unit);
    if (k >= n) return e.submitted_ms;
    return zone.EndOfDayMs(e.counted_days[static_cast<size_t>(n - k - 1)]);
  };
  int64_t warning = 0;
  switch (lead.kind) {
    case WarningLead::Kind::kDefault: {
      const int64_t quarter = (e.base_deadline_ms - e.submitted_ms) / 4;
      warning = std::min(when_remaining(1), e.base_deadline_ms - quarter);
      break;
    }
    case WarningLead::Kind::kDuration:
      warning = e.base_deadline_ms - lead.value;
      break;
    case WarningLead::Kind::kCountedDays:
      // Bounded so that k x unit cannot overflow; beyond the window it is the submission anyway.
      warning = when_remaining(std::min(lead.value, n + 1));
      break;
  }
  return std::clamp(warning, e.submitted_ms, e.base_deadline_ms);
}

void WriteLines(DeadlineExplanation& e, const TimeZone& zone) {
  const bool days = CountsDays(e.policy.unit);
  if (days) {
    e.lines.push_back("Délai : " + DescribeReplyPolicy(e.policy) +
                      " ; le jour du dépôt n'est pas compté ; échéance à 23:59:59 (heure " +
                      e.zone + ") du dernier jour compté.");
  } else {
    e.lines.push_back("Délai : " + DescribeReplyPolicy(e.policy) +
                      " à compter du dépôt, en durée continue (sans calendrier).");
  }
  e.lines.push_back("Dépôt : " + FormatInstant(zone, e.submitted_ms) + " (" + e.zone + ")" +
                    (e.departement.empty() ? "" : ", département " + e.departement) + ".");
  if (days) {
    e.lines.push_back("Jours comptés (" + std::to_string(e.counted_days.size()) +
                      ") : " + JoinDates(e.counted_days) + ".");
    if (e.skipped_days.empty()) {
      e.lines.push_back("Jours non comptés : aucun.");
    } else {
      std::string text;
      for (const SkippedDay& skipped : e.skipped_days) {
        if (!text.empty()) text += ", ";
        text += FormatDateFrench(skipped.date) + " (" + skipped.reason + ")";
      }
      e.lines.push_back("Jours non comptés (" + std::to_string(e.skipped_days.size()) +
                        ") : " + text + ".");
    }
  }
  if (e.pauses_applied.empty() && e.pauses_ignored.empty()) {
    e.lines.push_back("Pauses (demandes d'information) : aucune.");
  } else {
    std::string text;
    for (const Pause& pause : e.pauses_applied) {
      if (!text.empty()) text += " ; ";
      text += FormatPause(zone, pause);
    }
    e.lines.push_back(
        "Pauses (demandes d'information) : " + std::to_string(e.pauses_applied.size()) +
        ", durée totale " + FormatDuration(e.paused_ms) + (text.empty() ? "" : " : " + text) + ".");
    for (const Pause& pause : e.pauses_ignored) {
      e.lines.push_back("Pause non prise en compte (commencée après l'échéance) : " +
                        FormatPause(zone, pause) + ".");
    }
    e.lines.push_back("Échéance avant pauses : " + FormatInstant(zone, e.base_deadline_ms) + ".");
  }
  e.lines.push_back("Échéance : " + FormatInstant(zone, e.deadline_ms) + ".");
  e.lines.push_back("Alerte : " + FormatInstant(zone, e.warning_at_ms) + " (quand il reste " +
                    std::string(days ? "un " : "une ") +
                    std::string(ReplyUnitLabel(e.policy.unit, false)) +
                    " ou 25 % du délai, au premier des deux).");
}

}  // namespace

std::optional<std::string> SkipReason(ReplyUnit unit, Date date, const HolidayCalendar& calendar,
                                      const PartnerCalendar& partner) {
  if (unit != ReplyUnit::kWorkingDays && unit != ReplyUnit::kWorkingDaysWithSaturday) {
    return std::nullopt;  // calendar days: everything counts; durations: no days at all
  }
  std::vector<std::string> reasons;
  const Weekday weekday = WeekdayOf(date);
  if (weekday == Weekday::kSunday ||
      (weekday == Weekday::kSaturday && unit == ReplyUnit::kWorkingDays)) {
    reasons.emplace_back(FrenchWeekdayName(weekday));
  }
  for (std::string& name : calendar.HolidayNames(date)) {
    if (partner.whit_monday_worked && name == kWhitMondayName) continue;
    reasons.push_back(std::move(name));
  }
  if (std::find(partner.closures.begin(), partner.closures.end(), date) != partner.closures.end()) {
    reasons.emplace_back("fermeture du partenaire");
  }
  if (reasons.empty()) return std::nullopt;
  std::string joined = reasons[0];
  for (size_t i = 1; i < reasons.size(); ++i) joined += ", " + reasons[i];
  return joined;
}

Result<DeadlineExplanation> ComputeDeadline(const ReplyPolicy& policy, int64_t submitted_ms,
                                            std::string_view departement,
                                            const PartnerCalendar& partner,
                                            const std::vector<Pause>& pauses, bool write_lines) {
  if (Status valid = ValidateReplyPolicy(policy); !valid.ok()) return valid;
  Result<HolidayCalendar> calendar = HolidayCalendar::ForDepartement(departement);
  if (!calendar.ok()) return calendar.status();
  Result<TimeZone> zone = TimeZone::FromName(calendar->zone_name());
  if (!zone.ok()) return zone.status();
  if (!InRange(submitted_ms)) {
    return InvalidArgument("submission time " + std::to_string(submitted_ms) +
                           " ms is outside years 1970-9999");
  }
  for (const Date& closure : partner.closures) {
    if (!IsValidDate(closure) || closure.year < 1970 || closure.year > 9999) {
      return InvalidArgument("partner closure " + FormatDate(closure) + " is not a valid date");
    }
  }
  for (const Pause& pause : pauses) {
    if (!InRange(pause.start_ms) || !InRange(pause.end_ms)) {
      return InvalidArgument("pause [" + std::to_string(pause.start_ms) + ", " +
                             std::to_string(pause.end_ms) + ") ms is outside years 1970-9999");
    }
    if (pause.end_ms < pause.start_ms) {
      return InvalidArgument("pause ends (" + std::to_string(pause.end_ms) +
                             " ms) before it starts (" + std::to_string(pause.start_ms) + " ms)");
    }
  }

  DeadlineExplanation e;
  e.policy = policy;
  e.departement = calendar->departement();
  e.zone = zone->name();
  e.submitted_ms = submitted_ms;
  e.submission_date = zone->ToLocal(submitted_ms).date;

  if (CountsDays(policy.unit)) {
    Date day = e.submission_date;
    for (int64_t scanned = 0; static_cast<int64_t>(e.counted_days.size()) < policy.window;
         ++scanned) {
      if (scanned >= kMaxScannedDays) {
        return InvalidArgument("no " + DescribeReplyPolicy(policy) +
                               " within 20 years of submission: too many closure days");
      }
      day = AddDays(day, 1);
      if (std::optional<std::string> reason = SkipReason(policy.unit, day, *calendar, partner)) {
        e.skipped_days.push_back({day, std::move(*reason)});
      } else {
        e.counted_days.push_back(day);
      }
    }
    e.base_deadline_ms = zone->EndOfDayMs(e.counted_days.back());
  } else {
    e.base_deadline_ms = submitted_ms + policy.window * UnitDurationMs(policy.unit);
  }

  const std::vector<Pause> merged = MergePauses(pauses, submitted_ms);
  e.deadline_ms = ShiftByPauses(e.base_deadline_ms, merged, &e.pauses_applied);
  for (const Pause& pause : merged) {
    if (std::find(e.pauses_applied.begin(), e.pauses_applied.end(), pause) ==
        e.pauses_applied.end()) {
      e.pauses_ignored.push_back(pause);
    }
  }
  e.paused_ms = e.deadline_ms - e.base_deadline_ms;
  e.warning_at_ms =
      ShiftByPauses(BaseWarning(e, *zone, WarningLead::Default()), e.pauses_applied, nullptr);
  if (write_lines) WriteLines(e, *zone);
  return e;
}

void RebaseDeadline(DeadlineExplanation& e, int64_t base_deadline_ms,
                    const std::vector<Pause>& pauses) {
  e.base_deadline_ms = base_deadline_ms;
  e.pauses_applied.clear();
  e.pauses_ignored.clear();
  const std::vector<Pause> merged = MergePauses(pauses, e.submitted_ms);
  e.deadline_ms = ShiftByPauses(base_deadline_ms, merged, &e.pauses_applied);
  for (const Pause& pause : merged) {
    if (std::find(e.pauses_applied.begin(), e.pauses_applied.end(), pause) ==
        e.pauses_applied.end()) {
      e.pauses_ignored.push_back(pause);
    }
  }
  e.paused_ms = e.deadline_ms - e.base_deadline_ms;
}

Result<int64_t> WarningAt(const DeadlineExplanation& explanation, const WarningLead& lead) {
  if (lead.value < 0) {
    return InvalidArgument("warning lead must not be negative, got " + std::to_string(lead.value));
  }
  Result<TimeZone> zone = TimeZone::FromName(explanation.zone);
  if (!zone.ok()) return zone.status();
  if (CountsDays(explanation.policy.unit) &&
      static_cast<int64_t>(explanation.counted_days.size()) != explanation.policy.window) {
    return InvalidArgument("explanation does not come from ComputeDeadline: counted days missing");
  }
  return ShiftByPauses(BaseWarning(explanation, *zone, lead), explanation.pauses_applied, nullptr);
}

std::string FormatDuration(int64_t ms) {
  const bool negative = ms < 0;
  if (negative) ms = -ms;
  const int64_t days = ms / kMsPerDay;
  const int64_t rest = ms % kMsPerDay;
  char text[64];
  int length =
      std::snprintf(text, sizeof(text), "%02d:%02d:%02d", static_cast<int>(rest / kMsPerHour),
                    static_cast<int>(rest % kMsPerHour / kMsPerMinute),
                    static_cast<int>(rest % kMsPerMinute / kMsPerSecond));
  if (rest % kMsPerSecond != 0 && length > 0) {
    std::snprintf(text + length, sizeof(text) - static_cast<size_t>(length), ".%03d",
                  static_cast<int>(rest % kMsPerSecond));
  }
  std::string out = negative ? "-" : "";
  if (days > 0) out += std::to_string(days) + " j ";
  return out + text;
}

}  // namespace aplus::sla
