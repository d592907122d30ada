// "Nothing acknowledged is lost": fake agent gateways submit a stream of escalations while the
// broker is killed with SIGKILL at random moments and restarted. Every escalation the broker
// acknowledged must exist afterwards, exactly once, with a sound timeline, and must reach its
// partner.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

struct Submitter {
  std::string contact_point;
  std::string agent;
  std::string partner;
};

struct AckedCase {
  std::string key;
  std::string case_id;
  Submitter submitter;
};

uint32_t SeedFromEnvironment(uint32_t fallback) {
  const char* text = std::getenv("APLUS_TEST_SEED");
  return text ? static_cast<uint32_t>(std::strtoul(text, nullptr, 10)) : fallback;
}

}  // namespace

TEST_CASE("nothing acknowledged is lost when the broker is killed at random moments") {
  const uint32_t seed = SeedFromEnvironment(std::random_device{}());
  std::cout << "durability_kill_system_test seed " << seed << " (rerun with APLUS_TEST_SEED="
            << seed << ")" << std::endl;
  std::mt19937 random(seed);

  auto started = StartNetwork("durability-kill", kNoRateLimit);
  REQUIRE(started);
  TestNetwork& network = *started;

  // Four fake agent gateways over two contact points, feeding two partner queues.
  const std::vector<Submitter> submitters = {
      {"mairie-perche-en-noce", "agent-noce-1", "france-travail"},
      {"mairie-perche-en-noce", "agent-noce-2", "msa"},
      {"mairie-berdhuis", "agent-berdhuis-1", "france-travail"},
      {"mairie-berdhuis", "agent-berdhuis-2", "msa"},
  };
  std::atomic<bool> stop{false};
  std::atomic<size_t> acked_count{0};
  std::mutex mutex;
  std::vector<AckedCase> acked;        // guarded by mutex
  std::vector<std::string> failures;   // guarded by mutex
  size_t duplicates_answered = 0;      // guarded by mutex: retries that found the first answer

  std::vector<std::thread> threads;
  for (size_t t = 0; t < submitters.size(); ++t) {
    threads.emplace_back([&, t] {
      const Submitter& me = submitters[t];
      auto client = network.BrokerClient(wire::AGENT_GATEWAY, me.contact_point);
      for (size_t i = 0; !stop.load(); ++i) {
        const std::string key = "t" + std::to_string(t) + "-k" + std::to_string(i);
        const int64_t give_up = SteadyNowMs() + 30000;
        bool retried = false;
        while (true) {
          auto answer = client->Call(
              SubmitRequest("Dossier " + key, key, me.partner, me.agent), 400);
          if (answer.ok() && answer->has_accepted()) {
            std::lock_guard lock(mutex);
            acked.push_back({key, answer->accepted().case_id(), me});
            if (answer->accepted().duplicate()) ++duplicates_answered;
            if (answer->accepted().duplicate() && !retried) {
              failures.push_back(key + ": first submission answered duplicate");
            }
            ++acked_count;
            break;
          }
          // Lost answers, a dead broker, or a broker that forgot the session: the same key
          // again, so a retry can never create a second case.
          bool retryable = !answer.ok() && (answer.status().code() == wire::UNREACHABLE ||
                                            answer.status().code() == wire::NOT_AUTHENTICATED);
          if (!retryable || SteadyNowMs() > give_up) {
            std::lock_guard lock(mutex);
            failures.push_back(key + ": " + (answer.ok() ? StatusOf(*answer).ToString()
                                                        : answer.status().ToString()));
            return;
          }
          retried = true;
        }
      }
    });
  }

  // Kill the broker five times at random moments while the submitters run.
  REQUIRE(WaitUntil([&] { return acked_count.load() >= 20; }, 15000, 5));
  std::uniform_int_distribution<int> interval_ms(100, 600);
  std::vector<size_t> acked_at_kill;
  for (int kill = 0; kill < 5; ++kill) {
    // Kill while submissions flow: first see the (restarted) broker acknowledge again, then
    // pause a random time. The pause is the point of the test (an arbitrary moment), not a wait.
    size_t before = acked_count.load();
    CHECK(WaitUntil([&] { return acked_count.load() >= before + 4; }, 20000, 2));
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms(random)));
    acked_at_kill.push_back(acked_count.load());
    network.broker().Kill();
    REQUIRE_MESSAGE(RestartBroker(network, kNoRateLimit), network.broker().Log());
  }
  // Let every submitter get through at least one more acknowledgement on the final broker.
  size_t after_last_restart = acked_count.load();
  CHECK(WaitUntil([&] { return acked_count.load() >= after_last_restart + 8; }, 20000, 5));
  stop = true;
  for (auto& thread : threads) thread.join();

  {
    std::string kills;
    for (size_t n : acked_at_kill) kills += " " + std::to_string(n);
    std::cout << "acknowledged " << acked.size() << " submissions (" << duplicates_answered
              << " answered as duplicates of a pre-crash commit); acked counts at kills:" << kills
              << std::endl;
  }
  for (const auto& failure : failures) FAIL_CHECK(failure);
  REQUIRE(failures.empty());
  REQUIRE(acked.size() >= 28);

  // One case per key, one key per case.
  std::map<std::string, std::string> case_by_key;
  std::map<std::string, std::string> key_by_case;
  for (const auto& entry : acked) {
    CHECK_MESSAGE(case_by_key.emplace(entry.key, entry.case_id).second,
                  "key " << entry.key << " acknowledged twice");
    auto [it, fresh] = key_by_case.emplace(entry.case_id, entry.key);
    CHECK_MESSAGE(fresh, "case " << entry.case_id << " answers keys " << it->second << " and "
                                 << entry.key);
  }

  // Every acknowledged case exists for its contact point, with a sound timeline, and no other
  // case exists: a retry never created a second case for a key.
  std::map<std::string, std::unique_ptr<SyncClient>> agents;
  for (const auto& s : submitters) {
    if (!agents.count(s.contact_point)) {
      agents[s.contact_point] = network.BrokerClient(wire::AGENT_GATEWAY, s.contact_point);
    }
  }
  std::map<std::string, std::set<std::string>> expected_by_contact_point;
  std::map<std::string, std::set<std::string>> expected_by_partner;
  for (const auto& entry : acked) {
    expected_by_contact_point[entry.submitter.contact_point].insert(entry.case_id);
    expected_by_partner[entry.submitter.partner].insert(entry.case_id);
    SyncClient& agent = *agents[entry.submitter.contact_point];
    auto view = GetCaseView(agent, entry.case_id);
    REQUIRE_MESSAGE(view.ok(), entry.case_id << " (key " << entry.key
                                             << ") acknowledged but lost: "
                                             << view.status().ToString());
    CHECK(view->summary().case_id() == entry.case_id);
    CHECK(view->summary().contact_point() == entry.submitter.contact_point);
    CHECK(view->summary().partner() == entry.submitter.partner);
    CHECK(view->summary().subject() == "Dossier " + entry.key);
    CHECK(view->summary().state() == wire::SUBMITTED);
    std::string problem = TimelineProblem(*view);
    CHECK_MESSAGE(problem.empty(), problem);
    CHECK(view->timeline_size() == 1);
    // The key still answers with the same case.
    auto again = agent.CallOk(SubmitRequest("Dossier " + entry.key, entry.key,
                                            entry.submitter.partner, entry.submitter.agent),
                              5000);
    REQUIRE_MESSAGE(again.ok(), again.status().ToString());
    CHECK(again->accepted().case_id() == entry.case_id);
    CHECK(again->accepted().duplicate());
  }
  for (auto& [contact_point, client] : agents) {
    auto listed = ListAllCaseIds(*client);
    REQUIRE_MESSAGE(listed.ok(), listed.status().ToString());
    CHECK_MESSAGE(*listed == expected_by_contact_point[contact_point],
                  contact_point << " lists " << listed->size() << " cases, "
                                << expected_by_contact_point[contact_point].size()
                                << " were acknowledged");
  }
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  {
    auto stats = OperatorStats(*op);
    REQUIRE_MESSAGE(stats.ok(), stats.status().ToString());
    auto submitted = stats->cases_by_state().find("SUBMITTED");
    REQUIRE(submitted != stats->cases_by_state().end());
    CHECK(submitted->second == acked.size());
  }

  // The partners drain their queues: every acknowledged case is delivered; a case comes twice
  // only as a redelivery.
  std::map<std::string, std::set<std::string>> delivered_by_partner;
  for (const auto& [partner_id, expected] : expected_by_partner) {
    auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, partner_id);
    REQUIRE(partner->CallOk(SubscribeRequest(64), 5000).ok());
    std::set<std::string>& delivered = delivered_by_partner[partner_id];
    auto take = [&](const wire::Delivery& delivery) {
      const std::string& case_id = delivery.escalation().case_id();
      CHECK_MESSAGE(delivery.has_escalation(), "delivery " << delivery.delivery_id());
      CHECK(delivery.queue() == "partner/" + partner_id);
      CHECK_MESSAGE(expected.count(case_id), "delivered " << case_id << " nobody acknowledged");
      bool first = delivered.insert(case_id).second;
      CHECK_MESSAGE((first || delivery.attempt() > 1),
                    case_id << " delivered twice with attempt " << delivery.attempt());
      REQUIRE(AckDelivery(*partner, delivery).ok());
    };
    while (delivered.size() < expected.size()) {
      auto delivery = NextDelivery(*partner, 10000);
      if (!delivery) break;
      take(*delivery);
    }
    CHECK_MESSAGE(delivered == expected, partner_id << ": " << delivered.size() << " of "
                                                    << expected.size() << " delivered");
    // Nothing else is waiting (a stray delivery would show here).
    while (auto extra = NextDelivery(*partner, 300)) take(*extra);
    CHECK(WaitUntil(
        [&] {
          auto stats = OperatorStats(*op);
          return stats.ok() && QueueStatsOf(*stats, "partner/" + partner_id).depth() == 0;
        },
        10000));
  }

  // Acknowledged deliveries are recorded: every case is now DELIVERED.
  for (const auto& entry : acked) {
    SyncClient& agent = *agents[entry.submitter.contact_point];
    wire::CaseView last;
    bool delivered = WaitUntil(
        [&] {
          auto view = GetCaseView(agent, entry.case_id);
          if (view.ok()) last = *view;
          return view.ok() && view->summary().state() == wire::DELIVERED;
        },
        10000);
    CHECK_MESSAGE(delivered, entry.case_id << " is " << wire::CaseState_Name(last.summary().state()));
    if (!delivered) continue;
    std::string problem = TimelineProblem(last);
    CHECK_MESSAGE(problem.empty(), problem);
    REQUIRE(last.timeline_size() == 2);
    CHECK(last.timeline(1).kind() == "DELIVERED");
    CHECK(last.timeline(1).actor() == entry.submitter.partner);
    CHECK(last.summary().delivery_attempts() >= 1);
  }
  CHECK(network.broker().Running());
}
