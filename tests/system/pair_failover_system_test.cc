// Issue 12: a pair of brokers on a real etcd cluster survives the loss of its leader with no
// acknowledged escalation lost (docs/AVAILABILITY.md). Real processes: three etcd members, two
// brokers, an agent gateway and a partner gateway that follow the leader.
//
// Rounds: APLUS_FAILOVER_ROUNDS (default 10, as in CI; the README's long command runs 200).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "tests/support/pair_network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

int Rounds() {
  const char* text = std::getenv("APLUS_FAILOVER_ROUNDS");
  return text ? std::max(1, std::atoi(text)) : 10;
}

// The partner gateway's inbox as read so far: subject -> the case ids it arrived under (more
// than one is a duplicate), and "" once for a subject listed twice in one read (the gateway
// storing one case twice is a duplicate too). GetInbox answers the newest 1,000 only (kMaxInboxLimit), so the
// test reads it at every round (a few new cases each) and keeps the union: 200 rounds take
// more than 1,000 cases, whose oldest a single read at the end would not see.
using InboxSeen = std::map<std::string, std::set<std::string>>;
void ReadInbox(SyncClient& partner, InboxSeen& seen) {
  wire::Envelope request;
  request.mutable_get_inbox()->set_limit(1000);
  auto answer = partner.Call(request, 5000);
  if (!answer.ok() || !answer->has_inbox()) return;
  std::map<std::string, int> in_this_read;
  for (const auto& escalation : answer->inbox().escalations()) {
    seen[escalation.subject()].insert(escalation.case_id());
    if (++in_this_read[escalation.subject()] > 1) seen[escalation.subject()].insert("");
  }
}

}  // namespace

// doctest checks a timeout when the test ends: it grows with the rounds (280 s for CI's 10), so
// that the README's 200 rounds are not failed for their length (every wait is bounded anyway).
TEST_CASE("a pair of brokers loses no acknowledged escalation when its leader is killed" *
          doctest::timeout(std::max(280.0, 60.0 + 25.0 * Rounds()))) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-failover");
  REQUIRE(pair.StartNode(0));
  int leader = pair.WaitForLeader();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  REQUIRE(pair.StartNode(1 - leader));
  REQUIRE_MESSAGE(pair.WaitPaired(leader), pair.Logs());

  TestNetwork& network = pair.network();
  REQUIRE(network.StartAgentGateway("mairie-perche-en-noce", {"--forward-timeout-ms", "3000"}));
  REQUIRE(network.StartPartnerGateway());
  auto partner = network.PartnerClient();

  // Submissions flow all along; an answer with a case id is the broker's acknowledgement
  // (Accepted after the standby's copy); one QUEUED_LOCALLY is the gateway's promise to
  // forward it. Both must reach the partner exactly once.
  std::mutex mutex;
  std::set<std::string> acknowledged, queued;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> last_acknowledged_ms{0};
  auto agent = network.AgentClient();
  std::thread submitter([&] {
    for (int i = 0; !stop.load(); ++i) {
      std::string subject = "failover " + std::to_string(i);
      auto answer = agent->Call(SubmitRequest(subject), 8000);
      if (answer.ok() && answer->has_accepted()) {
        std::lock_guard lock(mutex);
        if (!answer->accepted().case_id().empty()) {
          acknowledged.insert(subject);
          last_acknowledged_ms = SteadyNowMs();
        } else {
          queued.insert(subject);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  auto acknowledged_count = [&] {
    std::lock_guard lock(mutex);
    return acknowledged.size();
  };
  auto wait_for_more = [&](size_t count, int timeout_ms) {
    int64_t deadline = SteadyNowMs() + timeout_ms;
    while (acknowledged_count() < count && SteadyNowMs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return acknowledged_count() >= count;
  };
  REQUIRE_MESSAGE(wait_for_more(5, 20000), pair.Logs());

  std::vector<int64_t> failover_ms;
  InboxSeen inbox;
  for (int round = 0; round < Rounds(); ++round) {
    size_t before = acknowledged_count();
    int64_t killed_at = SteadyNowMs();
    pair.node(leader).process->Kill();
    int next = pair.WaitForLeader(20000, leader);
    REQUIRE_MESSAGE(next >= 0, "round " << round << ": nobody took over\n" << pair.Logs());
    // The supervisor restarts the killed node: it rejoins as the standby (a full copy).
    REQUIRE(pair.StartNode(leader));
    REQUIRE_MESSAGE(pair.WaitPaired(next), "round " << round << "\n" << pair.Logs());
    REQUIRE_MESSAGE(wait_for_more(before + 1, 30000), "round " << round << "\n" << pair.Logs());
    failover_ms.push_back(last_acknowledged_ms.load() - killed_at);
    leader = next;
    REQUIRE(wait_for_more(acknowledged_count() + 3, 20000));
    ReadInbox(*partner, inbox);
  }
  stop = true;
  submitter.join();

  std::set<std::string> taken;
  {
    std::lock_guard lock(mutex);
    taken = acknowledged;
    taken.insert(queued.begin(), queued.end());
  }
  // Everything taken reaches the partner, once.
  int64_t deadline = SteadyNowMs() + 30000;
  size_t missing = 0;
  do {
    ReadInbox(*partner, inbox);
    missing = 0;
    for (const auto& subject : taken) missing += inbox.count(subject) ? 0 : 1;
    if (missing == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (SteadyNowMs() < deadline);
  size_t lost_acknowledged = 0, duplicated = 0;
  for (const auto& subject : acknowledged) lost_acknowledged += inbox.count(subject) ? 0 : 1;
  for (const auto& [subject, cases] : inbox) duplicated += cases.size() > 1 ? 1 : 0;
  std::sort(failover_ms.begin(), failover_ms.end());
  MESSAGE("pair failover: " << Rounds() << " leaders killed; " << acknowledged.size()
                            << " acknowledged, " << queued.size() << " queued at the gateway, "
                            << lost_acknowledged << " acknowledged lost, " << missing
                            << " taken and missing, " << duplicated << " duplicated; "
                            << "leader killed -> next Accepted: max " << failover_ms.back()
                            << " ms, median " << failover_ms[failover_ms.size() / 2] << " ms");
  CHECK(lost_acknowledged == 0);
  CHECK(missing == 0);
  CHECK(duplicated == 0);
}
