#include "tools/aplus/partner_commands.h"

#include "tools/aplus/agent_commands.h"
#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

constexpr size_t kInboxSubjectWidth = 40;

}  // namespace

std::string RenderInbox(const wire::Inbox& inbox) {
  std::string outbox =
      inbox.outbox().empty()
          ? ""
          : "\nHeld by the partner gateway (`aplus partner retry|discard REF` for "
            "FAILED_LOCALLY):\n" +
                RenderLocalEntries(inbox.outbox());
  if (inbox.escalations().empty()) return "inbox empty\n" + outbox;
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < inbox.escalations_size(); ++i) {
    const auto& escalation = inbox.escalations(i);
    // `states` is parallel to `escalations`, but a short list must not crash the display.
    wire::CaseState state = i < inbox.states_size() ? inbox.states(i) : wire::STATE_UNSPECIFIED;
    rows.push_back({escalation.case_id(), StateName(state), escalation.contact_point(),
                    escalation.category(), Truncate(escalation.subject(), kInboxSubjectWidth),
                    FormatMinute(escalation.deadline_ms())});
  }
  return RenderTable({"CASE", "STATE", "CONTACT POINT", "CATEGORY", "SUBJECT", "DEADLINE"}, rows) +
         outbox;
}

int RunPartnerInbox(const GlobalOptions& options, uint32_t limit) {
  wire::Envelope request;
  request.mutable_get_inbox()->set_limit(limit);
  auto answer = Exchange(options, options.partner_gateway, std::nullopt, std::move(request),
                         wire::Envelope::kInbox);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->inbox(), RenderInbox(answer->inbox()));
}

int RunPartnerAck(const GlobalOptions& options, const std::string& case_ref,
                  const std::string& note, const std::string& idempotency_key) {
  wire::Envelope request;
  auto* ack = request.mutable_acknowledge_case();
  ack->set_case_id(CaseRef(case_ref));
  ack->set_note(note);
  ack->set_idempotency_key(IdempotencyKeyOr(idempotency_key));
  return RunCaseUpdate(options, options.partner_gateway, std::move(request), "partner gateway");
}

int RunPartnerReply(const GlobalOptions& options, const std::string& case_ref,
                    const std::string& text, const std::string& idempotency_key) {
  wire::Envelope request;
  auto* reply = request.mutable_reply_case();
  reply->set_case_id(CaseRef(case_ref));
  reply->set_text(text);
  reply->set_idempotency_key(IdempotencyKeyOr(idempotency_key));
  return RunCaseUpdate(options, options.partner_gateway, std::move(request), "partner gateway");
}

int RunPartnerAsk(const GlobalOptions& options, const std::string& case_ref,
                  const std::string& question, const std::string& idempotency_key) {
  wire::Envelope request;
  auto* ask = request.mutable_ask_info();
  ask->set_case_id(CaseRef(case_ref));
  ask->set_question(question);
  ask->set_idempotency_key(IdempotencyKeyOr(idempotency_key));
  return RunCaseUpdate(options, options.partner_gateway, std::move(request), "partner gateway");
}

int RunPartnerTransfer(const GlobalOptions& options, const std::string& case_ref,
                       const std::string& to_partner, const std::string& reason,
                       const std::string& idempotency_key) {
  wire::Envelope request;
  auto* transfer = request.mutable_transfer_case();
  transfer->set_case_id(CaseRef(case_ref));
  transfer->set_to_partner(to_partner);
  transfer->set_reason(reason);
  transfer->set_idempotency_key(IdempotencyKeyOr(idempotency_key));
  return RunCaseUpdate(options, options.partner_gateway, std::move(request), "partner gateway");
}

}  // namespace aplus::cli
