// Issue 12 and the operations issue: a pair's standby whose key is revoked mid-stream
// (docs/AVAILABILITY.md, "Roles"; README, "Keys"). The leader stops shipping to it at the next
// keyring poll (our data, personal data included, no longer goes to a key operators withdrew)
// and refuses its attachments; strict mode then acknowledges nothing (no standby copy) until
// the key is admitted again, when the standby attaches, catches up and the pair is whole.
// Real processes: three etcd members, two brokers; `aplus keyring remove/add` as an operator
// would run them.
#include <doctest/doctest.h>

#include <thread>

#include "common/clock.h"
#include "common/network_keys.h"
#include "common/wire.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/pair_network.h"
#include "tests/support/prometheus_text.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

constexpr const char* kContactPoint = "mairie-perche-en-noce";

}  // namespace

TEST_CASE("a standby whose key is revoked mid-stream gets nothing more until admitted again" *
          doctest::timeout(120)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-keyring");
  std::string urls[2] = {pair.EnableHttp(0), pair.EnableHttp(1)};
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  const int standby = 1 - leader;
  CHECK(Sample(ScrapeUntil(urls[standby], "aplus_replication_following", 1, 10000),
               "aplus_replication_following") == 1);
  TestNetwork& network = pair.network();
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  // A stream of submissions while the key goes.
  std::atomic<bool> stop{false};
  std::atomic<int> accepted_in_stream{0};
  std::thread stream([&] {
    auto client = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
    for (int i = 0; !stop.load(); ++i) {
      std::string key = "stream-" + std::to_string(i);
      auto answer = client->Call(SubmitRequest("Flux " + key, key), 3000);
      if (answer.ok() && answer->has_accepted()) ++accepted_in_stream;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  auto [removed, removed_output] = pair.RevokePeerKey(standby);
  REQUIRE_MESSAGE(removed == 0, removed_output);
  CHECK_MESSAGE(pair.node(leader).process->WaitForLog("dropped (its key left the keyring)", 5000),
                pair.Logs());
  stop = true;
  stream.join();
  CHECK(accepted_in_stream.load() > 0);
  // Strict mode: no standby copy, nothing acknowledged; the standby's attachments are refused.
  auto refused = agent->Call(SubmitRequest("Clés without-standby", "without-standby"), 5000);
  REQUIRE(refused.ok());
  CHECK_MESSAGE(refused->has_error(), "answered " << refused->DebugString());
  if (refused->has_error()) CHECK(refused->error().code() == wire::UNAVAILABLE);
  CHECK_MESSAGE(pair.node(leader).process->WaitForLog(
                    "Attach naming node '" + pair.node(standby).name +
                        "' from a key of principal '': refused",
                    5000),
                pair.Logs());
  CHECK(pair.node(standby).process->Running());  // it waits; nothing of it is lost
  // Operators see it: the standby copies nothing (AplusStandbyNotFollowing).
  CHECK(Sample(ScrapeUntil(urls[standby], "aplus_replication_following", 0, 10000),
               "aplus_replication_following") == 0);

  // Admitted again: the standby attaches, catches up, is named; acknowledgements resume.
  auto [added, added_output] = pair.AdmitPeerKey(standby);
  REQUIRE_MESSAGE(added == 0, added_output);
  // The same key: one case in the end.
  bool accepted =
      SubmitUntilAccepted(*agent, "Clés without-standby", "without-standby").has_value();
  CHECK_MESSAGE(accepted, pair.Logs());
  CHECK(Sample(ScrapeUntil(urls[standby], "aplus_replication_following", 1, 10000),
               "aplus_replication_following") == 1);
}

TEST_CASE("a standby stops following a leader whose peer key is revoked" * doctest::timeout(120)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-keyring-leader");
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  const int standby = 1 - leader;
  TestNetwork& network = pair.network();
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto before = agent->Call(SubmitRequest("Clés avant", "before"), 5000);
  REQUIRE((before.ok() && before->has_accepted()));

  // The keyring both nodes read here: the leader's peer key goes. The standby polls its
  // keyring every second.
  auto [removed, removed_output] = pair.RevokePeerKey(leader);
  REQUIRE_MESSAGE(removed == 0, removed_output);
  CHECK_MESSAGE(pair.node(standby).process->WaitForLog("left the keyring: not following it", 5000),
                pair.Logs());
  // The leader loses it (its link is gone, or it falls silent); strict mode refuses.
  const std::string name = pair.node(standby).name;
  CHECK_MESSAGE(WaitUntil(
                    [&] {
                      std::string log = pair.node(leader).process->Log();
                      return log.find("standby " + name + " unreachable") != std::string::npos ||
                             log.find("standby " + name + " dropped") != std::string::npos;
                    },
                    10000),
                pair.Logs());
  auto refused = agent->Call(SubmitRequest("Clés pendant", "during"), 5000);
  REQUIRE(refused.ok());
  CHECK_MESSAGE(refused->has_error(), "answered " << refused->DebugString());

  // Admitted again: followed again, the pair whole, the same key accepted once.
  auto [added, added_output] = pair.AdmitPeerKey(leader);
  REQUIRE_MESSAGE(added == 0, added_output);
  bool accepted = SubmitUntilAccepted(*agent, "Clés pendant", "during").has_value();
  CHECK_MESSAGE(accepted, pair.Logs());
}
