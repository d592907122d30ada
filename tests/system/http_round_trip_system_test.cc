// The round trip of issue 9's acceptance over HTTP only, with real programs and a real HTTP
// client (python3-requests, tests/http/round_trip.py): submit at the agent gateway, the
// partner's receiver gets the signed webhook, the partner acknowledges and replies over its API,
// the contact point's /v1/events long poll returns the reply; idempotent resubmission; a webhook
// that fails (500, timeout, then connection refused while the receiver is down) is delivered
// once the receiver recovers, across a restart of the partner gateway, with the same webhook-id.
// Every answer the script receives is checked against docs/openapi.yaml.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/http_network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

// Retries quickly so that the test runs in seconds; `until` is long enough for the restart.
constexpr const char* kTestSchedule =
    "0s,200ms,500ms;every=1s;until=120s;jitter=0;report=30 seconds";

}  // namespace

TEST_CASE("HTTP round trip: submit, signed webhook, ack and reply, long poll; failing webhooks "
          "survive a partner gateway restart with the same webhook-id" *
          doctest::timeout(240)) {
  HttpNetwork net("http-round-trip");
  std::string secret_file = net.WriteWebhookSecret();
  std::string agent_token = net.AddToken(net.AgentTokenDir(), "front-desk");
  std::string partner_token = net.AddToken(net.PartnerTokenDir(), "si-france-travail");
  int receiver_port = FreePort();
  std::vector<std::string> webhook_flags = {
      "--webhook-url", "http://127.0.0.1:" + std::to_string(receiver_port) + "/hooks/aplus",
      "--webhook-secret-file", secret_file, "--webhook-schedule", kTestSchedule,
      // The held attempt (the receiver's "timeout" case) ends after 1 s.
      "--webhook-timeout-ms", "1000"};
  REQUIRE(net.StartBroker());
  REQUIRE(net.StartPartnerGateway(webhook_flags));
  REQUIRE(net.StartAgentGateway());

  std::string state = net.network().dir().Sub("round-trip-state.json");
  std::vector<std::string> common = {"--agent-url",     net.agent_url(),
                                     "--partner-url",   net.partner_url(),
                                     "--agent-token",   agent_token,
                                     "--partner-token", partner_token,
                                     "--secret-file",   secret_file,
                                     "--receiver-port", std::to_string(receiver_port),
                                     "--state",         state};
  auto args = [&](const std::string& phase) {
    std::vector<std::string> all = {phase};
    all.insert(all.end(), common.begin(), common.end());
    return all;
  };

  auto [code, output] = RunPythonScript("round_trip.py", args("round-trip"), 150);
  if (code != 0) FAIL("round_trip.py round-trip exited " << code << ":\n" << output);
  MESSAGE(output);

  // The receiver is down now: the sender's attempts are refused. Restart the partner gateway
  // meanwhile (SIGKILL, the crash the durable webhook queue is about); the pending webhook must
  // come back with the same webhook-id.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  net.network().partner_gateway().Kill();
  REQUIRE(net.StartPartnerGateway(webhook_flags));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  auto [recovered, recover_output] = RunPythonScript("round_trip.py", args("recover"), 90);
  if (recovered != 0) {
    FAIL_CHECK("round_trip.py recover exited " << recovered << ":\n" << recover_output);
  } else {
    MESSAGE(recover_output);
  }
  // The partner gateway recorded each kind of failure of that webhook: 500, a timeout, and a
  // refused connection while the receiver was down (`aplus partner webhooks`).
  std::string webhook_id =
      nlohmann::json::parse(std::ifstream(state)).value("second_webhook_id", "");
  auto [listed, listing] = net.network().Aplus("--json partner webhooks");
  INFO("aplus partner webhooks: " << listing);
  CHECK(listed == 0);
  auto start = listing.find('{');
  REQUIRE(start != std::string::npos);
  std::string attempts;
  for (const auto& webhook : nlohmann::json::parse(listing.substr(start)).value(
           "webhooks", nlohmann::json::array())) {
    if (webhook.value("id", "") == webhook_id) attempts = webhook.dump();
  }
  std::transform(attempts.begin(), attempts.end(), attempts.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  INFO("webhook " << webhook_id << ": " << attempts);
  CHECK(attempts.find("500") != std::string::npos);
  CHECK((attempts.find("timeout") != std::string::npos ||
         attempts.find("timed out") != std::string::npos));
  CHECK(attempts.find("refused") != std::string::npos);
  CHECK(net.network().broker().Running());
  CHECK(net.network().agent_gateway().Running());
  CHECK(net.network().partner_gateway().Running());
}
