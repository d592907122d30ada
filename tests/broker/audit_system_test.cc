// The audit log end to end, with the real broker and gateways: each access to a case's content
// is listed with its principal, role and time; retries that change nothing add nothing; a read
// is answered only once its entry is on disk; only the case's contact point and operators may
// read the log.
#include <doctest/doctest.h>

#include <cctype>

#include "common/case_id.h"
#include "common/clock.h"
#include "tests/support/audit_test_helpers.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";
const std::string kAgentPrincipal = "cp/mairie-perche-en-noce";
const std::string kPartnerPrincipal = "partner/france-travail";

std::vector<std::string> Actions(const std::vector<wire::AuditEntry>& entries) {
  std::vector<std::string> actions;
  for (const auto& entry : entries) actions.push_back(entry.action() + "/" + entry.detail());
  return actions;
}

std::vector<wire::AuditEntry> Audit(SyncClient& client, const std::string& case_id) {
  auto entries = AuditOf(client, case_id);
  REQUIRE_MESSAGE(entries.ok(), entries.status().ToString());
  return *entries;
}

std::string SubmitCase(SyncClient& agent, const std::string& key) {
  auto accepted = agent.CallOk(ConsentedSubmit("Dossier " + key, "Corps " + key, "Citoyen " + key, key), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  REQUIRE(accepted->has_accepted());
  return accepted->accepted().case_id();
}

wire::CaseState Updated(SyncClient& client, wire::Envelope request) {
  auto answer = client.CallOk(std::move(request), 5000);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  REQUIRE(answer->has_case_updated());
  return answer->case_updated().state();
}

wire::Envelope CloseRequest(const std::string& case_id, const std::string& key) {
  wire::Envelope envelope;
  envelope.mutable_close_case()->set_case_id(case_id);
  envelope.mutable_close_case()->set_idempotency_key(key);
  return envelope;
}

wire::Envelope CancelRequest(const std::string& case_id, const std::string& reason,
                             const std::string& key) {
  wire::Envelope envelope;
  envelope.mutable_cancel_case()->set_case_id(case_id);
  envelope.mutable_cancel_case()->set_reason(reason);
  envelope.mutable_cancel_case()->set_idempotency_key(key);
  return envelope;
}

}  // namespace

TEST_CASE("the audit log lists each access through the real gateways, with principal, role and time") {
  TestNetwork network("audit-gateways");
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartAgentGateway(kContactPoint));
  REQUIRE(network.StartPartnerGateway("france-travail"));
  auto agent_local = network.AgentClient();
  auto partner_local = network.PartnerClient();
  auto op = network.BrokerClient(wire::OPERATOR, "operator");

  const std::string subject = "Allocation suspendue Martin";
  const std::string body = "Versement interrompu depuis octobre, 12 rue des Lilas";
  const std::string citizen = "Jeanne Martin";
  const std::string note = "pris en charge par Paul";
  const std::string reply = "Dossier regularise, versement le 5";
  int64_t started = SystemClock().NowMs();
  auto accepted = agent_local->CallOk(ConsentedSubmit(subject, body, citizen, "audit-submit"), 10000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  REQUIRE(accepted->has_accepted());
  REQUIRE(accepted->accepted().state() == wire::SUBMITTED);
  const std::string case_id = accepted->accepted().case_id();

  // The partner gateway stores the escalation and acknowledges its delivery: the content has
  // changed hands.
  REQUIRE(WaitUntil(
      [&] {
        auto entries = AuditOf(*op, case_id);
        return entries.ok() && !EntriesOf(*entries, "deliver").empty();
      },
      15000, 50));
  CHECK(Updated(*partner_local, AcknowledgeRequest(case_id, note, "audit-ack")) == wire::ACKNOWLEDGED);
  CHECK(Updated(*partner_local, ReplyRequest(case_id, reply, "audit-reply")) == wire::ANSWERED);
  // The partner's systems retry the reply (same key): the first answer again, nothing new.
  CHECK(Updated(*partner_local, ReplyRequest(case_id, reply, "audit-reply")) == wire::ANSWERED);

  // The agent reads the case through its gateway (content), an operator through the broker
  // (metadata only).
  auto agent_view = GetCaseView(*agent_local, case_id);
  REQUIRE_MESSAGE(agent_view.ok(), agent_view.status().ToString());
  CHECK_FALSE(agent_view->from_local_cache());
  CHECK(agent_view->citizen_name() == citizen);
  auto operator_view = GetCaseView(*op, case_id);
  REQUIRE_MESSAGE(operator_view.ok(), operator_view.status().ToString());
  CHECK(operator_view->body().empty());
  int64_t finished = SystemClock().NowMs();

  auto entries = Audit(*op, case_id);
  INFO(DescribeAudit(entries));
  CHECK(Actions(entries) == std::vector<std::string>{"submit/to france-travail", "deliver/attempt 1",
                                                     "acknowledge/ACKNOWLEDGED", "reply/ANSWERED",
                                                     "read/content", "read/metadata"});
  REQUIRE(entries.size() == 6);
  std::vector<std::pair<std::string, wire::Role>> who = {
      {kAgentPrincipal, wire::AGENT_GATEWAY},     {kPartnerPrincipal, wire::PARTNER_GATEWAY},
      {kPartnerPrincipal, wire::PARTNER_GATEWAY}, {kPartnerPrincipal, wire::PARTNER_GATEWAY},
      {kAgentPrincipal, wire::AGENT_GATEWAY},     {"op/operator", wire::OPERATOR}};
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& entry = entries[i];
    CHECK(entry.case_id() == case_id);
    CHECK(entry.principal() == who[i].first);
    CHECK(entry.role() == who[i].second);
    CHECK(entry.at_ms() >= started);
    CHECK(entry.at_ms() <= finished);
    if (i > 0) {
      CHECK(entry.sequence() > entries[i - 1].sequence());
      CHECK(entry.at_ms() >= entries[i - 1].at_ms());
    }
    // Never personal data in an entry.
    for (const auto& text : {subject, body, citizen, note, reply}) {
      CHECK(entry.SerializeAsString().find(text) == std::string::npos);
    }
  }

  // The contact point reads the same log through its gateway; reading the log is not itself
  // recorded.
  auto through_gateway = AuditOf(*agent_local, case_id);
  REQUIRE_MESSAGE(through_gateway.ok(), through_gateway.status().ToString());
  CHECK(Actions(*through_gateway) == Actions(entries));
  CHECK(Audit(*op, case_id).size() == entries.size());
}

TEST_CASE("who may read the audit log: the case's contact point and operators, not partners") {
  auto network = StartNetwork("audit-access");
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto other_agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-berdhuis");
  auto partner = network->BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  auto op = network->BrokerClient(wire::OPERATOR, "operator");
  const std::string case_id = SubmitCase(*agent, "access-1");

  CHECK(Audit(*agent, case_id).size() == 1);
  // Typed by a person: lower case, no hyphens.
  std::string typed = case_id;
  for (char& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  CHECK(Audit(*op, typed).size() == 1);

  auto denied = AuditOf(*partner, case_id);
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.status().code() == wire::PERMISSION_DENIED);
  CHECK(network->broker().Log().find("refused request") != std::string::npos);

  // Another contact point learns nothing about the case (refused as a read would be).
  auto elsewhere = AuditOf(*other_agent, case_id);
  REQUIRE_FALSE(elsewhere.ok());
  CHECK((elsewhere.status().code() == wire::UNKNOWN_CASE ||
         elsewhere.status().code() == wire::PERMISSION_DENIED));

  for (const std::string& unknown : {FormatCaseId("PER", 999999), std::string("nonsense"), std::string()}) {
    auto missing = AuditOf(*op, unknown);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().code() == wire::UNKNOWN_CASE);
  }
  // None of this was recorded.
  CHECK(Audit(*op, case_id).size() == 1);
}

TEST_CASE("questions, answers, transfers, cancels and closes are recorded once, retries are not") {
  auto network = StartNetwork("audit-lifecycle");
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto partner = network->BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  auto caf = network->BrokerClient(wire::PARTNER_GATEWAY, "caf", "perche");
  auto op = network->BrokerClient(wire::OPERATOR, "operator");

  const std::string transferred = SubmitCase(*agent, "life-1");
  // A retried submission (same key) is the same case and adds nothing.
  CHECK(SubmitCase(*agent, "life-1") == transferred);
  CHECK(Updated(*partner, AskInfoRequest(transferred, "Numero d'allocataire ?", "ask-1")) ==
        wire::INFO_REQUESTED);
  CHECK(Updated(*agent, AnswerInfoRequest(transferred, "Numero 1234567", "answer-1")) ==
        wire::ACKNOWLEDGED);
  CHECK(Updated(*partner, TransferRequest(transferred, "caf", "Relève de la CAF", "transfer-1")) ==
        wire::TRANSFERRED);
  CHECK(Updated(*partner, TransferRequest(transferred, "caf", "Relève de la CAF", "transfer-1")) ==
        wire::TRANSFERRED);
  CHECK(Updated(*caf, AcknowledgeRequest(transferred, "", "caf-ack")) == wire::ACKNOWLEDGED);
  CHECK(Updated(*agent, CancelRequest(transferred, "Le citoyen a trouve", "cancel-1")) == wire::CANCELLED);
  CHECK(Updated(*agent, CancelRequest(transferred, "Le citoyen a trouve", "cancel-1")) == wire::CANCELLED);

  auto entries = Audit(*op, transferred);
  INFO(DescribeAudit(entries));
  CHECK(Actions(entries) ==
        std::vector<std::string>{"submit/to france-travail", "ask/INFO_REQUESTED",
                                 "answer/ACKNOWLEDGED", "transfer/from france-travail to caf",
                                 "acknowledge/ACKNOWLEDGED", "cancel/CANCELLED"});
  REQUIRE(entries.size() == 6);
  CHECK(entries[1].principal() == kPartnerPrincipal);
  CHECK(entries[2].principal() == kAgentPrincipal);
  CHECK(entries[3].principal() == kPartnerPrincipal);
  CHECK(entries[4].principal() == "partner/caf");

  const std::string closed = SubmitCase(*agent, "life-2");
  CHECK(Updated(*partner, ReplyRequest(closed, "Fait", "reply-2")) == wire::ANSWERED);
  CHECK(Updated(*agent, CloseRequest(closed, "close-2")) == wire::CLOSED);
  CHECK(Updated(*agent, CloseRequest(closed, "close-2")) == wire::CLOSED);
  // A refused request (the lifecycle forbids it) changes nothing and records nothing.
  auto refused = agent->CallOk(CancelRequest(closed, "trop tard", "cancel-2"), 5000);
  CHECK(refused.status().code() == wire::INVALID_TRANSITION);
  CHECK(Actions(Audit(*op, closed)) ==
        std::vector<std::string>{"submit/to france-travail", "reply/ANSWERED", "close/CLOSED"});
  // Each case's log holds only its own entries.
  for (const auto& entry : Audit(*op, closed)) CHECK(entry.case_id() == closed);
}

TEST_CASE("a read is answered only once its audit entry is on disk: SIGKILL right after it") {
  auto network = StartNetwork("audit-durable-read");
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  const std::string case_id = SubmitCase(*agent, "durable-1");
  for (int i = 0; i < 3; ++i) {
    auto view = GetCaseView(*agent, case_id);
    REQUIRE_MESSAGE(view.ok(), view.status().ToString());
  }
  // No grace period: the broker dies the moment the third answer arrived.
  REQUIRE(RestartBroker(*network));
  auto op = network->BrokerClient(wire::OPERATOR, "operator");
  auto entries = Audit(*op, case_id);
  INFO(DescribeAudit(entries));
  CHECK(EntriesOf(entries, "read", kAgentPrincipal).size() == 3);
  // Sequences go on after the restart, never reused.
  uint64_t last = entries.back().sequence();
  REQUIRE(GetCaseView(*agent, case_id).ok());
  auto after = Audit(*op, case_id);
  REQUIRE(after.size() == entries.size() + 1);
  CHECK(after.back().sequence() > last);
}
