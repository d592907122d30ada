#include "broker/request_table.h"

#include <algorithm>
#include <array>
#include <vector>

#include "broker/broker.h"
#include "common/case_id.h"
#include "store/key_layout.h"

// Rows name only what differs from RequestRule's defaults (designated initializers); GCC's
// -Wextra would flag every omitted field.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace aplus {

// A friend of Broker: the rows name its private handlers.
std::span<const RequestRule> RequestRules() {
  using Body = wire::Envelope::BodyCase;
  using E = wire::Envelope;
  // Field readers: how each request's case id and idempotency key are read.
  static const RequestRule::FieldReader kCloseId = [](const E& e) -> const std::string& {
    return e.close_case().case_id();
  };
  static const std::vector<RequestRule> kRules = [] {
    std::vector<RequestRule> rules = {
        {.body = Body::kHello,
         .on_connection = &Broker::OnHello,
         .roles = kEveryRole},
        {.body = Body::kSubmit,
         .on_session = &Broker::OnSubmit,
         .roles = kAgentGatewayOnly,
         .denied = "only an agent gateway may submit",
         .after_commit = true,
         .idempotency_key = [](const E& e) -> const std::string& { return e.submit().idempotency_key(); },
         .scope = keys::kScopeSubmit},
        {.body = Body::kGetCase,
         .on_session = &Broker::OnGetCase,
         .roles = kEveryRole,  // LoadCaseFor decides which cases
         .after_commit = true,  // the read is audited
         .case_id = [](const E& e) -> const std::string& { return e.get_case().case_id(); }},
        {.body = Body::kListCases,
         .on_session = &Broker::OnListCases,
         .roles = kAgentGatewayOnly,
         .denied = "only an agent gateway lists its cases",
         .after_commit = true},  // the listing is audited
        {.body = Body::kCloseCase,
         .on_session = &Broker::OnCloseOrCancel,
         .roles = kAgentGatewayOnly,
         .denied = "only the contact point's gateway may close or cancel",
         .after_commit = true,
         .case_id = kCloseId,
         .idempotency_key = [](const E& e) -> const std::string& { return e.close_case().idempotency_key(); },
         .scope = keys::kScopeCloseCase},
        {.body = Body::kCancelCase,
         .on_session = &Broker::OnCloseOrCancel,
         .roles = kAgentGatewayOnly,
         .denied = "only the contact point's gateway may close or cancel",
         .after_commit = true,
         .case_id = [](const E& e) -> const std::string& { return e.cancel_case().case_id(); },
         .idempotency_key = [](const E& e) -> const std::string& { return e.cancel_case().idempotency_key(); },
         .scope = keys::kScopeCancelCase},
        {.body = Body::kAcknowledgeCase,
         .on_session = &Broker::OnAcknowledgeOrReply,
         .roles = kPartnerGatewayOnly,
         .denied = "only the partner's gateway may do this",
         .after_commit = true,
         .case_id = [](const E& e) -> const std::string& { return e.acknowledge_case().case_id(); },
         .idempotency_key = [](const E& e) -> const std::string& { return e.acknowledge_case().idempotency_key(); },
         .scope = keys::kScopeAcknowledgeCase},
        {.body = Body::kReplyCase,
         .on_session = &Broker::OnAcknowledgeOrReply,
         .roles = kPartnerGatewayOnly,
         .denied = "only the partner's gateway may do this",
         .after_commit = true,
         .case_id = [](const E& e) -> const std::string& { return e.reply_case().case_id(); },
         .idempotency_key = [](const E& e) -> const std::string& { return e.reply_case().idempotency_key(); },
         .scope = keys::kScopeReplyCase},
        {.body = Body::kAskInfo,
         .on_session = &Broker::OnAskInfo,
         .roles = kPartnerGatewayOnly,
         .denied = "only the partner's gateway may ask",
         .after_commit = true,
         .case_id = [](const E& e) -> const std::string& { return e.ask_info().case_id(); },
         .idempotency_key = [](const E& e) -> const std::string& { return e.ask_info().idempotency_key(); },
         .scope = keys::kScopeAskInfo},
        {.body = Body::kAnswerInfo,
         .on_session = &Broker::OnAnswerInfo,
         .roles = kAgentGatewayOnly,
         .denied = "only the contact point's gateway may answer",
         .after_commit = true,
         .case_id = [](const E& e) -> const std::string& { return e.answer_info().case_id(); },
         .idempotency_key = [](const E& e) -> const std::string& { return e.answer_info().idempotency_key(); },
         .scope = keys::kScopeAnswerInfo},
        {.body = Body::kTransferCase,
         .on_session = &Broker::OnTransfer,
         .roles = kPartnerGatewayOnly,
         .denied = "only the partner's gateway may transfer",
         .after_commit = true,
         .case_id = [](const E& e) -> const std::string& { return e.transfer_case().case_id(); },
         .idempotency_key = [](const E& e) -> const std::string& { return e.transfer_case().idempotency_key(); },
         .scope = keys::kScopeTransferCase},
        {.body = Body::kSubscribe,
         .on_session = &Broker::OnSubscribe,
         .roles = kGateways,
         .denied = "only gateways take deliveries"},
        {.body = Body::kDeliveryAck,
         .on_session = &Broker::OnDeliveryAck,
         .roles = kGateways,
         .denied = "only gateways take deliveries",
         .rate_limited = false},
        {.body = Body::kGetStats,
         .on_session = &Broker::OnGetStats,
         .roles = kOperators,
         .denied = "statistics are for operators",
         .after_commit = true},
        {.body = Body::kListAlerts,
         .on_session = &Broker::OnListAlerts,
         .roles = kOperators,
         .denied = "alerts are for operators",
         .after_commit = true},
        {.body = Body::kAckAlert,
         .on_session = &Broker::OnAckAlert,
         .roles = kOperators,
         .denied = "alerts are acknowledged by operators",
         .after_commit = true},
        {.body = Body::kGetReport,
         .on_session = &Broker::OnGetReport,
         .roles = kOperators,
         .denied = "reports are for operators",
         .after_commit = true},
        {.body = Body::kGetSlaBoard,
         .on_session = &Broker::OnGetSlaBoard,
         .roles = kOperators,
         .denied = "the SLA board is for operators",
         // Metadata only: not audited as a read. After the commit as reports are, so that it
         // never shows a state a failed commit would take back.
         .after_commit = true},
        {.body = Body::kPing,
         .on_connection = &Broker::OnPing,
         .roles = kEveryRole,
         .rate_limited = false},
        {.body = Body::kExplainDeadline,
         .on_session = &Broker::OnExplainDeadline,
         .roles = kEveryRole},  // a computation on the network's config; no case is read
        {.body = Body::kGetAudit,
         .on_session = &Broker::OnGetAudit,
         .roles = {wire::AGENT_GATEWAY, wire::OPERATOR, wire::ADMINISTRATOR},
         .denied = "the audit log is for the case's contact point and operators",
         .after_commit = true,  // entries of this very batch are in the answer
         .case_id = [](const E& e) -> const std::string& { return e.get_audit().case_id(); }},
        {.body = Body::kListDeadLetters,
         .on_session = &Broker::OnListDeadLetters,
         .roles = kOperators,
         .denied = "dead letters are for operators",
         .after_commit = true},  // it may show this batch's parking
        {.body = Body::kRequeueDeadLetters,
         .on_session = &Broker::OnRequeueDeadLetters,
         .roles = kOperators,
         .denied = "dead letters are requeued by operators",
         .after_commit = true,
         .case_id = [](const E& e) -> const std::string& { return e.requeue_dead_letters().case_id(); },
         // The handler scopes by partner too (a requeue of a partner's queues has no case id).
         .idempotency_key = [](const E& e) -> const std::string& { return e.requeue_dead_letters().idempotency_key(); },
         .scope = keys::kScopeRequeueDeadLetters},
    };
    std::sort(rules.begin(), rules.end(),
              [](const RequestRule& a, const RequestRule& b) { return a.body < b.body; });
    return rules;
  }();
  return kRules;
}

const RequestRule* FindRequestRule(wire::Envelope::BodyCase body) {
  // Indexed by body case (field numbers are small): one array read per request.
  static const auto kIndex = [] {
    std::array<const RequestRule*, 256> index{};
    for (const RequestRule& rule : RequestRules()) {
      if (rule.body > 0 && static_cast<size_t>(rule.body) < index.size()) index[rule.body] = &rule;
    }
    return index;
  }();
  size_t at = static_cast<size_t>(body);
  return at < kIndex.size() ? kIndex[at] : nullptr;
}

std::optional<std::string> IdempotencyScopeOf(const wire::Envelope& request) {
  const RequestRule* rule = FindRequestRule(request.body_case());
  if (!rule || !rule->idempotency_key) return std::nullopt;
  const std::string& key = rule->idempotency_key(request);
  if (key.empty()) return std::nullopt;
  std::string case_id;
  if (rule->case_id) {
    case_id = rule->case_id(request);
    if (auto normalized = NormalizeCaseId(case_id)) case_id = *normalized;
  }
  return keys::ScopedIdempotencyKey(rule->scope, case_id, key);
}

}  // namespace aplus
