// The audit log: who read or changed each case's content, and when. One entry per access,
// appended to the `audit` family in the same batch as the access's effect, so a change is never
// stored without its entry, and a read is answered only once its entry is on disk (read answers
// wait for the commit). The log is kept apart from case data and the retention purge never
// touches it.
//
// What is recorded (action, detail): read (content / metadata: whether the answer carried the
// body, the citizen or the reply), submit, deliver (the partner gateway acknowledged storing
// the escalation: the content changed hands), acknowledge, reply, ask, answer, transfer (one
// entry naming both partners), close, cancel, and erase-personal-data by "broker". A retried
// request answered from its idempotency record changes nothing and adds nothing. Details are
// ids and states, never the texts themselves.
//
// Reading the audit log is not itself recorded: it reveals no case content, and recording it
// would make every audit read grow the log it reads.
#include "broker/broker.h"
#include "broker/request_support.h"

namespace aplus {

void Broker::Audit(const Session& session, const std::string& case_id, const std::string& action,
                   const std::string& detail) {
  AuditAs(session.role, session.DedupPrincipal(), case_id, action, detail);
}

void Broker::AuditAs(wire::Role role, const std::string& principal, const std::string& case_id,
                     const std::string& action, const std::string& detail) {
  wire::AuditEntry entry;
  entry.set_at_ms(clock_.NowMs());
  entry.set_case_id(case_id);
  entry.set_role(role);
  entry.set_principal(principal);
  entry.set_action(action);
  entry.set_detail(detail);
  store_->AppendAudit(std::move(entry));
}

void Broker::OnGetAudit(Session& session, const wire::Envelope& request) {
  // The case's own contact point (the citizen's right of access goes through it) and the
  // operators; partners never (the table's row refuses them).
  auto record = LoadCaseFor(session, request.get_audit().case_id());
  if (!record.ok()) return AnswerError(session.routing_id, request.request_id(), record.status());
  const std::string& case_id = record->summary().case_id();
  auto entries = store_->GetAudit(case_id);
  if (!entries.ok()) return AnswerError(session.routing_id, request.request_id(), entries.status());
  wire::Envelope answer = AnswerTo(request);
  auto* log = answer.mutable_audit_log();
  log->set_case_id(case_id);
  for (auto& entry : *entries) *log->add_entries() = std::move(entry);
  // Entries of this very batch are in the answer: it leaves only after the commit.
  Answer(session.routing_id, std::move(answer));
}

}  // namespace aplus
