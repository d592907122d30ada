// "Acknowledged means fsynced, and concurrent submissions share an fsync": many fake agent
// gateways submit at once; the broker's counters show fewer committed batches than committed
// messages, and a SIGKILL right after the acknowledgements loses none of them.
#include <doctest/doctest.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

struct Gateway {
  std::string contact_point;
  std::string agent;
};

// Two fake gateways per contact point of the Perche network: sixteen concurrent submitters.
std::vector<Gateway> SixteenGateways() {
  const std::vector<Gateway> contact_points = {
      {"mairie-perche-en-noce", "agent-noce-1"},       {"mairie-berdhuis", "agent-berdhuis-1"},
      {"mairie-bretoncelles", "agent-bretoncelles-1"}, {"mairie-remalard", "agent-remalard-1"},
      {"msap-postale-remalard", "agent-poste-remalard-1"},
      {"msap-mortagne", "agent-mortagne-1"},           {"msap-val-au-perche", "agent-val-1"},
      {"msa-mortagne", "agent-msa-1"},
  };
  std::vector<Gateway> gateways = contact_points;
  gateways.insert(gateways.end(), contact_points.begin(), contact_points.end());
  return gateways;
}

struct Acked {
  std::string contact_point;
  std::string case_id;
};

// Runs one thread per gateway, each submitting until `per_gateway` were acknowledged or `stop`
// is set or a submission fails (it is then simply not recorded: it was not acknowledged).
// Returns what was acknowledged.
std::vector<Acked> SubmitConcurrently(TestNetwork& network, const std::vector<Gateway>& gateways,
                                      size_t per_gateway, const std::string& phase,
                                      int timeout_ms, std::atomic<bool>& stop,
                                      std::atomic<size_t>& acked_count) {
  std::mutex mutex;
  std::vector<Acked> acked;
  std::vector<std::thread> threads;
  for (size_t g = 0; g < gateways.size(); ++g) {
    threads.emplace_back([&, g] {
      auto client = network.BrokerClient(wire::AGENT_GATEWAY, gateways[g].contact_point);
      for (size_t i = 0; i < per_gateway && !stop.load(); ++i) {
        std::string key = phase + "-" + std::to_string(g) + "-" + std::to_string(i);
        auto answer = client->CallOk(
            SubmitRequest("Demande " + key, key, "cpam", gateways[g].agent), timeout_ms);
        if (!answer.ok()) return;
        std::lock_guard lock(mutex);
        acked.push_back({gateways[g].contact_point, answer->accepted().case_id()});
        ++acked_count;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return acked;
}

}  // namespace

TEST_CASE("concurrent submissions share an fsync and every acknowledged one survives SIGKILL") {
  auto started = StartNetwork("group-commit", kNoRateLimit);
  REQUIRE(started);
  TestNetwork& network = *started;
  const auto gateways = SixteenGateways();

  // Phase 1: all sixteen gateways at once, each waiting for its acknowledgement before the next.
  std::atomic<bool> never{false};
  std::atomic<size_t> count{0};
  constexpr size_t kPerGateway = 40;
  auto acked = SubmitConcurrently(network, gateways, kPerGateway, "one", 5000, never, count);
  REQUIRE(acked.size() == gateways.size() * kPerGateway);

  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  auto stats = OperatorStats(*op);
  REQUIRE_MESSAGE(stats.ok(), stats.status().ToString());
  std::cout << "group commit: " << stats->messages_committed() << " messages in "
            << stats->batches_committed() << " batches for " << acked.size() << " submissions"
            << std::endl;
  // Each submission needs a durable write, so a batch per submission would be exactly
  // acked.size() batches; fewer means submissions shared an fsync.
  CHECK(stats->batches_committed() >= 1);
  CHECK(stats->messages_committed() > stats->batches_committed());
  CHECK(stats->batches_committed() < acked.size());
  CHECK(stats->messages_committed() >= acked.size());

  // Phase 2: SIGKILL the moment enough acknowledgements arrived, with submissions still in flight.
  std::atomic<bool> stop{false};
  std::atomic<size_t> phase_two_count{0};
  std::vector<Acked> acked_before_kill;
  std::thread submitters([&] {
    acked_before_kill =
        SubmitConcurrently(network, gateways, 1000, "two", 1000, stop, phase_two_count);
  });
  REQUIRE(WaitUntil([&] { return phase_two_count.load() >= 200; }, 30000, 1));
  network.broker().Kill();
  stop = true;
  submitters.join();
  REQUIRE(acked_before_kill.size() >= 200);

  REQUIRE_MESSAGE(RestartBroker(network, kNoRateLimit), network.broker().Log());
  std::map<std::string, std::unique_ptr<SyncClient>> agents;
  size_t checked = 0;
  for (const auto* list : {&acked, &acked_before_kill}) {
    for (const auto& entry : *list) {
      auto& agent = agents[entry.contact_point];
      if (!agent) agent = network.BrokerClient(wire::AGENT_GATEWAY, entry.contact_point);
      auto view = GetCaseView(*agent, entry.case_id);
      CHECK_MESSAGE(view.ok(), entry.case_id << " was acknowledged, then lost: "
                                             << view.status().ToString());
      if (!view.ok()) continue;
      CHECK(view->summary().state() == wire::SUBMITTED);
      CHECK(view->summary().partner() == "cpam");
      std::string problem = TimelineProblem(*view);
      CHECK_MESSAGE(problem.empty(), problem);
      ++checked;
    }
  }
  CHECK(checked == acked.size() + acked_before_kill.size());
  // The restarted broker's queue holds at least every acknowledged escalation.
  auto after = OperatorStats(*op);
  REQUIRE_MESSAGE(after.ok(), after.status().ToString());
  CHECK(QueueStatsOf(*after, "partner/cpam").depth() >= checked);
}
