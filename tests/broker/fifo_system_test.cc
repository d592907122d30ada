// "Per-partner FIFO": escalations queued while the partner is away reach it in the order they
// were submitted, through a credit window smaller than the backlog.
#include <doctest/doctest.h>

#include <set>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

TEST_CASE("a partner receives its backlog in submission order") {
  auto started = StartNetwork("fifo", kNoRateLimit);
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  constexpr int kCases = 200;
  constexpr uint32_t kWindow = 16;
  std::vector<std::string> submitted;
  for (int i = 0; i < kCases; ++i) {
    auto accepted = agent->CallOk(
        SubmitRequest("Dossier " + std::to_string(i), "fifo-" + std::to_string(i)), 5000);
    REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
    submitted.push_back(accepted->accepted().case_id());
  }
  // Another partner's traffic in between must not disturb this queue's order.
  auto other = agent->CallOk(SubmitRequest("Autre partenaire", "fifo-other", "msa"), 5000);
  REQUIRE(other.ok());

  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(kWindow), 5000).ok());
  std::vector<std::string> received;
  uint64_t last_delivery_id = 0;
  std::vector<uint64_t> unacked;
  size_t acked_total = 0;
  while (received.size() < submitted.size()) {
    auto delivery = NextDelivery(*partner, 5000);
    REQUIRE_MESSAGE(delivery, "only " << received.size() << " of " << kCases << " delivered");
    CHECK(delivery->queue() == "partner/france-travail");
    CHECK(delivery->attempt() == 1);
    CHECK_MESSAGE(delivery->delivery_id() > last_delivery_id,
                  "delivery id " << delivery->delivery_id() << " after " << last_delivery_id);
    last_delivery_id = delivery->delivery_id();
    received.push_back(delivery->escalation().case_id());
    // Never more than the window open at once.
    CHECK(received.size() - acked_total <= kWindow);
    // Acknowledge in small groups, so the broker keeps refilling a partly used window.
    unacked.push_back(delivery->delivery_id());
    if (unacked.size() == 5 || received.size() == submitted.size()) {
      REQUIRE(AckDeliveries(*partner, "partner/france-travail", unacked).ok());
      acked_total += unacked.size();
      unacked.clear();
    }
  }
  CHECK(received == submitted);
  CHECK(std::set<std::string>(received.begin(), received.end()).size() == submitted.size());
  // Nothing more: no duplicates, nothing of the other partner.
  CHECK_FALSE(NextDelivery(*partner, 500));

  // The window is respected: with everything acknowledged and 40 new escalations, exactly
  // `window` deliveries are open until the partner acknowledges.
  for (int i = 0; i < 40; ++i) {
    REQUIRE(agent->CallOk(SubmitRequest("Lot " + std::to_string(i), "fifo-lot-" + std::to_string(i)),
                          5000)
                .ok());
  }
  std::vector<wire::Delivery> open;
  while (auto delivery = NextDelivery(*partner, 700)) open.push_back(*delivery);
  CHECK(open.size() == kWindow);
  for (size_t i = 1; i < open.size(); ++i) {
    CHECK(open[i].delivery_id() > open[i - 1].delivery_id());
  }
}
