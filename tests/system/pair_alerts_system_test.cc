// Issue 12: SLA alerts across failovers of a pair (docs/AVAILABILITY.md, "Clients follow the
// leader"). France Travail gets "8 secondes" to reply and the network warns 4 seconds before,
// so warnings and breaches come due before, during and after each SIGKILL of the leader. The
// timers run only on the leader and resume on the new one; alert ids are deterministic, so each
// case gets exactly one warning and one breach on the survivor, and no publication (from either
// broker) names an alert twice or an alert the survivor does not hold (only alerts the standby
// holds are published).
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/wire.h"
#include "tests/support/alert_subscriber.h"
#include "tests/support/pair_network.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

constexpr const char* kContactPoint = "mairie-perche-en-noce";
constexpr int kRounds = 3;
constexpr int kCasesPerRound = 3;

}  // namespace

TEST_CASE("a pair raises each SLA alert once across failovers; its timers resume on the new "
          "leader" *
          doctest::timeout(240)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-alerts", PairNetwork::kStrict, 3, [](std::string& toml) {
    ShortenReplyWindow(toml, "8 secondes", "4 secondes");
  });
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  TestNetwork& network = pair.network();

  // Every publication of both brokers, counted by alert id.
  std::mutex mutex;
  std::map<std::string, int> published;
  std::atomic<bool> stop{false};
  std::thread listener([&] {
    AlertSubscriber subscriber(network.context(), {pair.node(0).alerts, pair.node(1).alerts},
                               network.Keys(wire::OPERATOR, "operator"));
    while (!stop.load()) {
      auto next = subscriber.Next(200);
      if (!next) continue;
      std::lock_guard lock(mutex);
      ++published[next->second.alert_id()];
    }
  });

  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  std::vector<std::string> cases;
  // Retried with the same key until a leader accepts it (one case, however many tries).
  auto submit = [&](const std::string& key) {
    auto accepted = SubmitUntilAccepted(*agent, "Alertes " + key, key);
    if (accepted) cases.push_back(accepted->case_id());
    return accepted.has_value();
  };
  for (int round = 0; round <= kRounds; ++round) {
    for (int i = 0; i < kCasesPerRound; ++i) {
      REQUIRE_MESSAGE(submit("round-" + std::to_string(round) + "-" + std::to_string(i)),
                      pair.Logs());
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    }
    if (round == kRounds) break;
    pair.node(leader).process->Kill();
    int next = pair.WaitForLeader(20000, leader);
    REQUIRE_MESSAGE(next >= 0, "round " << round << ": nobody took over\n" << pair.Logs());
    REQUIRE(pair.StartNode(leader));  // back as the standby (a full copy)
    REQUIRE_MESSAGE(pair.WaitPaired(next), "round " << round << "\n" << pair.Logs());
    leader = next;
  }

  // Every case's warning and breach, raised by whichever broker led when they came due.
  auto operator_client = network.BrokerClient(wire::OPERATOR, "operator");
  std::vector<wire::Alert> alerts;
  auto all_raised = [&] {
    for (const auto& case_id : cases) {
      if (AlertsOf(alerts, case_id, wire::Alert::WARNING).empty() ||
          AlertsOf(alerts, case_id, wire::Alert::BREACH).empty()) {
        return false;
      }
    }
    return true;
  };
  int64_t deadline = SteadyNowMs() + 60000;
  do {
    auto read = AllAlerts(*operator_client);
    if (read.ok()) alerts = std::move(read).value();
    if (all_raised()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  } while (SteadyNowMs() < deadline);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the last publications
  stop = true;
  listener.join();

  CHECK_MESSAGE(all_raised(), "not every case got its warning and breach\n" << pair.Logs());
  std::set<std::string> stored;
  size_t stored_twice = 0;
  for (const auto& alert : alerts) stored_twice += stored.insert(alert.alert_id()).second ? 0 : 1;
  size_t cases_with_two_warnings = 0, cases_with_two_breaches = 0;
  for (const auto& case_id : cases) {
    cases_with_two_warnings += AlertsOf(alerts, case_id, wire::Alert::WARNING).size() > 1;
    cases_with_two_breaches += AlertsOf(alerts, case_id, wire::Alert::BREACH).size() > 1;
  }
  size_t published_twice = 0, published_unknown = 0;
  for (const auto& [alert_id, count] : published) {
    published_twice += count > 1 ? 1 : 0;
    published_unknown += stored.count(alert_id) ? 0 : 1;
  }
  MESSAGE("pair alerts: " << kRounds << " leaders killed, " << cases.size() << " cases, "
                          << alerts.size() << " alerts stored on the survivor, "
                          << published.size() << " published (" << published_twice
                          << " twice, " << published_unknown << " unknown to the survivor)");
  CHECK(cases.size() == static_cast<size_t>((kRounds + 1) * kCasesPerRound));
  CHECK(stored_twice == 0);
  CHECK(cases_with_two_warnings == 0);
  CHECK(cases_with_two_breaches == 0);
  CHECK(published_twice == 0);
  CHECK(published_unknown == 0);
  // Most alerts are published live (one raised just before a kill may be stored and copied but
  // never published: the console and `aplus alerts` read the stored list).
  CHECK(published.size() * 2 >= alerts.size());
}
