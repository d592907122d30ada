// Issue 12: a pair's leader whose fsync fails (docs/AVAILABILITY.md, "What waits for the
// standby"). The leader writes a batch, ships it, then fsyncs: when that fsync fails it stops
// (exit 75, never retried) and answers the batch's requests UNAVAILABLE, though the standby may
// already hold the batch. The standby takes over; the client's retry with the same idempotency
// key finds one case, never two. Real processes: three etcd members, two brokers, the fsync
// shim (tests/support/fsync_shim.c) preloaded into both, failing only the leader's.
#include <doctest/doctest.h>

#include <thread>

#include "common/clock.h"
#include "common/exit_codes.h"
#include "common/wire.h"
#include "tests/support/fsync_shim.h"
#include "tests/support/pair_network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

constexpr const char* kContactPoint = "mairie-perche-en-noce";

// Every case the leader holds, whatever its state (GetStats), or -1.
int64_t CaseCount(SyncClient& client) {
  wire::Envelope request;
  request.mutable_get_stats();
  auto answer = client.Call(request, 5000);
  if (!answer.ok() || !answer->has_stats()) return -1;
  int64_t total = 0;
  for (const auto& [state, count] : answer->stats().cases_by_state()) total += count;
  return total;
}

}  // namespace

TEST_CASE("a pair's leader whose fsync fails stops; the retry finds the case once on the "
          "new leader" *
          doctest::timeout(120)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-fsync");
  FsyncShim shims[2] = {FsyncShim(pair.network().dir(), "broker-a"),
                        FsyncShim(pair.network().dir(), "broker-b")};
  int leader = pair.StartPaired([&](int node) { return shims[node].Environment(); });
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());

  auto agent = pair.network().BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto operator_client = pair.network().BrokerClient(wire::OPERATOR, "operator");
  for (int i = 0; i < 5; ++i) {
    std::string key = "before-" + std::to_string(i);
    auto answer = agent->Call(SubmitRequest("Avant " + key, key), 5000);
    REQUIRE_MESSAGE((answer.ok() && answer->has_accepted()), pair.Logs());
  }
  const int64_t cases_before = CaseCount(*operator_client);
  REQUIRE(cases_before == 5);

  // The leader's next fsync fails: its batch is written and shipped, never made durable here.
  size_t calls_before = shims[leader].Calls();
  shims[leader].Set("fail");
  auto failed = agent->Call(SubmitRequest("Pendant la panne", "during"), 5000);
  REQUIRE(failed.ok());
  CHECK_MESSAGE(failed->has_error(), "answered " << failed->DebugString());
  if (failed->has_error()) {
    CHECK(failed->error().code() == wire::UNAVAILABLE);
    MESSAGE("the failed batch was answered: " << failed->error().message());
  }
  CHECK(shims[leader].Calls() > calls_before);  // the shim was in the path
  // Fail-stop: the leader exits 75, never retrying the fsync.
  REQUIRE(pair.WaitForExit(leader, 10000));
  CHECK(pair.node(leader).process->ExitCode() == kExitDurabilityLost);

  int next = pair.WaitForLeader(20000, leader);
  REQUIRE_MESSAGE(next >= 0, "nobody took over\n" << pair.Logs());
  // The client retries with the same key until the new leader answers (strict mode: once a
  // standby holds a copy again, so the failed node comes back, as its supervisor would).
  shims[leader].Set("ok");
  REQUIRE(pair.StartNode(leader, {}, shims[leader].Environment()));
  REQUIRE_MESSAGE(pair.WaitPaired(next), pair.Logs());
  auto accepted = SubmitUntilAccepted(*agent, "Pendant la panne", "during");
  REQUIRE_MESSAGE(accepted.has_value(), pair.Logs());
  const std::string how = accepted->duplicate()
                              ? "already there: the standby held the batch the old leader "
                                "never synced"
                              : "new: the batch had not reached the standby";
  MESSAGE("the retry on the new leader: case " << accepted->case_id() << " (" << how << ")");
  // One case for the key, whether the standby held the failed batch or not; none before lost.
  CHECK(CaseCount(*operator_client) == cases_before + 1);
  auto again = agent->Call(SubmitRequest("Pendant la panne", "during"), 5000);
  REQUIRE((again.ok() && again->has_accepted()));
  CHECK(again->accepted().duplicate());
  CHECK(again->accepted().case_id() == accepted->case_id());
  CHECK(CaseCount(*operator_client) == cases_before + 1);
}

TEST_CASE("a pair's standby whose fsync fails stops; the leader acknowledges nothing without "
          "it, then carries on once it is back" *
          doctest::timeout(120)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-fsync-standby");
  FsyncShim shims[2] = {FsyncShim(pair.network().dir(), "broker-a"),
                        FsyncShim(pair.network().dir(), "broker-b")};
  int leader = pair.StartPaired([&](int node) { return shims[node].Environment(); });
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  const int standby = 1 - leader;
  auto agent = pair.network().BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto operator_client = pair.network().BrokerClient(wire::OPERATOR, "operator");
  auto before = agent->Call(SubmitRequest("Avant", "before"), 5000);
  REQUIRE_MESSAGE((before.ok() && before->has_accepted()), pair.Logs());

  // The standby's next fsync fails: it applied the batch, cannot make it durable, stops (75,
  // never retried); the leader gets no copy and, in strict mode, acknowledges nothing.
  size_t calls_before = shims[standby].Calls();
  shims[standby].Set("fail");
  auto refused = agent->Call(SubmitRequest("Sans copie", "without-copy"), 5000);
  REQUIRE(refused.ok());
  CHECK_MESSAGE(refused->has_error(), "answered " << refused->DebugString());
  if (refused->has_error()) CHECK(refused->error().code() == wire::UNAVAILABLE);
  CHECK(shims[standby].Calls() > calls_before);
  REQUIRE(pair.WaitForExit(standby, 10000));
  CHECK(pair.node(standby).process->ExitCode() == kExitDurabilityLost);
  CHECK(pair.node(leader).process->Running());  // the leader keeps serving (and waiting)

  // The standby restarted (its disk repaired): it catches up, the pair is whole, and the
  // same key is accepted once.
  shims[standby].Set("ok");
  REQUIRE(pair.StartNode(standby, {}, shims[standby].Environment()));
  auto accepted = SubmitUntilAccepted(*agent, "Sans copie", "without-copy");
  REQUIRE_MESSAGE(accepted.has_value(), pair.Logs());
  CHECK(CaseCount(*operator_client) == 2);
}
