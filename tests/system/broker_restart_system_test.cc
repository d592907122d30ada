// Finding 1 of issue 8: a broker restarted quickly (back within the gateways' silence limit, as
// `systemctl restart` does) used to stop deliveries for good: the partner gateway's pings got
// pongs, so its link stayed "ready" while the new broker had no session and no subscription
// for it. The links now notice the new broker instance (Pong.instance_id) and say Hello and
// Subscribe again at once (common/broker_link.h).
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

// The case ids in the partner gateway's inbox.
std::set<std::string> InboxCaseIds(SyncClient& partner) {
  wire::Envelope request;
  request.mutable_get_inbox()->set_limit(1000);
  std::set<std::string> ids;
  auto answer = partner.Call(request, 3000);
  if (!answer.ok() || !answer->has_inbox()) return ids;
  for (const auto& escalation : answer->inbox().escalations()) ids.insert(escalation.case_id());
  return ids;
}

// Waits until every id of `expected` is in the inbox; returns those still missing.
std::set<std::string> WaitForInbox(SyncClient& partner, const std::set<std::string>& expected,
                                   int timeout_ms) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  std::set<std::string> missing = expected;
  while (true) {
    auto present = InboxCaseIds(partner);
    for (auto it = missing.begin(); it != missing.end();) {
      it = present.count(*it) ? missing.erase(it) : std::next(it);
    }
    if (missing.empty() || SteadyNowMs() >= deadline) return missing;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Bytes in the RocksDB write-ahead log files of a data dir. A clean stop leaves none to
// replay: the memtables were written out as table files (the log's files then hold nothing,
// or are gone), so the next start is quick.
uintmax_t LogBytes(const std::string& data_dir) {
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir)) {
    if (entry.path().extension() == ".log") bytes += entry.file_size();
  }
  return bytes;
}

}  // namespace

TEST_CASE("deliveries resume by themselves after quick broker restarts (SIGKILL, SIGTERM)" *
          doctest::timeout(120)) {
  TestNetwork network("broker-restart");
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartAgentGateway("mairie-perche-en-noce", {"--forward-timeout-ms", "3000"}));
  REQUIRE(network.StartPartnerGateway());
  auto partner = network.PartnerClient();

  // Cases flow from a thread of their own all along, restarts included.
  std::mutex mutex;
  std::set<std::string> accepted;
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  auto agent = network.AgentClient();
  std::thread submitter([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto answer = agent->Call(SubmitRequest("restart " + std::to_string(i)), 4000);
      ++sent;
      if (answer.ok() && answer->has_accepted() && !answer->accepted().case_id().empty()) {
        std::lock_guard lock(mutex);
        accepted.insert(answer->accepted().case_id());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto accepted_now = [&] {
    std::lock_guard lock(mutex);
    return accepted;
  };
  auto wait_for_accepted = [&](size_t count) {
    int64_t deadline = SteadyNowMs() + 20000;
    while (accepted_now().size() < count && SteadyNowMs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return accepted_now().size() >= count;
  };

  REQUIRE(wait_for_accepted(5));
  CHECK(WaitForInbox(*partner, accepted_now(), 15000).empty());

  // Quick restart 1: SIGKILL, back at once. Quick restart 2: SIGTERM, back after a second.
  network.broker().Kill();
  REQUIRE(network.StartBroker());
  size_t before = accepted_now().size();
  REQUIRE(wait_for_accepted(before + 5));
  network.broker().Stop();
  CHECK(LogBytes(network.BrokerDataDir()) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  REQUIRE(network.StartBroker());
  int64_t ready_at = SteadyNowMs();

  // Deliveries resume without any request from the partner: a case accepted now reaches the
  // inbox soon (2 s in the contract; the bound leaves room for a loaded machine).
  before = accepted_now().size();
  REQUIRE(wait_for_accepted(before + 1));
  std::set<std::string> fresh;
  for (const auto& id : accepted_now()) fresh.insert(id);
  auto missing_fresh = WaitForInbox(*partner, fresh, 10000);
  MESSAGE("deliveries resumed " << SteadyNowMs() - ready_at << " ms after the broker was ready");
  CHECK(missing_fresh.empty());

  REQUIRE(wait_for_accepted(accepted_now().size() + 5));
  stop = true;
  submitter.join();

  // Every accepted case reaches the partner's inbox.
  auto all = accepted_now();
  auto missing = WaitForInbox(*partner, all, 15000);
  INFO(missing.size() << " of " << all.size() << " accepted cases never reached the partner ("
                      << sent.load() << " sent); partner log:\n"
                      << network.partner_gateway().Log());
  CHECK(missing.empty());

  // The gateways' clean stops (SIGTERM) leave no log to replay either.
  network.agent_gateway().Stop();
  network.partner_gateway().Stop();
  CHECK(LogBytes(network.AgentGatewayDataDir("mairie-perche-en-noce")) == 0);
  CHECK(LogBytes(network.PartnerGatewayDataDir("france-travail")) == 0);
}
