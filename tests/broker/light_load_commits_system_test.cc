// "At a light load an escalation costs one fsync, not two" (issue 11): a partner's DeliveryAck
// has no answer, so its writes wait for the next batch that answers someone (the next
// submission's) instead of paying a commit of their own; alone, they still commit within
// moments, and a Ping's Pong still proves every earlier ack committed.
#include <doctest/doctest.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

constexpr int kEscalations = 30;

}  // namespace

TEST_CASE("at a light load the ack of an escalation rides with the next submission's commit" *
          doctest::timeout(90)) {
  auto started = StartNetwork("light-load-commits");
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(8), 5000).ok());
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  auto before = OperatorStats(*op);
  REQUIRE_MESSAGE(before.ok(), before.status().ToString());

  // One escalation at a time, as a light load sees them: submitted, delivered, acknowledged,
  // then a short pause (shorter than the wait the broker allows an ack, longer than a turn)
  // before the next submission.
  for (int i = 0; i < kEscalations; ++i) {
    auto accepted = agent->CallOk(SubmitRequest("Dossier " + std::to_string(i)), 5000);
    REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
    auto delivery = NextDelivery(*partner);
    REQUIRE(delivery);
    REQUIRE(delivery->escalation().case_id() == accepted->accepted().case_id());
    REQUIRE(AckDelivery(*partner, *delivery).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // The Pong comes after a commit of everything before it, the last ack included.
  REQUIRE(partner->CallOk(PingRequest(), 5000).ok());
  auto after = OperatorStats(*op);
  REQUIRE_MESSAGE(after.ok(), after.status().ToString());
  uint64_t commits = after->batches_committed() - before->batches_committed();
  std::cout << "light load: " << commits << " commits for " << kEscalations
            << " escalations (submit, delivery, ack)" << std::endl;
  // One commit per submission (+1 for the last ack); an ack committed alone makes it two per
  // escalation. The margin leaves room for a loaded machine, where the broker may have reached
  // an ack's deadline before the next submission arrived.
  CHECK(commits >= static_cast<uint64_t>(kEscalations));
  CHECK(commits <= static_cast<uint64_t>(kEscalations * 3 / 2));
  CHECK(QueueStatsOf(*after, "partner/france-travail").depth() == 0);
}

TEST_CASE("an ack alone is committed within moments: a SIGKILL after it delivers nothing again" *
          doctest::timeout(90)) {
  auto started = StartNetwork("light-load-ack-alone");
  REQUIRE(started);
  TestNetwork& network = *started;
  std::string case_id;
  {
    auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
    auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
    REQUIRE(partner->CallOk(SubscribeRequest(8), 5000).ok());
    auto accepted = agent->CallOk(SubmitRequest("Dossier seul"), 5000);
    REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
    case_id = accepted->accepted().case_id();
    auto delivery = NextDelivery(*partner);
    REQUIRE(delivery);
    REQUIRE(AckDelivery(*partner, *delivery).ok());
    // No request follows the ack: only the broker's own deadline commits it. Ample time for
    // it (a few ms) on a loaded machine.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  REQUIRE_MESSAGE(RestartBroker(network), network.broker().Log());
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(8), 5000).ok());
  auto again = NextDelivery(*partner, 1000);
  CHECK_MESSAGE(!again, "delivered again after its ack: " << again->escalation().case_id());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto view = GetCaseView(*agent, case_id);
  REQUIRE_MESSAGE(view.ok(), view.status().ToString());
  CHECK(view->summary().state() == wire::DELIVERED);
  CHECK(TimelineProblem(*view).empty());
}
