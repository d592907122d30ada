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

std::string RenderWebhooks(const wire::WebhookList& list) {
  std::string text = "webhooks to " + list.url() + "\n";
  if (list.failing_since_ms() != 0) {
    text += "FAILING since " + FormatSecond(list.failing_since_ms()) + "\n";
  }
  if (list.webhooks().empty()) return text + "no webhooks\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& webhook : list.webhooks()) {
    std::string next = webhook.next_try_ms() ? FormatSecond(webhook.next_try_ms()) : "-";
    rows.push_back({webhook.id(), webhook.event_type(), webhook.state(),
                    std::to_string(webhook.attempts_size()), next});
    for (const auto& attempt : webhook.attempts()) {
      std::string outcome =
          attempt.error().empty() ? std::to_string(attempt.status_code()) : attempt.error();
      if (!attempt.error().empty() && attempt.status_code() != 0) {
        outcome = std::to_string(attempt.status_code()) + " " + attempt.error();
      }
      rows.push_back({"  " + FormatSecond(attempt.at_ms()), outcome, "", "",
                      attempt.next_try_ms() ? FormatSecond(attempt.next_try_ms()) : "-"});
    }
  }
  return text + RenderTable({"WEBHOOK / ATTEMPT", "EVENT / OUTCOME", "STATE", "ATTEMPTS",
                             "NEXT TRY"},
                            rows);
}

int RunPartnerWebhooks(const GlobalOptions& options, bool failed_only, uint32_t limit) {
  wire::Envelope request;
  request.mutable_list_webhooks()->set_failed_only(failed_only);
  request.mutable_list_webhooks()->set_limit(limit);
  auto answer = Exchange(options, options.partner_gateway, std::nullopt, std::move(request),
                         wire::Envelope::kWebhookList);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->webhook_list(), RenderWebhooks(answer->webhook_list()));
}

int RunPartnerRedeliverWebhooks(const GlobalOptions& options, const std::string& id,
                                bool all_failed) {
  if (id.empty() == !all_failed) {
    return ReportFailure(options, Status(wire::INVALID_ARGUMENT,
                                         "give a webhook id or --failed (one of them)"));
  }
  wire::Envelope request;
  request.mutable_redeliver_webhooks()->set_id(id);
  request.mutable_redeliver_webhooks()->set_failed(all_failed);
  auto answer = Exchange(options, options.partner_gateway, std::nullopt, std::move(request),
                         wire::Envelope::kWebhooksRedelivered);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->webhooks_redelivered(),
                     std::to_string(answer->webhooks_redelivered().count()) +
                         " webhook(s) back in line\n");
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
