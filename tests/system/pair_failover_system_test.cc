// Issue 12: a pair of brokers on a real etcd cluster survives the loss of its leader with no
// acknowledged escalation lost (docs/AVAILABILITY.md). Real processes: three etcd members, two
// brokers, an agent gateway and a partner gateway that follow the leader. The partner replies to
// what it receives; every reply it was promised must reach the contact point, once. The checker
// (tests/support/ha_history.h) prints the Jepsen-style summary and must find no breach.
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
#include "common/wire.h"
#include "tests/support/ha_history.h"
#include "tests/support/pair_network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

int Rounds() {
  const char* text = std::getenv("APLUS_FAILOVER_ROUNDS");
  return text ? std::max(1, std::atoi(text)) : 10;
}

constexpr const char* kContactPoint = "mairie-perche-en-noce";

// The partner gateway's inbox: (subject, case id), one per escalation it holds.
std::vector<std::pair<std::string, std::string>> Inbox(SyncClient& partner) {
  wire::Envelope request;
  request.mutable_get_inbox()->set_limit(100000);
  std::vector<std::pair<std::string, std::string>> escalations;
  auto answer = partner.Call(request, 5000);
  if (!answer.ok() || !answer->has_inbox()) return escalations;
  for (const auto& escalation : answer->inbox().escalations()) {
    escalations.emplace_back(escalation.subject(), escalation.case_id());
  }
  return escalations;
}

// The partner gateway's inbox as read so far: subject -> the case ids it arrived under (more
// than one is a duplicate; "" marks a subject listed twice in one read, the gateway storing
// one case twice). GetInbox answers the newest 1,000 only, so the test reads it at every round
// and keeps the union: 200 rounds take more than 1,000 cases.
using InboxSeen = std::map<std::string, std::set<std::string>>;
void ReadInbox(SyncClient& partner, InboxSeen& seen) {
  std::map<std::string, int> in_this_read;
  for (const auto& [subject, case_id] : Inbox(partner)) {
    seen[subject].insert(case_id);
    if (++in_this_read[subject] > 1) seen[subject].insert("");
  }
}

wire::Envelope Reply(const std::string& case_id) {
  wire::Envelope envelope;
  envelope.mutable_reply_case()->set_case_id(case_id);
  envelope.mutable_reply_case()->set_text("Réponse au dossier " + case_id);
  envelope.mutable_reply_case()->set_idempotency_key("reply-" + case_id);
  return envelope;
}

}  // namespace

TEST_CASE("a pair of brokers loses no acknowledged escalation when its leader is killed" *
          doctest::timeout(std::max(280.0, 60.0 + 25.0 * Rounds()))) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  HaCheckOptions check_options;
  // The submitter records after its answer arrives: a little slack for the order of records.
  check_options.late_acknowledgement_grace = std::chrono::milliseconds(2000);
  HaHistory history(check_options);
  PairNetwork pair("pair-failover");
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  history.RecordEpoch("broker logs", pair.node(leader).name, pair.EpochOf(leader));

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
      auto answer = agent->Call(SubmitRequest(subject, subject), 8000);
      if (answer.ok() && answer->has_accepted()) {
        std::lock_guard lock(mutex);
        history.RecordSubmissionAcknowledged(kContactPoint, subject, answer->accepted().case_id());
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
  // The partner replies to each case it received (through its gateway, which follows the
  // leader); a CaseUpdated answer (ANSWERED, or queued in the gateway's outbox) is a promise
  // that the reply reaches the contact point.
  std::set<std::string> replied;  // case ids; only the replier thread touches it until joined
  std::thread replier([&] {
    auto replier_client = network.PartnerClient();
    while (!stop.load()) {
      for (const auto& [subject, case_id] : Inbox(*replier_client)) {
        if (stop.load()) break;
        if (replied.count(case_id)) continue;
        auto answer = replier_client->Call(Reply(case_id), 8000);
        if (answer.ok() && answer->has_case_updated()) {
          replied.insert(case_id);
          history.RecordReplyAcknowledged(case_id, "reply-" + case_id);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
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
  InboxSeen inbox_seen;
  for (int round = 0; round < Rounds(); ++round) {
    size_t before = acknowledged_count();
    int64_t killed_at = SteadyNowMs();
    pair.node(leader).process->Kill();
    history.RecordLeaderKilled(pair.node(leader).name);
    int next = pair.WaitForLeader(20000, leader);
    REQUIRE_MESSAGE(next >= 0, "round " << round << ": nobody took over\n" << pair.Logs());
    history.RecordEpoch("broker logs", pair.node(next).name, pair.EpochOf(next));
    // The supervisor restarts the killed node: it rejoins as the standby (a full copy).
    REQUIRE(pair.StartNode(leader));
    REQUIRE_MESSAGE(pair.WaitPaired(next), "round " << round << "\n" << pair.Logs());
    REQUIRE_MESSAGE(wait_for_more(before + 1, 30000), "round " << round << "\n" << pair.Logs());
    failover_ms.push_back(last_acknowledged_ms.load() - killed_at);
    leader = next;
    REQUIRE(wait_for_more(acknowledged_count() + 3, 20000));
    ReadInbox(*partner, inbox_seen);
  }
  stop = true;
  submitter.join();
  replier.join();

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
    ReadInbox(*partner, inbox_seen);
    missing = 0;
    for (const auto& subject : taken) missing += inbox_seen.count(subject) ? 0 : 1;
    if (missing == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (SteadyNowMs() < deadline);
  size_t lost_acknowledged = 0, duplicated = 0;
  for (const auto& subject : acknowledged) lost_acknowledged += inbox_seen.count(subject) ? 0 : 1;
  for (const auto& [subject, case_ids] : inbox_seen) duplicated += case_ids.size() > 1 ? 1 : 0;
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

  // The survivor's cases: every escalation the partner holds (by its subject, which is also
  // its idempotency key), read back from the leader; and every case acknowledged.
  auto operator_client = network.BrokerClient(wire::OPERATOR, "operator");
  history.SetSurvivor(pair.node(leader).name);
  std::set<std::string> survivor_read;
  auto read_case = [&](const std::string& case_id, const std::string& key) {
    if (!survivor_read.insert(case_id).second) return;
    auto answer = operator_client->Call(GetCaseRequest(case_id), 5000);
    if (answer.ok() && answer->has_case_view()) history.AddSurvivorCase(case_id, kContactPoint, key);
  };
  for (const auto& [subject, case_ids] : inbox_seen) {
    for (const auto& case_id : case_ids) {
      if (case_id.empty()) continue;
      history.RecordDelivered(case_id);
      read_case(case_id, subject);
    }
  }
  // Every reply promised reaches the contact point once: the agent gateway's view of the case
  // says ANSWERED with the text, and its timeline holds one ANSWERED event per delivery.
  auto agent_reader = network.AgentClient();
  size_t replies_missing = 0;
  deadline = SteadyNowMs() + 40000;
  for (const auto& case_id : replied) {
    bool seen = false;
    while (!seen) {
      auto answer = agent_reader->Call(GetCaseRequest(case_id), 5000);
      if (answer.ok() && answer->has_case_view() &&
          answer->case_view().reply_text() == "Réponse au dossier " + case_id) {
        seen = true;
        for (const auto& event : answer->case_view().timeline()) {
          if (event.kind() == "ANSWERED") {
            history.RecordReplySeen(case_id, "reply-" + case_id, std::to_string(event.sequence()));
          }
        }
      } else if (SteadyNowMs() >= deadline) {
        break;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    replies_missing += seen ? 0 : 1;
  }
  // Alerts (none is expected within the reply windows of this test; if any was raised, it is
  // stored once).
  {
    wire::Envelope request;
    request.mutable_list_alerts()->set_include_acked(true);
    request.mutable_list_alerts()->set_limit(10000);
    auto alerts = operator_client->Call(request, 5000);
    if (alerts.ok() && alerts->has_alert_list()) {
      for (const auto& alert : alerts->alert_list().alerts()) {
        history.AddSurvivorAlert(alert.alert_id());
        history.RecordAlertSeen(alert.alert_id(), alert.alert_id());
      }
    }
  }
  HaSummary summary = history.Summary();
  std::cout << "pair failover, " << Rounds() << " leaders killed, " << replied.size()
            << " replies promised, " << replies_missing << " not seen at the contact point:\n"
            << summary.ToText() << std::endl;
  CHECK(replies_missing == 0);
  CHECK(summary.replies_acknowledged > 0);
  CHECK(summary.failovers == Rounds());
  CHECK_MESSAGE(summary.ok(), summary.ToText());
}

// `systemctl restart` of the leader: SIGTERM, back at once. A clean stop resigns (the lease is
// revoked), so the standby leads without waiting for the lease to expire; the restarted node
// rejoins as the standby with a full copy.
TEST_CASE("a pair carries on through quick restarts (SIGTERM) of its leader" *
          doctest::timeout(150)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-restart");
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  auto agent = pair.network().BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::set<std::string> acknowledged;
  auto submit = [&](const std::string& key, int timeout_ms) {
    auto answer = agent->Call(SubmitRequest("restart " + key, key), timeout_ms);
    if (answer.ok() && answer->has_accepted()) acknowledged.insert(answer->accepted().case_id());
    return answer.ok() && answer->has_accepted();
  };
  REQUIRE(submit("before", 10000));
  std::vector<int64_t> takeover_ms;
  for (int round = 0; round < 3; ++round) {
    int64_t stopped_at = SteadyNowMs();
    CHECK(pair.node(leader).process->Stop() == 0);  // a clean stop: exit status 0
    REQUIRE(pair.StartNode(leader));                // back at once, as a standby
    int next = pair.WaitForLeader(15000, leader);
    REQUIRE_MESSAGE(next >= 0, pair.Logs());
    REQUIRE_MESSAGE(pair.WaitPaired(next), pair.Logs());
    // The same key again and again until the new leader accepts it: one case, not several.
    std::string key = "round-" + std::to_string(round);
    int64_t deadline = SteadyNowMs() + 30000;
    while (!submit(key, 3000) && SteadyNowMs() < deadline) {
    }
    takeover_ms.push_back(SteadyNowMs() - stopped_at);
    leader = next;
  }
  MESSAGE("leader restarted (SIGTERM) -> next Accepted: " << takeover_ms[0] << ", "
                                                          << takeover_ms[1] << ", "
                                                          << takeover_ms[2] << " ms");
  // Every acknowledged case is on the survivor.
  for (const auto& case_id : acknowledged) {
    auto found = agent->Call(GetCaseRequest(case_id), 10000);
    CHECK_MESSAGE((found.ok() && found->has_case_view()), case_id);
  }
  CHECK(acknowledged.size() == 4);
}
