// "Replies reach an offline contact point": what a partner says while the contact point's
// gateway is away waits in its mailbox, in order, also across a SIGKILL of the broker.
#include <doctest/doctest.h>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";
const std::string kMailbox = "mailbox/mairie-perche-en-noce";

// The partner takes the case: receives it, stores it (DeliveryAck), acknowledges and replies.
void PartnerAnswers(TestNetwork& network, const std::string& case_id, const std::string& note,
                    const std::string& text) {
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(8), 5000).ok());
  auto delivery = NextDelivery(*partner);
  REQUIRE(delivery);
  REQUIRE(delivery->escalation().case_id() == case_id);
  REQUIRE(AckDelivery(*partner, *delivery).ok());
  auto acked = partner->CallOk(AcknowledgeRequest(case_id, note, "ack-" + case_id), 5000);
  REQUIRE_MESSAGE(acked.ok(), acked.status().ToString());
  CHECK(acked->case_updated().state() == wire::ACKNOWLEDGED);
  auto replied = partner->CallOk(ReplyRequest(case_id, text, "reply-" + case_id), 5000);
  REQUIRE_MESSAGE(replied.ok(), replied.status().ToString());
  CHECK(replied->case_updated().state() == wire::ANSWERED);
}

void CheckMail(const std::optional<wire::Delivery>& delivery, const std::string& case_id,
               wire::MailItem::Kind kind, const std::string& text, wire::CaseState state) {
  REQUIRE_MESSAGE(delivery, "no " << wire::MailItem::Kind_Name(kind) << " mail for " << case_id);
  CHECK(delivery->queue() == kMailbox);
  REQUIRE(delivery->has_mail());
  CHECK(delivery->mail().case_id() == case_id);
  CHECK(delivery->mail().kind() == kind);
  CHECK(delivery->mail().partner() == "france-travail");
  CHECK(delivery->mail().text() == text);
  CHECK(delivery->mail().state() == state);
  CHECK(delivery->mail().at_ms() > 0);
}

std::string Submit(TestNetwork& network, const std::string& key) {
  // Submitting needs no subscription: the agent gateway is "offline" for deliveries.
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto accepted = agent->CallOk(SubmitRequest("Dossier " + key, key), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  return accepted->accepted().case_id();
}

}  // namespace

TEST_CASE("acknowledgement and reply wait in the mailbox until the contact point subscribes") {
  auto started = StartNetwork("mailbox-offline");
  REQUIRE(started);
  TestNetwork& network = *started;
  std::string case_id = Submit(network, "offline-1");
  PartnerAnswers(network, case_id, "pris en charge", "Versement régularisé le 5.");

  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  REQUIRE(agent->CallOk(SubscribeRequest(8), 5000).ok());
  auto first = NextDelivery(*agent);
  CheckMail(first, case_id, wire::MailItem::ACKNOWLEDGED, "pris en charge", wire::ACKNOWLEDGED);
  auto second = NextDelivery(*agent);
  CheckMail(second, case_id, wire::MailItem::REPLY, "Versement régularisé le 5.", wire::ANSWERED);
  CHECK(second->delivery_id() > first->delivery_id());
  REQUIRE(AckDeliveries(*agent, kMailbox, {first->delivery_id(), second->delivery_id()}).ok());
  CHECK_FALSE(NextDelivery(*agent, 500));

  auto view = GetCaseView(*agent, case_id);
  REQUIRE(view.ok());
  CHECK(view->summary().state() == wire::ANSWERED);
  CHECK(view->reply_text() == "Versement régularisé le 5.");
  CHECK(TimelineProblem(*view).empty());
}

TEST_CASE("the mailbox survives SIGKILLs, before and after the contact point reads it") {
  auto started = StartNetwork("mailbox-offline-kill");
  REQUIRE(started);
  TestNetwork& network = *started;
  std::string case_id = Submit(network, "offline-kill-1");
  PartnerAnswers(network, case_id, "dossier reçu", "Rendez-vous fixé au 12.");

  // Killed while the contact point is offline.
  REQUIRE_MESSAGE(RestartBroker(network), network.broker().Log());
  uint64_t first_id = 0, second_id = 0;
  {
    auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
    REQUIRE(agent->CallOk(SubscribeRequest(8), 5000).ok());
    auto first = NextDelivery(*agent);
    CheckMail(first, case_id, wire::MailItem::ACKNOWLEDGED, "dossier reçu", wire::ACKNOWLEDGED);
    auto second = NextDelivery(*agent);
    CheckMail(second, case_id, wire::MailItem::REPLY, "Rendez-vous fixé au 12.", wire::ANSWERED);
    first_id = first->delivery_id();
    second_id = second->delivery_id();
    // Read but not acknowledged when the broker dies again.
    REQUIRE(agent->CallOk(PingRequest(), 5000).ok());
  }
  REQUIRE_MESSAGE(RestartBroker(network), network.broker().Log());

  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  REQUIRE(agent->CallOk(SubscribeRequest(8), 5000).ok());
  auto first = NextDelivery(*agent);
  CheckMail(first, case_id, wire::MailItem::ACKNOWLEDGED, "dossier reçu", wire::ACKNOWLEDGED);
  CHECK(first->delivery_id() == first_id);
  auto second = NextDelivery(*agent);
  CheckMail(second, case_id, wire::MailItem::REPLY, "Rendez-vous fixé au 12.", wire::ANSWERED);
  CHECK(second->delivery_id() == second_id);
  REQUIRE(AckDeliveries(*agent, kMailbox, {first_id, second_id}).ok());
  // Acknowledged mail is gone for good, also after another SIGKILL.
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  REQUIRE(WaitUntil(
      [&] {
        auto stats = OperatorStats(*op);
        return stats.ok() && QueueStatsOf(*stats, kMailbox).depth() == 0;
      },
      5000));
  REQUIRE_MESSAGE(RestartBroker(network), network.broker().Log());
  auto agent_again = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  REQUIRE(agent_again->CallOk(SubscribeRequest(8), 5000).ok());
  CHECK_FALSE(NextDelivery(*agent_again, 700));

  auto view = GetCaseView(*agent_again, case_id);
  REQUIRE(view.ok());
  CHECK(view->summary().state() == wire::ANSWERED);
  CHECK(view->reply_text() == "Rendez-vous fixé au 12.");
  CHECK(TimelineProblem(*view).empty());
}

TEST_CASE("a reply given while the broker restarts between acknowledgement and reply arrives in order") {
  auto started = StartNetwork("mailbox-offline-split");
  REQUIRE(started);
  TestNetwork& network = *started;
  std::string case_id = Submit(network, "offline-split-1");
  {
    auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
    REQUIRE(partner->CallOk(SubscribeRequest(8), 5000).ok());
    auto delivery = NextDelivery(*partner);
    REQUIRE(delivery);
    REQUIRE(AckDelivery(*partner, *delivery).ok());
    REQUIRE(partner->CallOk(AcknowledgeRequest(case_id, "vu", "split-ack"), 5000).ok());
  }
  REQUIRE_MESSAGE(RestartBroker(network), network.broker().Log());
  {
    auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
    auto replied = partner->CallOk(ReplyRequest(case_id, "Réglé.", "split-reply"), 5000);
    REQUIRE_MESSAGE(replied.ok(), replied.status().ToString());
  }
  // The reply retried with the same key after another crash is the first answer again, not a
  // second mail.
  REQUIRE_MESSAGE(RestartBroker(network), network.broker().Log());
  {
    auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
    auto retried = partner->CallOk(ReplyRequest(case_id, "Réglé.", "split-reply"), 5000);
    REQUIRE_MESSAGE(retried.ok(), retried.status().ToString());
    CHECK(retried->case_updated().state() == wire::ANSWERED);
  }
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  REQUIRE(agent->CallOk(SubscribeRequest(8), 5000).ok());
  auto first = NextDelivery(*agent);
  CheckMail(first, case_id, wire::MailItem::ACKNOWLEDGED, "vu", wire::ACKNOWLEDGED);
  auto second = NextDelivery(*agent);
  CheckMail(second, case_id, wire::MailItem::REPLY, "Réglé.", wire::ANSWERED);
  REQUIRE(AckDeliveries(*agent, kMailbox, {first->delivery_id(), second->delivery_id()}).ok());
  CHECK_FALSE(NextDelivery(*agent, 500));
}
