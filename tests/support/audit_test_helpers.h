// Test support for the audit log and retention: submissions that carry the citizen's consent,
// reading a case's audit log, and finding entries in it.
//
// Thread rules: free functions; a SyncClient passed in must be used by one thread at a time.
#pragma once

#include <string>
#include <vector>

#include "common/sync_client.h"
#include "tests/support/network.h"

namespace aplus::testing {

// A Submit with every free-text field chosen by the test, and the citizen's consent.
inline wire::Envelope ConsentedSubmit(const std::string& subject, const std::string& body,
                                      const std::string& citizen, const std::string& key = "") {
  wire::Envelope request = SubmitRequest(subject, key);
  request.mutable_submit()->set_body(body);
  request.mutable_submit()->set_citizen_name(citizen);
  return request;
}

inline wire::Envelope AuditRequest(const std::string& case_id) {
  wire::Envelope envelope;
  envelope.mutable_get_audit()->set_case_id(case_id);
  return envelope;
}

// The case's audit log as `client`'s principal may read it, or the error.
inline Result<std::vector<wire::AuditEntry>> AuditOf(SyncClient& client, const std::string& case_id,
                                                     int timeout_ms = 5000) {
  auto answer = client.CallOk(AuditRequest(case_id), timeout_ms);
  if (!answer.ok()) return answer.status();
  if (!answer->has_audit_log()) return Status(wire::INTERNAL, "GetAudit answered " + BodyName(*answer));
  return std::vector<wire::AuditEntry>(answer->audit_log().entries().begin(),
                                       answer->audit_log().entries().end());
}

// The entries with `action` (and `principal`, when given).
inline std::vector<wire::AuditEntry> EntriesOf(const std::vector<wire::AuditEntry>& entries,
                                               const std::string& action,
                                               const std::string& principal = "") {
  std::vector<wire::AuditEntry> found;
  for (const auto& entry : entries) {
    if (entry.action() == action && (principal.empty() || entry.principal() == principal)) {
      found.push_back(entry);
    }
  }
  return found;
}

// "submit by cp/x (content); ..." for failure messages.
inline std::string DescribeAudit(const std::vector<wire::AuditEntry>& entries) {
  std::string out;
  for (const auto& entry : entries) {
    out += "#" + std::to_string(entry.sequence()) + " " + entry.action() + " by " +
           entry.principal() + " (" + entry.detail() + "); ";
  }
  return out;
}

}  // namespace aplus::testing
