// `aplus stats` and `aplus case`: the broker's counters and one case, read by an operator
// session (OperatorHello: the CURVE key says who the operator is).
#pragma once

#include <string>

#include "aplus.pb.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

// Prints the stats (human text or one JSON object) and returns the process exit code.
int RunStats(const GlobalOptions& options);

// GetCase to the broker (--broker) with the operator's key: the case's header, SLA fields and
// timeline, rendered as `aplus status` does. The broker withholds personal data from operators
// and shows it to administrators (each such read is audited).
int RunCase(const GlobalOptions& options, const std::string& case_ref);

// Cases by state (lifecycle order), then one line per queue, then the totals.
std::string RenderStats(const wire::Stats& stats);

}  // namespace aplus::cli
