#include "broker/sla_clock.h"

#include "sla/civil_time.h"

namespace aplus {

Result<sla::DeadlineExplanation> SlaClock::ExplainAt(const Partner& partner,
                                                     const ContactPoint& contact_point,
                                                     const std::string& category,
                                                     int64_t at_ms) const {
  return sla::ComputeDeadline(partner.PolicyFor(category), at_ms, contact_point.departement,
                              partner.calendar);
}

Result<sla::DeadlineExplanation> SlaClock::Explain(const records::CaseRecord& record,
                                                   int64_t now_ms, bool write_lines) const {
  const auto& summary = record.summary();
  const Partner* partner = config_.FindPartner(summary.partner());
  const ContactPoint* contact_point = config_.FindContactPoint(summary.contact_point());
  if (!partner || !contact_point) {
    return Status(wire::INTERNAL, "case " + summary.case_id() + " names a partner or contact " +
                                      "point that is no longer in the network config");
  }
  std::vector<sla::Pause> pauses;
  for (const auto& pause : record.pauses()) {
    pauses.push_back({pause.start_ms(), pause.end_ms() == 0 ? std::max(now_ms, pause.start_ms())
                                                            : pause.end_ms()});
  }
  int64_t started = record.clock_started_ms() ? record.clock_started_ms() : summary.submitted_at_ms();
  auto explanation = sla::ComputeDeadline(partner->PolicyFor(summary.category()), started,
                                          contact_point->departement, partner->calendar, pauses,
                                          write_lines);
  if (!explanation.ok()) return explanation;
  if (record.inherited_deadline_ms() != 0) {
    // The kept deadline is the original window's before pauses: every pause of the case, before
    // or after the transfer, moves it once (adding this window's paused time to a deadline that
    // already held the earlier pauses counted them twice).
    sla::RebaseDeadline(*explanation, record.inherited_deadline_ms(), pauses);
    if (write_lines) explanation->lines.push_back("Transfert : le délai d'origine est conservé.");
  }
  return explanation;
}

Result<int64_t> SlaClock::EndOfNextWorkingDay(const Partner& partner,
                                              const ContactPoint& contact_point,
                                              int64_t now_ms) const {
  // Exactly the deadline of a "1 jour ouvré" window opened now (the day of `now_ms` is never
  // counted): one rule for deadlines and for the board.
  auto explanation = sla::ComputeDeadline(sla::ReplyPolicy{1, sla::ReplyUnit::kWorkingDays}, now_ms,
                                          contact_point.departement, partner.calendar, {},
                                          /*write_lines=*/false);
  if (!explanation.ok()) return explanation.status();
  return explanation->deadline_ms;
}

int64_t SlaClock::WarningAt(const sla::DeadlineExplanation& explanation) const {
  auto warning = sla::WarningAt(explanation, config_.sla.warning_lead);
  int64_t at = warning.ok() ? *warning : explanation.warning_at_ms;
  return std::min(at, explanation.deadline_ms);
}

double SlaClock::ReplyTimeInUnit(const records::CaseRecord& record, int64_t answered_at_ms,
                                 std::optional<sla::ReplyUnit> unit) const {
  const auto& summary = record.summary();
  const Partner* partner = config_.FindPartner(summary.partner());
  const ContactPoint* contact_point = config_.FindContactPoint(summary.contact_point());
  if (!partner || !contact_point) return 0;
  // Reports add up cases of every category: they speak the partner's default unit.
  sla::ReplyPolicy policy = partner->reply_policy;
  if (unit) policy.unit = *unit;
  int64_t started = record.clock_started_ms() ? record.clock_started_ms() : summary.submitted_at_ms();
  if (!sla::CountsDays(policy.unit)) {
    int64_t elapsed = answered_at_ms - started - summary.paused_ms();
    return static_cast<double>(std::max<int64_t>(elapsed, 0)) /
           static_cast<double>(sla::UnitDurationMs(policy.unit));
  }
  auto calendar = sla::HolidayCalendar::ForDepartement(contact_point->departement);
  auto zone = sla::ZoneForDepartement(contact_point->departement);
  auto start = sla::ToLocal(started, zone);
  auto end = sla::ToLocal(answered_at_ms, zone);
  if (!calendar.ok() || !start.ok() || !end.ok()) return 0;
  double counted = 0;
  for (sla::Date day = sla::AddDays(start->date, 1); day <= end->date; day = sla::AddDays(day, 1)) {
    if (!sla::SkipReason(policy.unit, day, *calendar, partner->calendar)) counted += 1;
  }
  return counted;
}

}  // namespace aplus
