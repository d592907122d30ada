// The SLA clock of a case: its deadline and warning instant under its partner's reply policy,
// the contact point's calendar, the partner's closures and the pauses of its current window.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/network_config.h"
#include "common/status.h"
#include "records.pb.h"
#include "sla/deadline_calculator.h"

namespace aplus {

// Thread rules: immutable after construction; the config must outlive it.
class SlaClock {
 public:
  explicit SlaClock(const NetworkConfig& config) : config_(config) {}

  // The current window of `record` (an open pause counts up to `now_ms`). When a transfer kept
  // the original deadline (record.inherited_deadline_ms, the original deadline before pauses),
  // that deadline moved by the case's pauses, each counted once, wins over the computed one.
  // `write_lines = false` computes the instants only (the hot path of every submission).
  Result<sla::DeadlineExplanation> Explain(const records::CaseRecord& record, int64_t now_ms,
                                           bool write_lines = true) const;

  // A hypothetical submission at `at_ms` (what `aplus deadline` shows).
  Result<sla::DeadlineExplanation> ExplainAt(const Partner& partner,
                                             const ContactPoint& contact_point,
                                             const std::string& category, int64_t at_ms) const;

  // The end (23:59:59.000 local) of the next working day after `now_ms` under `partner`'s
  // calendar at `contact_point` (weekends, the département's holidays and the partner's
  // closures skipped): the SLA board's default horizon, "due within one working day".
  Result<int64_t> EndOfNextWorkingDay(const Partner& partner, const ContactPoint& contact_point,
                                      int64_t now_ms) const;

  // The warning instant under the network's configured lead.
  int64_t WarningAt(const sla::DeadlineExplanation& explanation) const;

  // How long a reply took, in the unit of the partner's default policy (a report adds up
  // every category), or in `unit` when given (reports by contact point, which mix partners):
  // counted days from the window's start to the reply (a reply on the day of submission is 0),
  // or the un-paused duration in the unit.
  double ReplyTimeInUnit(const records::CaseRecord& record, int64_t answered_at_ms,
                         std::optional<sla::ReplyUnit> unit = std::nullopt) const;

 private:
  const NetworkConfig& config_;
};

}  // namespace aplus
