// `aplus audit CASE`: who read or changed the case's content, and when (GetAudit). By default
// through an operator session at the broker (OperatorHello: the CURVE key says who asks);
// with --via-agent-gateway through the contact point's agent
// gateway, which may read the log of its own cases only (a citizen's right of access).
#pragma once

#include <string>

#include "aplus.pb.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

// One row per entry in log order: sequence, local time, principal, role, action, detail.
std::string RenderAuditLog(const wire::AuditLog& log);

// Prints the log (human table or one AuditLog JSON object); returns the exit code.
int RunAudit(const GlobalOptions& options, const std::string& case_ref, bool via_agent_gateway);

}  // namespace aplus::cli
