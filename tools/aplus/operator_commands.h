// `aplus stats`: the broker's counters, read by an operator session
// (OperatorHello: the CURVE key says who the operator is).
#pragma once

#include "aplus.pb.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

// Prints the stats (human text or one JSON object) and returns the process exit code.
int RunStats(const GlobalOptions& options);

// Cases by state (lifecycle order), then one line per queue, then the totals.
std::string RenderStats(const wire::Stats& stats);

}  // namespace aplus::cli
