#include "tools/aplus/audit_command.h"

#include <vector>

#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

std::string AuditRoleLabel(wire::Role role) {
  switch (role) {
    case wire::AGENT_GATEWAY: return "contact point";
    case wire::PARTNER_GATEWAY: return "partner";
    case wire::OPERATOR: return "operator";
    case wire::ADMINISTRATOR: return "administrator";
    case wire::CONSOLE: return "console";
    default: return "-";  // the broker's own actions (retention)
  }
}

}  // namespace

std::string RenderAuditLog(const wire::AuditLog& log) {
  std::string out = "Audit log of " + log.case_id() + " (" + kDisplayTimeZone + ")\n";
  if (log.entries().empty()) return out + "  (no entries)\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : log.entries()) {
    rows.push_back({std::to_string(entry.sequence()), FormatSecond(entry.at_ms()),
                    OneLine(entry.principal()), AuditRoleLabel(entry.role()),
                    OneLine(entry.action()),
                    entry.detail().empty() ? "-" : Truncate(entry.detail(), 60)});
  }
  return out + RenderTable({"SEQ", "WHEN", "WHO", "ROLE", "ACTION", "DETAIL"}, rows,
                           {true, false, false, false, false, false});
}

int RunAudit(const GlobalOptions& options, const std::string& case_ref, bool via_agent_gateway) {
  wire::Envelope request;
  request.mutable_get_audit()->set_case_id(CaseRef(case_ref));
  auto answer = via_agent_gateway
                    ? Exchange(options, options.agent_gateway, std::nullopt, std::move(request),
                               wire::Envelope::kAuditLog)
                    : Exchange(options, options.broker, OperatorHello(options), std::move(request),
                               wire::Envelope::kAuditLog);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->audit_log(), RenderAuditLog(answer->audit_log()));
}

}  // namespace aplus::cli
