// Regression found by broker_fuzz_system_test: an idempotency key already used by one request
// must not make a different request (another kind, or another case) be answered with the first
// request's answer. A retry returns the first answer; a different request with the same key is
// either refused or served as itself, never reported as something that did not happen.
#include <doctest/doctest.h>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

wire::Envelope CancelRequest(const std::string& case_id, const std::string& key) {
  wire::Envelope envelope;
  envelope.mutable_cancel_case()->set_case_id(case_id);
  envelope.mutable_cancel_case()->set_reason("doublon");
  envelope.mutable_cancel_case()->set_idempotency_key(key);
  return envelope;
}

}  // namespace

TEST_CASE("a key reused for a different request is never answered with another case") {
  auto started = StartNetwork("idempotency-reuse");
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-berdhuis");
  auto submit = [&](const std::string& subject, const std::string& key) {
    auto accepted = agent->CallOk(
        SubmitRequest(subject, key, "france-travail", "agent-berdhuis-1"), 5000);
    REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
    return accepted->accepted();
  };
  const std::string first = submit("Premier dossier", "shared-key").case_id();
  const std::string second = submit("Second dossier", "second-key").case_id();

  // The retry of the submission: the first answer, as documented.
  auto retry = submit("Premier dossier", "shared-key");
  CHECK(retry.case_id() == first);
  CHECK(retry.duplicate());

  SUBCASE("cancelling another case with the key of a submission") {
    auto answer = agent->Call(CancelRequest(second, "shared-key"), 5000);
    REQUIRE(answer.ok());
    auto view = GetCaseView(*agent, second);
    REQUIRE(view.ok());
    if (answer->has_case_updated()) {
      // Served as itself: it must be about `second`, and true.
      CHECK_MESSAGE(answer->case_updated().case_id() == second,
                    "Cancel(" << second << ") answered " << answer->ShortDebugString());
      CHECK(view->summary().state() == answer->case_updated().state());
    } else {
      CHECK(answer->has_error());
      CHECK(view->summary().state() == wire::SUBMITTED);
    }
    // The first case was not touched either way.
    auto first_view = GetCaseView(*agent, first);
    REQUIRE(first_view.ok());
    CHECK(first_view->summary().state() == wire::SUBMITTED);
  }

  SUBCASE("submitting with the key of an earlier cancellation") {
    auto cancelled = agent->CallOk(CancelRequest(second, "cancel-key"), 5000);
    REQUIRE_MESSAGE(cancelled.ok(), cancelled.status().ToString());
    auto answer = agent->Call(
        SubmitRequest("Troisième dossier", "cancel-key", "france-travail", "agent-berdhuis-1"),
        5000);
    REQUIRE(answer.ok());
    if (answer->has_accepted()) {
      // Accepted means a case for THIS submission exists, not the cancelled one.
      CHECK_MESSAGE(answer->accepted().case_id() != second,
                    "Submit answered with the cancelled case: " << answer->ShortDebugString());
      auto view = GetCaseView(*agent, answer->accepted().case_id());
      REQUIRE(view.ok());
      CHECK(view->summary().subject() == "Troisième dossier");
    } else {
      CHECK(answer->has_error());
    }
  }
}
