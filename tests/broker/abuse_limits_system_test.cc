// Abuse limits with the real broker: a principal over its request rate is answered
// RATE_LIMITED while others are served; a contact point at its ceiling of open cases is
// answered TOO_MANY_OPEN_CASES (across restarts); a client that never reads its answers does
// not slow anyone else down.
#include <doctest/doctest.h>

#include "common/clock.h"
#include "common/wire.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;

TEST_CASE("a flooding principal is answered RATE_LIMITED; another principal is still served") {
  auto network = StartNetwork("limits-rate", {"--rate-limit", "20", "--rate-burst", "30"});
  REQUIRE(network);
  auto flooder = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto neighbour = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-berdhuis");

  int answered = 0, limited = 0;
  for (int i = 0; i < 120; ++i) {
    auto answer = flooder->Call(GetCaseRequest("PER-0000-0000"), 5000);
    REQUIRE(answer.ok());
    REQUIRE(answer->has_error());
    if (answer->error().code() == wire::RATE_LIMITED) {
      ++limited;
      CHECK(answer->error().message().find("cp/mairie-perche-en-noce") != std::string::npos);
    } else {
      CHECK(answer->error().code() == wire::UNKNOWN_CASE);
      ++answered;
    }
  }
  // The burst (30, minus the Hello) and what the bucket refilled meanwhile got through.
  CHECK(answered >= 25);
  CHECK(limited >= 50);
  // The neighbour's own bucket is full.
  auto served = neighbour->Call(GetCaseRequest("PER-0000-0000"), 5000);
  REQUIRE(served.ok());
  CHECK(served->error().code() == wire::UNKNOWN_CASE);
  // One log line for the flood, not one per refusal.
  CHECK(CountOccurrences(network->broker().Log(), "exceeds 20 requests/s") >= 1);
  CHECK(CountOccurrences(network->broker().Log(), "exceeds 20 requests/s") < 10);
  // After a pause the flooder is served again.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto again = flooder->Call(GetCaseRequest("PER-0000-0000"), 5000);
  REQUIRE(again.ok());
  CHECK(again->error().code() == wire::UNKNOWN_CASE);
}

TEST_CASE("a contact point at its ceiling of open cases is refused until one is done") {
  auto network = StartNetwork("limits-open", {"--max-open-cases", "3"});
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::vector<std::string> cases;
  for (int i = 0; i < 3; ++i) {
    auto accepted = agent->CallOk(SubmitRequest("Dossier " + std::to_string(i)), 5000);
    REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
    cases.push_back(accepted->accepted().case_id());
  }
  auto refused = agent->Call(SubmitRequest("Dossier de trop", "k-over"), 5000);
  REQUIRE(refused.ok());
  CHECK(refused->error().code() == wire::TOO_MANY_OPEN_CASES);
  // Another contact point has its own ceiling.
  auto other = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-berdhuis");
  CHECK(other->CallOk(SubmitRequest("Ailleurs", "", "france-travail", "agent-berdhuis-1"), 5000).ok());

  // The count survives a restart.
  REQUIRE(RestartBroker(*network, {"--max-open-cases", "3"}));
  refused = agent->Call(SubmitRequest("Dossier de trop", "k-over"), 5000);
  REQUIRE(refused.ok());
  CHECK(refused->error().code() == wire::TOO_MANY_OPEN_CASES);

  // Cancelling one frees a place; the refused key was never used, so it makes a new case.
  wire::Envelope cancel;
  cancel.mutable_cancel_case()->set_case_id(cases[0]);
  REQUIRE(agent->CallOk(cancel, 5000).ok());
  auto accepted = agent->CallOk(SubmitRequest("Dossier de trop", "k-over"), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  CHECK_FALSE(accepted->accepted().duplicate());
}

TEST_CASE("a client that never reads its answers does not hold up the others") {
  auto network = StartNetwork("limits-stuck", {"--rate-limit", "0"});
  REQUIRE(network);
  // The stuck client: says Hello, then sends thousands of requests and never reads.
  auto stuck = network->RawBrokerSocket(wire::AGENT_GATEWAY, "mairie-berdhuis");
  stuck->set(zmq::sockopt::rcvhwm, 1);
  stuck->set(zmq::sockopt::rcvbuf, 4096);
  wire::Envelope hello;
  hello.set_request_id(1);
  hello.mutable_hello()->set_role(wire::AGENT_GATEWAY);
  hello.mutable_hello()->set_principal("mairie-berdhuis");
  auto frame = EncodeEnvelope(hello);
  REQUIRE(stuck->send(frame, zmq::send_flags::none));
  wire::Envelope read = GetCaseRequest("PER-0000-0000");
  read.mutable_get_case()->set_case_id(std::string(2000, 'x'));  // fat answers fill its pipe
  for (int i = 0; i < 20000; ++i) {
    read.set_request_id(2 + i);
    auto message = EncodeEnvelope(read);
    if (!stuck->send(message, zmq::send_flags::dontwait)) break;
  }

  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  for (int i = 0; i < 20; ++i) {
    int64_t started = SteadyNowMs();
    auto accepted = agent->CallOk(SubmitRequest("Pendant le blocage " + std::to_string(i)), 10000);
    REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
    // Generous bound: the point is "answered", not a timing target.
    CHECK(SteadyNowMs() - started < 5000);
  }
  CHECK(network->broker().Running());
}
