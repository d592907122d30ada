// `aplus report`: per-partner (or per-contact-point) SLA figures from the broker (GetReport,
// operator session), and `aplus sla-board`: the open cases to watch (GetSlaBoard).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "aplus.pb.h"
#include "common/status.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

struct ReportArgs {
  std::string from;  // "YYYY-MM-DD": cases submitted from local midnight (Europe/Paris); "" = ever
  std::string to;    // "YYYY-MM-DD", inclusive: up to the next day's midnight; "" = now
  std::string partner;
  std::string territory;
  std::string by = "partner";  // "partner" | "contact-point" (GetReport.group_by)
};

struct SlaBoardArgs {
  std::string partner;
  std::string territory;
  double horizon_hours = 0;  // 0 = one working day of each case's partner's calendar
  uint32_t limit = 0;        // per list; 0 = the broker's default (100)
};

// Local midnight (Europe/Paris) starting `date` ("YYYY-MM-DD"), plus `days_after` days, in unix
// ms; INVALID_ARGUMENT for anything but a real date.
Result<int64_t> ParisMidnightMs(std::string_view date, int days_after = 0);

// The GetReport for `args`: INVALID_ARGUMENT for a bad date or an empty period.
Result<wire::GetReport> MakeReportRequest(const ReportArgs& args);

// One row per partner (or contact point): received, answered, on time (%), median and p90
// reply time with the unit, open, at risk, breached; then, when any case was answered, the
// reply-time distribution: one table per unit, a column per bucket ("<=2", ..., ">8").
std::string RenderReport(const wire::Report& report);

// Prints the report (human table or one Report JSON object); exit code (2 for a bad date).
int RunReport(const GlobalOptions& options, const ReportArgs& args);

// The GetSlaBoard for `args`: INVALID_ARGUMENT for a negative horizon.
Result<wire::GetSlaBoard> MakeSlaBoardRequest(const SlaBoardArgs& args);

// Three sections (breached, at risk, due soon), each a table by deadline, soonest first: case,
// partner, territory, contact point, state, deadline (Europe/Paris).
std::string RenderSlaBoard(const wire::SlaBoard& board);

// Prints the board (human tables or one SlaBoard JSON object); exit code.
int RunSlaBoard(const GlobalOptions& options, const SlaBoardArgs& args);

}  // namespace aplus::cli
