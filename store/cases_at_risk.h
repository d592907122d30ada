// Cases at risk: open cases past their SLA warning and not yet breached. One rule for the SLA
// report's `at_risk`, the gauge aplus_cases_at_risk and GetStats (docs/METRICS.md); the store
// keeps a count per partner up to date at every PutCase (store/KEY_LAYOUT.md, `at_risk/`), so
// that reading it costs nothing, whatever the number of cases.
#pragma once

#include "aplus.pb.h"

namespace aplus {

// Warned, not breached, not answered, neither closed nor cancelled. A case paused by a question
// (INFO_REQUESTED) stays at risk: its clock stands still, its window is still short.
bool IsAtRisk(const wire::CaseSummary& summary);

}  // namespace aplus
