// Issue 12, fencing (docs/AVAILABILITY.md, "The lease"): a leader frozen (SIGSTOP) past its
// lease is replaced by its synchronous standby, which leads in a higher epoch; woken (SIGCONT),
// the old leader acknowledges nothing more and exits with status 76 ("demoted"); restarted, it
// rejoins by a full copy and the pair is whole again. Real processes: three etcd members, two
// brokers, a partner gateway; the submissions go straight to each broker's endpoint, so that
// the test knows which node (and epoch) acknowledged each one.
#include <doctest/doctest.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "common/clock.h"
#include "common/exit_codes.h"
#include "common/wire.h"
#include "tests/support/ha_history.h"
#include "tests/support/pair_network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

constexpr const char* kContactPoint = "mairie-berdhuis";
constexpr const char* kAgent = "agent-berdhuis-1";

bool WaitFor(const std::function<bool()>& condition, int timeout_ms) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (!condition()) {
    if (SteadyNowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::string Describe(const Result<wire::Envelope>& answer) {
  if (!answer.ok()) return answer.status().ToString();
  if (answer->has_accepted()) return "Accepted " + answer->accepted().case_id();
  return StatusOf(*answer).ToString();
}

// A client of exactly one broker of the pair (no following: NOT_LEADER comes back as such).
std::unique_ptr<SyncClient> DirectClient(TestNetwork& network, const std::string& endpoint) {
  wire::Hello hello;
  hello.set_role(wire::AGENT_GATEWAY);
  hello.set_principal(kContactPoint);
  hello.set_software("test");
  return std::make_unique<SyncClient>(network.context(), endpoint, hello,
                                      network.Keys(wire::AGENT_GATEWAY, kContactPoint));
}

wire::Envelope Submit(const std::string& key) {
  return SubmitRequest("fencing " + key, key, "france-travail", kAgent);
}

// "Pair: leader b (epoch 12), mode strict, paired, ..." from `aplus stats`: (node, epoch).
std::pair<std::string, int64_t> PairLine(const std::string& stats) {
  size_t at = stats.find("Pair: leader ");
  if (at == std::string::npos) return {"", 0};
  size_t name_end = stats.find(' ', at + 13);
  size_t epoch_at = stats.find("(epoch ", at);
  if (name_end == std::string::npos || epoch_at == std::string::npos) return {"", 0};
  return {stats.substr(at + 13, name_end - at - 13), std::atoll(stats.c_str() + epoch_at + 7)};
}

void RunFencing(const std::string& mode) {
  PairNetwork pair("pair-fencing-" + mode, "mode = \"" + mode + "\"\n"
                                           "lease_ttl_s = 3\n"
                                           "lease_margin_ms = 1000\n");
  TestNetwork& network = pair.network();
  network.Keys(wire::AGENT_GATEWAY, kContactPoint);  // in the keyring before the brokers start
  HaHistory history;
  auto record_stats = [&](const char* when) {
    auto [code, out] = network.Aplus("stats");
    auto [node, epoch] = PairLine(out);
    INFO(when << ": aplus stats:\n" << out);
    CHECK(code == 0);
    CHECK(epoch > 0);
    if (epoch > 0) history.RecordEpoch("aplus stats", node, epoch);
    return out;
  };

  REQUIRE(pair.StartNode(0));
  const int old_leader = pair.WaitForLeader();
  REQUIRE_MESSAGE(old_leader >= 0, pair.Logs());
  const int standby = 1 - old_leader;
  REQUIRE(pair.StartNode(standby));
  REQUIRE_MESSAGE(pair.WaitPaired(old_leader), pair.Logs());
  REQUIRE(network.StartPartnerGateway());
  const std::string old_name = pair.node(old_leader).name;
  const std::string new_name = pair.node(standby).name;
  const int64_t old_epoch = pair.EpochOf(old_leader);
  REQUIRE(old_epoch > 0);
  history.RecordEpoch("broker logs", old_name, old_epoch);
  record_stats("paired");

  std::vector<std::pair<std::string, std::string>> acknowledged;  // (key, case id)
  auto old_client = DirectClient(network, pair.node(old_leader).endpoint);
  {
    auto answer = old_client->Call(Submit("before"), 10000);
    REQUIRE_MESSAGE((answer.ok() && answer->has_accepted()), Describe(answer) << "\n" << pair.Logs());
    history.RecordSubmissionAcknowledged(kContactPoint, "before", answer->accepted().case_id(),
                                         old_epoch, old_name);
    acknowledged.emplace_back("before", answer->accepted().case_id());
  }

  // Frozen: its lease runs out while it cannot notice.
  REQUIRE(pair.node(old_leader).process->Pause());
  history.RecordLeaderKilled(old_name);
  // A submission that waits in the frozen leader's socket: once woken it must not accept it.
  Result<wire::Envelope> while_frozen = Status(wire::UNREACHABLE, "not answered yet");
  std::thread frozen_submitter(
      [&] { while_frozen = old_client->Call(Submit("sent-while-frozen"), 15000); });

  const int new_leader = pair.WaitForLeader(20000, old_leader);
  if (new_leader < 0) pair.node(old_leader).process->Resume();
  REQUIRE_MESSAGE(new_leader == standby, pair.Logs());
  const int64_t new_epoch = pair.EpochOf(new_leader);
  CHECK(new_epoch > old_epoch);
  history.RecordEpoch("broker logs", new_name, new_epoch);
  auto new_client = DirectClient(network, pair.node(new_leader).endpoint);

  if (mode == "degraded") {
    // Alone (its standby is the frozen node): it acknowledges from its own disk.
    Result<wire::Envelope> answer = Status(wire::UNREACHABLE, "not sent");
    bool accepted = WaitFor([&] {
      answer = new_client->Call(Submit("alone"), 5000);
      return answer.ok() && answer->has_accepted();
    }, 20000);
    REQUIRE_MESSAGE(accepted, Describe(answer) << "\n" << pair.Logs());
    history.RecordSubmissionAcknowledged(kContactPoint, "alone", answer->accepted().case_id(),
                                         new_epoch, new_name);
    acknowledged.emplace_back("alone", answer->accepted().case_id());
  } else {
    // Strict: no standby holds a copy, so nothing is acknowledged.
    auto answer = new_client->Call(Submit("without-standby"), 5000);
    INFO(Describe(answer));
    CHECK_FALSE((answer.ok() && answer->has_accepted()));
  }

  // Woken: it sees its lease gone and stops; meanwhile, nothing it answers is Accepted.
  pair.node(old_leader).process->Resume();
  std::atomic<bool> exited{false};
  std::vector<std::string> after_wake;  // answers of the woken leader
  std::thread waker_client([&] {
    auto client = DirectClient(network, pair.node(old_leader).endpoint);
    for (int i = 0; !exited.load() && i < 20; ++i) {
      auto answer = client->Call(Submit("after-wake-" + std::to_string(i)), 1500);
      after_wake.push_back(Describe(answer));
    }
  });
  bool stopped = WaitFor([&] { return !pair.node(old_leader).process->Running(); }, 20000);
  exited = true;
  waker_client.join();
  frozen_submitter.join();
  INFO(pair.Logs());
  REQUIRE(stopped);
  CHECK(pair.node(old_leader).process->ExitCode() == kExitDemoted);
  CHECK(pair.node(old_leader).process->Log().find("no longer the leader") != std::string::npos);
  MESSAGE("submitted to the frozen leader, answered: " << Describe(while_frozen) << "; woken, it "
          "answered " << after_wake.size() << " more before it exited");
  {
    INFO("submitted to the frozen leader: " << Describe(while_frozen));
    CHECK_FALSE((while_frozen.ok() && while_frozen->has_accepted()));
    if (while_frozen.ok() && while_frozen->has_accepted()) {
      // For the checker too: an old epoch acknowledging after the new one did.
      history.RecordSubmissionAcknowledged(kContactPoint, "sent-while-frozen",
                                           while_frozen->accepted().case_id(), old_epoch,
                                           old_name);
    }
  }
  for (const auto& answer : after_wake) {
    INFO("answered by the woken leader: " << answer);
    CHECK(answer.rfind("Accepted", 0) != 0);
  }

  // Restarted (its supervisor's job), it rejoins by a full copy and the pair is whole again.
  REQUIRE(pair.StartNode(old_leader));
  CHECK_MESSAGE(pair.node(old_leader).process->WaitForLog("full copy installed", 40000),
                pair.Logs());
  REQUIRE_MESSAGE(pair.WaitPaired(new_leader, 40000), pair.Logs());
  {
    Result<wire::Envelope> answer = Status(wire::UNREACHABLE, "not sent");
    bool accepted = WaitFor([&] {
      answer = new_client->Call(Submit("paired-again"), 5000);
      return answer.ok() && answer->has_accepted();
    }, 20000);
    REQUIRE_MESSAGE(accepted, Describe(answer) << "\n" << pair.Logs());
    history.RecordSubmissionAcknowledged(kContactPoint, "paired-again",
                                         answer->accepted().case_id(), new_epoch, new_name);
    acknowledged.emplace_back("paired-again", answer->accepted().case_id());
  }
  std::string stats = record_stats("paired again");
  CHECK(stats.find("Pair: leader " + new_name) != std::string::npos);
  CHECK(stats.find(", paired") != std::string::npos);

  // What the survivor holds, and what reached the partner.
  history.SetSurvivor(new_name);
  for (const auto& [key, case_id] : acknowledged) {
    auto answer = new_client->Call(GetCaseRequest(case_id), 5000);
    if (answer.ok() && answer->has_case_view()) history.AddSurvivorCase(case_id, kContactPoint, key);
  }
  auto partner = network.PartnerClient();
  WaitFor([&] {
    wire::Envelope request;
    request.mutable_get_inbox()->set_limit(1000);
    auto inbox = partner->Call(request, 5000);
    if (!inbox.ok() || !inbox->has_inbox()) return false;
    size_t seen = 0;
    for (const auto& escalation : inbox->inbox().escalations()) {
      for (const auto& [key, case_id] : acknowledged) {
        if (escalation.case_id() == case_id) ++seen;
      }
    }
    return seen >= acknowledged.size();
  }, 30000);
  {
    wire::Envelope request;
    request.mutable_get_inbox()->set_limit(1000);
    auto inbox = partner->Call(request, 5000);
    if (inbox.ok() && inbox->has_inbox()) {
      for (const auto& escalation : inbox->inbox().escalations()) {
        history.RecordDelivered(escalation.case_id());
      }
    }
  }
  HaSummary summary = history.Summary();
  std::cout << "pair fencing (" << mode << "):\n" << summary.ToText() << std::endl;
  CHECK_MESSAGE(summary.ok(), summary.ToText());
  CHECK(summary.epochs.size() == 2);
}

}  // namespace

TEST_CASE("pair (strict): a leader frozen past its lease acknowledges nothing more, exits 76 and "
          "rejoins by a full copy" * doctest::timeout(150)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  RunFencing("strict");
}

TEST_CASE("pair (degraded): the new leader acknowledges alone, the frozen one nothing once "
          "woken" * doctest::timeout(150)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  RunFencing("degraded");
}
