// Fail-stop on a failed write (issue 8): the real broker in-process, with its next commit made
// to fail as a failed fsync would. The request of that batch is answered UNAVAILABLE (never as
// durable), and Run() returns at once with the error, so that main exits with status 75 and a
// restart recovers from the log. Before, the broker kept serving with a "sticky UNAVAILABLE"
// and its batch and pending maps grew with every later request.
#include <doctest/doctest.h>

#include "broker/broker.h"
#include "tests/support/one_partner_network.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/in_process_broker.h"
#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

constexpr std::string_view kConfig = aplus::testing::kOnePartnerNetworkToml;

constexpr int64_t kStartMs = 1798000000000;  // 2026-12-23, a Wednesday

}  // namespace

TEST_CASE("a failed commit answers UNAVAILABLE, acknowledges nothing and stops the broker" *
          doctest::timeout(60)) {
  InProcessBroker broker("fail-stop", kStartMs, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto first = agent->CallOk(SubmitRequest("avant la panne", "k-1"), 5000);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  CHECK(first->has_accepted());

  broker.broker().FailNextCommitForTest();
  auto refused = agent->Call(SubmitRequest("pendant la panne", "k-2"), 5000);
  REQUIRE_MESSAGE(refused.ok(), refused.status().ToString());  // an answer, not a timeout
  CHECK_MESSAGE(refused->error().code() == wire::UNAVAILABLE, refused->ShortDebugString());
  CHECK_FALSE(refused->has_accepted());

  // Run() returned in the turn that failed (well within a second even on a loaded machine).
  CHECK(WaitUntil([&] { return broker.stopped(); }, 1000, 5));
  REQUIRE(broker.stopped());
  CHECK(broker.run_status().code() == wire::UNAVAILABLE);
  // Nothing is served any more: no answer at all rather than a non-durable one.
  auto after = agent->Call(SubmitRequest("après la panne", "k-3"), 500);
  CHECK(after.status().code() == wire::UNREACHABLE);
}
