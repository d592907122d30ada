// "At least once": a delivery that is not acknowledged comes back, to the same partner session
// or to the next one, also across a SIGKILL; after max attempts it is parked in the dead-letter
// queue, visible and never dropped.
#include <doctest/doctest.h>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::vector<std::string> kShortLease = {"--ack-lease-ms", "500", "--max-attempts", "3"};
const std::string kQueue = "partner/france-travail";

std::string SubmitOne(SyncClient& agent, const std::string& subject) {
  auto accepted = agent.CallOk(SubmitRequest(subject, "key-" + subject), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  return accepted->accepted().case_id();
}

// Waits until the case shows `state` to `client`; returns the last view seen.
wire::CaseView WaitForState(SyncClient& client, const std::string& case_id, wire::CaseState state) {
  wire::CaseView last;
  bool reached = WaitUntil(
      [&] {
        auto view = GetCaseView(client, case_id);
        if (view.ok()) last = *view;
        return view.ok() && view->summary().state() == state;
      },
      10000);
  CHECK_MESSAGE(reached, case_id << " stays " << wire::CaseState_Name(last.summary().state()));
  return last;
}

}  // namespace

TEST_CASE("a delivery that is not acknowledged within the lease is delivered again") {
  auto started = StartNetwork("redelivery-lease", kShortLease);
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::string case_id = SubmitOne(*agent, "Relevé de situation");

  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(4), 5000).ok());
  auto first = NextDelivery(*partner);
  REQUIRE(first);
  CHECK(first->attempt() == 1);
  CHECK(first->escalation().case_id() == case_id);
  int64_t first_at = SteadyNowMs();

  // Not acknowledged: it comes back with attempt 2, and not before the lease ran out.
  auto second = NextDelivery(*partner, 5000);
  REQUIRE(second);
  CHECK(SteadyNowMs() - first_at >= 300);  // the lease (500 ms) minus scheduling slack
  CHECK(second->attempt() == 2);
  CHECK(second->delivery_id() == first->delivery_id());
  CHECK(second->escalation().case_id() == case_id);

  REQUIRE(AckDelivery(*partner, *second).ok());
  auto view = WaitForState(*agent, case_id, wire::DELIVERED);
  CHECK(view.summary().delivery_attempts() == 2);
  CHECK(TimelineProblem(view).empty());
  // Acknowledged: no third delivery, even well past the lease.
  CHECK_FALSE(NextDelivery(*partner, 1500));
}

TEST_CASE("a partner session that disappears without acknowledging hands its delivery to the next") {
  auto started = StartNetwork("redelivery-disconnect", kShortLease);
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::string case_id = SubmitOne(*agent, "Radiation contestée");

  uint64_t delivery_id = 0;
  {
    auto vanishing = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
    REQUIRE(vanishing->CallOk(SubscribeRequest(4), 5000).ok());
    auto delivery = NextDelivery(*vanishing);
    REQUIRE(delivery);
    CHECK(delivery->attempt() == 1);
    CHECK(delivery->escalation().case_id() == case_id);
    delivery_id = delivery->delivery_id();
  }  // the socket closes here, nothing acknowledged

  auto successor = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(successor->CallOk(SubscribeRequest(4), 5000).ok());
  auto again = NextDelivery(*successor, 5000);
  REQUIRE(again);
  CHECK(again->escalation().case_id() == case_id);
  CHECK(again->delivery_id() == delivery_id);
  CHECK(again->attempt() > 1);
  REQUIRE(AckDelivery(*successor, *again).ok());
  auto view = WaitForState(*agent, case_id, wire::DELIVERED);
  CHECK(view.summary().delivery_attempts() == again->attempt());
}

TEST_CASE("after max attempts a delivery is dead-lettered, kept and visible") {
  auto started = StartNetwork("redelivery-dead-letter", kShortLease);
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::string case_id = SubmitOne(*agent, "Trop-perçu réclamé");

  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(4), 5000).ok());
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto delivery = NextDelivery(*partner, 5000);
    REQUIRE_MESSAGE(delivery, "attempt " << attempt << " never came");
    CHECK(delivery->attempt() == attempt);
    CHECK(delivery->escalation().case_id() == case_id);
  }

  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  auto dead_lettered = [&] {
    auto stats = OperatorStats(*op);
    return stats.ok() && QueueStatsOf(*stats, kQueue).dead_lettered() == 1;
  };
  REQUIRE(WaitUntil(dead_lettered, 5000));
  // No fourth delivery.
  CHECK_FALSE(NextDelivery(*partner, 1000));

  auto check_parked = [&](SyncClient& reader) {
    auto view = GetCaseView(reader, case_id);
    REQUIRE_MESSAGE(view.ok(), view.status().ToString());
    CHECK(view->summary().dead_lettered());
    CHECK(view->summary().state() == wire::SUBMITTED);
    bool has_event = false;
    for (const auto& event : view->timeline()) has_event = has_event || event.kind() == "DEAD_LETTERED";
    CHECK(has_event);
    std::string problem = TimelineProblem(*view);
    CHECK_MESSAGE(problem.empty(), problem);
  };
  check_parked(*agent);
  check_parked(*op);
  auto stats = OperatorStats(*op);
  REQUIRE(stats.ok());
  CHECK(QueueStatsOf(*stats, kQueue).depth() == 0);
  CHECK(QueueStatsOf(*stats, kQueue).in_flight() == 0);
  CHECK(stats->dead_lettered() == 1);

  // A SIGKILL changes nothing: still parked, still counted, not handed out again, and the
  // queue is not stuck behind it.
  REQUIRE_MESSAGE(RestartBroker(network, kShortLease), network.broker().Log());
  auto agent_after = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  check_parked(*agent_after);
  auto op_after = network.BrokerClient(wire::OPERATOR, "operator");
  auto stats_after = OperatorStats(*op_after);
  REQUIRE_MESSAGE(stats_after.ok(), stats_after.status().ToString());
  CHECK(QueueStatsOf(*stats_after, kQueue).dead_lettered() == 1);
  CHECK(QueueStatsOf(*stats_after, kQueue).depth() == 0);

  std::string next_case = SubmitOne(*agent_after, "Attestation employeur");
  auto partner_after = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner_after->CallOk(SubscribeRequest(4), 5000).ok());
  auto delivery = NextDelivery(*partner_after, 5000);
  REQUIRE(delivery);
  CHECK(delivery->escalation().case_id() == next_case);
  CHECK(delivery->attempt() == 1);
  REQUIRE(AckDelivery(*partner_after, *delivery).ok());
  WaitForState(*agent_after, next_case, wire::DELIVERED);
  CHECK_FALSE(NextDelivery(*partner_after, 700));
}

TEST_CASE("a delivery in flight when the broker is killed is delivered again after the restart") {
  // A longer attempt budget: this test counts attempts across the crash, not dead letters.
  const std::vector<std::string> flags = {"--ack-lease-ms", "500", "--max-attempts", "10"};
  auto started = StartNetwork("redelivery-restart", flags);
  REQUIRE(started);
  TestNetwork& network = *started;
  std::string case_id;
  uint64_t delivery_id = 0;
  uint32_t last_attempt_before_kill = 0;
  {
    auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
    case_id = SubmitOne(*agent, "Inscription refusée");
    auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
    REQUIRE(partner->CallOk(SubscribeRequest(4), 5000).ok());
    auto first = NextDelivery(*partner);
    REQUIRE(first);
    auto second = NextDelivery(*partner, 5000);  // a redelivery: its attempt count is stored
    REQUIRE(second);
    CHECK(second->attempt() == 2);
    delivery_id = second->delivery_id();
    last_attempt_before_kill = second->attempt();
    // A round trip after the redelivery: the broker commits pending writes before answering.
    REQUIRE(partner->CallOk(PingRequest(), 5000).ok());
    network.broker().Kill();
  }
  REQUIRE_MESSAGE(RestartBroker(network, flags), network.broker().Log());

  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(4), 5000).ok());
  auto again = NextDelivery(*partner, 5000);
  REQUIRE(again);
  CHECK(again->escalation().case_id() == case_id);
  CHECK(again->delivery_id() == delivery_id);
  CHECK(again->attempt() > last_attempt_before_kill);
  REQUIRE(AckDelivery(*partner, *again).ok());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto view = WaitForState(*agent, case_id, wire::DELIVERED);
  CHECK(view.summary().delivery_attempts() == again->attempt());
  std::string problem = TimelineProblem(view);
  CHECK_MESSAGE(problem.empty(), problem);
}
