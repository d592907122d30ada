// Regression: a queue's sequence numbers (the delivery ids gateways deduplicate on) must never
// be reused after a restart, even when the queue was emptied by acknowledgements. A reused id
// made a gateway take a new reply for a redelivery of an old one and drop it.
#include <doctest/doctest.h>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

std::optional<wire::Delivery> NextDelivery(SyncClient& client) {
  auto envelope = client.Receive(5000);
  while (envelope && !envelope->has_delivery()) envelope = client.Receive(5000);
  if (!envelope) return std::nullopt;
  return envelope->delivery();
}

uint64_t DeliverAndAck(TestNetwork& network, const std::string& subject) {
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto accepted = agent->CallOk(SubmitRequest(subject), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  wire::Envelope subscribe;
  subscribe.mutable_subscribe()->set_window(4);
  REQUIRE(partner->CallOk(subscribe, 5000).ok());
  auto delivery = NextDelivery(*partner);
  REQUIRE(delivery);
  CHECK(delivery->escalation().case_id() == accepted->accepted().case_id());
  wire::Envelope ack;
  ack.mutable_delivery_ack()->set_queue(delivery->queue());
  ack.mutable_delivery_ack()->add_delivery_ids(delivery->delivery_id());
  REQUIRE(partner->Send(ack).ok());
  // A ping after the ack proves the broker applied and committed it.
  wire::Envelope ping;
  ping.mutable_ping();
  REQUIRE(partner->CallOk(ping, 5000).ok());
  return delivery->delivery_id();
}

}  // namespace

TEST_CASE("delivery ids keep growing across restarts of an emptied queue") {
  TestNetwork network("queue-sequence");
  REQUIRE(network.StartBroker());
  uint64_t first = DeliverAndAck(network, "Premier dossier");
  REQUIRE(RestartBroker(network));
  uint64_t second = DeliverAndAck(network, "Deuxième dossier");
  CHECK(second > first);
  REQUIRE(RestartBroker(network));
  uint64_t third = DeliverAndAck(network, "Troisième dossier");
  CHECK(third > second);
}
