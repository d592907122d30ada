// `aplus report`: per-partner SLA figures from the broker (GetReport, operator session).
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
};

// Local midnight (Europe/Paris) starting `date` ("YYYY-MM-DD"), plus `days_after` days, in unix
// ms; INVALID_ARGUMENT for anything but a real date.
Result<int64_t> ParisMidnightMs(std::string_view date, int days_after = 0);

// The GetReport for `args`: INVALID_ARGUMENT for a bad date or an empty period.
Result<wire::GetReport> MakeReportRequest(const ReportArgs& args);

// One row per partner: received, answered, on time (%), median and p90 reply time with the
// unit, open, at risk, breached.
std::string RenderReport(const wire::Report& report);

// Prints the report (human table or one Report JSON object); exit code (2 for a bad date).
int RunReport(const GlobalOptions& options, const ReportArgs& args);

}  // namespace aplus::cli
