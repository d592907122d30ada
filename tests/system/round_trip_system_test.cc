// The whole network as a user sees it: the three daemons as real processes and the `aplus`
// command line, as the README documents them.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;
using nlohmann::json;

namespace {

json AplusJson(TestNetwork& network, const std::string& arguments, int expected_exit = 0) {
  auto [code, output] = network.Aplus("--json " + arguments);
  INFO("aplus " << arguments << " -> " << output);
  CHECK(code == expected_exit);
  auto start = output.find('{');
  REQUIRE(start != std::string::npos);
  return json::parse(output.substr(start));
}

// Polls `aplus status` until the case reaches `state` (the network is asynchronous).
json WaitForState(TestNetwork& network, const std::string& case_id, const std::string& state,
                  int timeout_ms = 15000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  json view;
  while (std::chrono::steady_clock::now() < deadline) {
    auto [code, output] = network.Aplus("--json status " + case_id);
    auto start = output.find('{');
    if (code == 0 && start != std::string::npos) {
      view = json::parse(output.substr(start));
      if (view["summary"]["state"] == state) return view;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("case " << case_id << " never reached " << state << "; last view: " << view.dump());
  return view;
}

bool WaitForInbox(TestNetwork& network, const std::string& case_id, int timeout_ms = 15000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto [code, output] = network.Aplus("--json partner inbox");
    if (code == 0 && output.find(case_id) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

const char* kSubmit =
    "submit --agent agent-noce-1 --partner france-travail --category unemployment-benefits "
    "--subject 'Allocation suspendue' --body 'Versement interrompu depuis octobre' "
    "--citizen 'Jeanne Martin' --mandate MANDAT-2026-0042";

}  // namespace

TEST_CASE("round trip through both gateways with the aplus command line") {
  TestNetwork network("round-trip");
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartAgentGateway());
  REQUIRE(network.StartPartnerGateway());

  json accepted = AplusJson(network, kSubmit);
  std::string case_id = accepted["caseId"];
  CHECK(accepted["state"] == "SUBMITTED");
  REQUIRE(WaitForInbox(network, case_id));
  WaitForState(network, case_id, "DELIVERED");

  json acked = AplusJson(network, "partner ack " + case_id + " --note 'pris en charge'");
  CHECK(acked["state"] == "ACKNOWLEDGED");
  json replied = AplusJson(network, "partner reply " + case_id + " --text 'Dossier régularisé'");
  CHECK(replied["state"] == "ANSWERED");

  json view = WaitForState(network, case_id, "ANSWERED");
  CHECK(view["replyText"] == "Dossier régularisé");
  CHECK(view["citizenName"] == "Jeanne Martin");
  CHECK(view["timeline"].size() == 4);

  json closed = AplusJson(network, "close " + case_id);
  CHECK(closed["state"] == "CLOSED");
  // The lifecycle forbids replying to a closed case: a typed error, exit code 1.
  json refused = AplusJson(network, "partner reply " + case_id + " --text again", 1);
  CHECK(refused["error"]["code"] == "INVALID_TRANSITION");

  json list = AplusJson(network, "list");
  REQUIRE(list["cases"].size() == 1);
  CHECK(list["cases"][0]["caseId"] == case_id);

  json stats = AplusJson(network, "stats");
  CHECK(stats["casesByState"]["CLOSED"] == "1");

  // The human output names the case and its state.
  auto [code, human] = network.Aplus("status " + case_id);
  CHECK(code == 0);
  CHECK(human.find(case_id) != std::string::npos);
  CHECK(human.find("CLOSED") != std::string::npos);
}

TEST_CASE("a submission made while the broker is down is queued locally and forwarded later") {
  TestNetwork network("offline-submit");
  REQUIRE(network.StartAgentGateway("mairie-perche-en-noce", {"--forward-timeout-ms", "500"}));
  json queued = AplusJson(network, kSubmit);
  CHECK(queued["state"] == "QUEUED_LOCALLY");
  std::string local_ref = queued["localRef"];
  REQUIRE_FALSE(local_ref.empty());

  // The gateway restarts before the link returns: the outbox survives.
  network.agent_gateway().Kill();
  REQUIRE(network.StartAgentGateway("mairie-perche-en-noce", {"--forward-timeout-ms", "500"}));
  json still = AplusJson(network, "status " + local_ref);
  CHECK(still["summary"]["state"] == "QUEUED_LOCALLY");

  REQUIRE(network.StartBroker());
  json forwarded = WaitForState(network, local_ref, "SUBMITTED");
  std::string case_id = forwarded["summary"]["caseId"];
  CHECK(case_id.rfind("PER-", 0) == 0);

  // Exactly one case at the broker, even though the gateway restarted mid-way.
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  wire::Envelope stats;
  stats.mutable_get_stats();
  auto figures = op->CallOk(stats, 5000);
  REQUIRE(figures.ok());
  CHECK(figures->stats().cases_by_state().at("SUBMITTED") == 1);
}

TEST_CASE("a reply sent while the agent gateway is down reaches it when it comes back") {
  TestNetwork network("offline-reply");
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartAgentGateway());
  REQUIRE(network.StartPartnerGateway());
  json accepted = AplusJson(network, kSubmit);
  std::string case_id = accepted["caseId"];
  REQUIRE(WaitForInbox(network, case_id));

  network.agent_gateway().Kill();
  AplusJson(network, "partner reply " + case_id + " --text 'Rendez-vous le 3 décembre'");
  REQUIRE(network.StartAgentGateway());
  // Once the mailbox is drained into the gateway, the reply is readable even with the broker
  // gone: it is in the gateway's own store.
  WaitForState(network, case_id, "ANSWERED");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  wire::Envelope stats;
  stats.mutable_get_stats();
  bool drained = false;
  while (!drained && std::chrono::steady_clock::now() < deadline) {
    auto figures = op->CallOk(stats, 5000);
    REQUIRE(figures.ok());
    for (const auto& queue : figures->stats().queues()) {
      if (queue.queue() == "mailbox/mairie-perche-en-noce") drained = queue.depth() == 0;
    }
    if (!drained) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(drained);
  network.broker().Kill();
  json local = AplusJson(network, "status " + case_id);
  CHECK(local["fromLocalCache"] == true);
  CHECK(local["summary"]["state"] == "ANSWERED");
  CHECK(local["replyText"] == "Rendez-vous le 3 décembre");
}
