// The broker alone, as a real process, driven by clients that play the gateways.
#include <doctest/doctest.h>

#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

// Waits for the next Delivery pushed to `client`.
std::optional<wire::Delivery> NextDelivery(SyncClient& client, int timeout_ms = 5000) {
  auto envelope = client.Receive(timeout_ms);
  while (envelope && !envelope->has_delivery()) envelope = client.Receive(timeout_ms);
  if (!envelope) return std::nullopt;
  return envelope->delivery();
}

wire::Envelope Subscribe(uint32_t window) {
  wire::Envelope envelope;
  envelope.mutable_subscribe()->set_window(window);
  return envelope;
}

void Ack(SyncClient& client, const wire::Delivery& delivery) {
  wire::Envelope envelope;
  envelope.mutable_delivery_ack()->set_queue(delivery.queue());
  envelope.mutable_delivery_ack()->add_delivery_ids(delivery.delivery_id());
  REQUIRE(client.Send(envelope).ok());
}

}  // namespace

TEST_CASE("a submission travels to the partner and the reply comes back to the contact point") {
  TestNetwork network("broker-protocol");
  REQUIRE(network.StartBroker());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");

  auto accepted = agent->CallOk(SubmitRequest("Allocation suspendue", "key-1"), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  REQUIRE(accepted->has_accepted());
  std::string case_id = accepted->accepted().case_id();
  CHECK(case_id.rfind("PER-", 0) == 0);
  CHECK(case_id.size() == 13);
  CHECK(accepted->accepted().state() == wire::SUBMITTED);
  CHECK(accepted->accepted().deadline_ms() > 0);

  REQUIRE(partner->CallOk(Subscribe(8), 5000).ok());
  auto delivery = NextDelivery(*partner);
  REQUIRE(delivery);
  CHECK(delivery->queue() == "partner/france-travail");
  CHECK(delivery->attempt() == 1);
  CHECK(delivery->escalation().case_id() == case_id);
  CHECK(delivery->escalation().contact_point() == "mairie-perche-en-noce");
  CHECK(delivery->escalation().citizen_name() == "Jeanne Martin");
  Ack(*partner, *delivery);

  wire::Envelope acknowledge;
  acknowledge.mutable_acknowledge_case()->set_case_id(case_id);
  acknowledge.mutable_acknowledge_case()->set_note("pris en charge");
  auto acked = partner->CallOk(acknowledge, 5000);
  REQUIRE_MESSAGE(acked.ok(), acked.status().ToString());
  CHECK(acked->case_updated().state() == wire::ACKNOWLEDGED);

  wire::Envelope reply;
  reply.mutable_reply_case()->set_case_id(case_id);
  reply.mutable_reply_case()->set_text("Dossier régularisé, versement le 5.");
  auto replied = partner->CallOk(reply, 5000);
  REQUIRE(replied.ok());
  CHECK(replied->case_updated().state() == wire::ANSWERED);

  // The contact point's mailbox: the acknowledgement, then the reply.
  REQUIRE(agent->CallOk(Subscribe(8), 5000).ok());
  auto first = NextDelivery(*agent);
  REQUIRE(first);
  CHECK(first->queue() == "mailbox/mairie-perche-en-noce");
  CHECK(first->mail().kind() == wire::MailItem::ACKNOWLEDGED);
  Ack(*agent, *first);
  auto second = NextDelivery(*agent);
  REQUIRE(second);
  CHECK(second->mail().kind() == wire::MailItem::REPLY);
  CHECK(second->mail().text() == "Dossier régularisé, versement le 5.");
  Ack(*agent, *second);

  wire::Envelope close;
  close.mutable_close_case()->set_case_id(case_id);
  auto closed = agent->CallOk(close, 5000);
  REQUIRE(closed.ok());
  CHECK(closed->case_updated().state() == wire::CLOSED);

  auto view = agent->CallOk(GetCaseRequest(case_id), 5000);
  REQUIRE(view.ok());
  const auto& timeline = view->case_view().timeline();
  REQUIRE(timeline.size() == 5);
  CHECK(timeline[0].kind() == "SUBMITTED");
  CHECK(timeline[1].kind() == "DELIVERED");
  CHECK(timeline[2].kind() == "ACKNOWLEDGED");
  CHECK(timeline[3].kind() == "ANSWERED");
  CHECK(timeline[4].kind() == "CLOSED");
  CHECK(view->case_view().reply_text() == "Dossier régularisé, versement le 5.");
  CHECK(view->case_view().summary().delivery_attempts() == 1);

  // Replying to a closed case is refused and changes nothing.
  auto late = partner->Call(reply, 5000);
  REQUIRE(late.ok());
  CHECK(late->error().code() == wire::INVALID_TRANSITION);
  auto after = agent->CallOk(GetCaseRequest(case_id), 5000);
  CHECK(after->case_view().timeline().size() == 5);
}

TEST_CASE("the same idempotency key returns the same case, also after a restart") {
  TestNetwork network("broker-idempotency");
  REQUIRE(network.StartBroker());
  std::string first_id;
  {
    auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
    auto first = agent->CallOk(SubmitRequest("Carte vitale", "same-key"), 5000);
    REQUIRE(first.ok());
    first_id = first->accepted().case_id();
    auto again = agent->CallOk(SubmitRequest("Carte vitale", "same-key"), 5000);
    REQUIRE(again.ok());
    CHECK(again->accepted().case_id() == first_id);
    CHECK(again->accepted().duplicate());
  }
  network.broker().Kill();
  REQUIRE(network.StartBroker());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto after_restart = agent->CallOk(SubmitRequest("Carte vitale", "same-key"), 5000);
  REQUIRE(after_restart.ok());
  CHECK(after_restart->accepted().case_id() == first_id);
  // Another contact point using the same key gets its own case.
  auto other = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-berdhuis");
  auto other_case = other->CallOk(SubmitRequest("Carte vitale", "same-key", "france-travail", "agent-berdhuis-1"), 5000);
  REQUIRE_MESSAGE(other_case.ok(), other_case.status().ToString());
  CHECK(other_case->accepted().case_id() != first_id);
}

TEST_CASE("identity comes from the session, not from the payload") {
  TestNetwork network("broker-identity");
  REQUIRE(network.StartBroker());
  auto noce = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto accepted = noce->CallOk(SubmitRequest("Impôts"), 5000);
  REQUIRE(accepted.ok());
  std::string case_id = accepted->accepted().case_id();

  // Another contact point cannot read or close it.
  auto berdhuis = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-berdhuis");
  auto read = berdhuis->Call(GetCaseRequest(case_id), 5000);
  REQUIRE(read.ok());
  CHECK(read->error().code() == wire::PERMISSION_DENIED);
  wire::Envelope cancel;
  cancel.mutable_cancel_case()->set_case_id(case_id);
  auto cancelled = berdhuis->Call(cancel, 5000);
  CHECK(cancelled->error().code() == wire::PERMISSION_DENIED);

  // Another partner cannot acknowledge it, nor take its queue.
  auto caf = network.BrokerClient(wire::PARTNER_GATEWAY, "msa");
  wire::Envelope acknowledge;
  acknowledge.mutable_acknowledge_case()->set_case_id(case_id);
  auto refused = caf->Call(acknowledge, 5000);
  CHECK(refused->error().code() == wire::PERMISSION_DENIED);
  wire::Envelope forged_ack;
  forged_ack.mutable_delivery_ack()->set_queue("partner/france-travail");
  forged_ack.mutable_delivery_ack()->add_delivery_ids(1);
  forged_ack.set_request_id(99);
  REQUIRE(caf->Send(forged_ack).ok());
  auto answer = caf->Receive(3000);
  // Send() bypasses Hello; say Hello via a Call first, then forge.
  auto ping = caf->Call([] { wire::Envelope e; e.mutable_ping(); return e; }(), 5000);
  REQUIRE(ping.ok());
  REQUIRE(caf->Send(forged_ack).ok());
  answer = caf->Receive(3000);
  while (answer && !answer->has_error()) answer = caf->Receive(3000);
  REQUIRE(answer);
  CHECK(answer->error().code() == wire::PERMISSION_DENIED);

  // An agent gateway cannot act as a partner.
  auto as_partner = noce->Call(acknowledge, 5000);
  CHECK(as_partner->error().code() == wire::PERMISSION_DENIED);

  // No Hello, no service.
  SyncClient anonymous(network.context(), network.broker_endpoint(), std::nullopt,
                       network.Keys(wire::OPERATOR, "operator"));
  auto anonymous_read = anonymous.Call(GetCaseRequest(case_id), 5000);
  REQUIRE(anonymous_read.ok());
  CHECK(anonymous_read->error().code() == wire::NOT_AUTHENTICATED);

  // A Hello claiming another identity than the key's is refused.
  wire::Hello claim;
  claim.set_role(wire::PARTNER_GATEWAY);
  claim.set_principal("france-travail");
  SyncClient impostor(network.context(), network.broker_endpoint(), claim,
                      network.Keys(wire::PARTNER_GATEWAY, "msa"));
  auto impostor_read = impostor.Call(GetCaseRequest(case_id), 5000);
  REQUIRE(impostor_read.ok());
  CHECK(impostor_read->error().code() == wire::BAD_CREDENTIAL);
  CHECK(impostor_read->error().message().find("msa") != std::string::npos);

  // The case is untouched.
  auto view = noce->CallOk(GetCaseRequest(case_id), 5000);
  REQUIRE(view.ok());
  CHECK(view->case_view().summary().state() == wire::SUBMITTED);
  CHECK(view->case_view().timeline().size() == 1);
}

TEST_CASE("typed errors for unknown partner, bad input and operator-only requests") {
  TestNetwork network("broker-errors");
  REQUIRE(network.StartBroker());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto unknown_partner = agent->Call(SubmitRequest("x", "", "nobody"), 5000);
  REQUIRE(unknown_partner.ok());
  CHECK(unknown_partner->error().code() == wire::UNKNOWN_PARTNER);
  auto no_subject = agent->Call(SubmitRequest(""), 5000);
  CHECK(no_subject->error().code() == wire::INVALID_ARGUMENT);
  auto unknown_case = agent->Call(GetCaseRequest("PER-0000-0000"), 5000);
  CHECK(unknown_case->error().code() == wire::UNKNOWN_CASE);
  wire::Envelope stats;
  stats.mutable_get_stats();
  CHECK(agent->Call(stats, 5000)->error().code() == wire::PERMISSION_DENIED);
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  auto figures = op->CallOk(stats, 5000);
  REQUIRE(figures.ok());
  CHECK(figures->stats().errors_answered() >= 3);
}

TEST_CASE("a submission without the citizen's mandate is refused and stores nothing") {
  TestNetwork network("broker-mandate");
  REQUIRE(network.StartBroker());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  wire::Envelope no_mandate = SubmitRequest("Sans mandat", "k-no-mandate");
  no_mandate.mutable_submit()->set_citizen_consent(false);
  auto refused = agent->Call(no_mandate, 5000);
  REQUIRE(refused.ok());
  CHECK(refused->error().code() == wire::MANDATE_REQUIRED);
  CHECK(network.broker().Log().find("MANDATE_REQUIRED") != std::string::npos);

  // The same idempotency key is still free: the refusal recorded nothing.
  wire::Envelope with_reference = no_mandate;
  with_reference.mutable_submit()->set_mandate_reference("MANDAT-2026-0042");
  auto accepted = agent->CallOk(with_reference, 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  CHECK_FALSE(accepted->accepted().duplicate());
  auto view = agent->CallOk(GetCaseRequest(accepted->accepted().case_id()), 5000);
  REQUIRE(view.ok());
  CHECK(view->case_view().summary().mandate_reference() == "MANDAT-2026-0042");
  wire::Envelope stats;
  stats.mutable_get_stats();
  auto figures = network.BrokerClient(wire::OPERATOR, "operator")->CallOk(stats, 5000);
  REQUIRE(figures.ok());
  CHECK(figures->stats().cases_by_state().at("SUBMITTED") == 1);
}

TEST_CASE("an operator reads a case's metadata but none of its personal data") {
  TestNetwork network("broker-operator-view");
  REQUIRE(network.StartBroker());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto accepted = agent->CallOk(SubmitRequest("Allocation suspendue de Jeanne Martin"), 5000);
  REQUIRE(accepted.ok());
  std::string case_id = accepted->accepted().case_id();
  wire::Envelope cancel;
  cancel.mutable_cancel_case()->set_case_id(case_id);
  cancel.mutable_cancel_case()->set_reason("Mme Martin a retrouvé son attestation");
  REQUIRE(agent->CallOk(cancel, 5000).ok());

  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  auto view = op->CallOk(GetCaseRequest(case_id), 5000);
  REQUIRE(view.ok());
  const wire::CaseView& seen = view->case_view();
  CHECK(seen.summary().case_id() == case_id);
  CHECK(seen.summary().partner() == "france-travail");
  CHECK(seen.summary().state() == wire::CANCELLED);
  CHECK(seen.summary().deadline_ms() > 0);
  CHECK(seen.timeline_size() == 2);
  std::string everything = seen.DebugString();
  for (const char* personal : {"Jeanne", "Martin", "Allocation suspendue", "attestation"}) {
    CHECK_MESSAGE(everything.find(personal) == std::string::npos, personal << " in " << everything);
  }
  // The contact point itself still reads everything.
  auto own = agent->CallOk(GetCaseRequest(case_id), 5000);
  REQUIRE(own.ok());
  CHECK(own->case_view().citizen_name() == "Jeanne Martin");
  CHECK(own->case_view().timeline(1).detail() == "Mme Martin a retrouvé son attestation");
}
