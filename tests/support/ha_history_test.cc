#include "tests/support/ha_history.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace aplus::testing {
namespace {

using std::chrono::milliseconds;

const HaClock::time_point kStart = HaClock::now();
HaClock::time_point At(int ms) { return kStart + milliseconds(ms); }

// A clean history: two nodes, a leader killed once, everything acknowledged arrives once.
void RecordCleanRun(HaHistory& history) {
  history.RecordEpoch("gw-noce", "a", 10, At(0));
  history.RecordSubmissionAcknowledged("gw-noce", "k1", "PER-1", 10, "a", At(100));
  history.RecordDelivered("PER-1", At(150));
  history.RecordSubmissionAcknowledged("gw-noce", "k2", "PER-2", 10, "a", At(200));
  history.RecordLeaderKilled("a", At(1000));
  history.RecordEpoch("gw-noce", "b", 17, At(4000));
  // A retry of k2 after the failover: the same case, as promised.
  history.RecordSubmissionAcknowledged("gw-noce", "k2", "PER-2", 17, "b", At(4100));
  history.RecordSubmissionAcknowledged("gw-noce", "k3", "PER-3", 17, "b", At(4500));
  history.RecordDelivered("PER-2", At(4600));
  history.RecordDelivered("PER-2", At(4700));  // redelivered: at-least-once is fine
  history.RecordDelivered("PER-3", At(4800));
  history.RecordReplyAcknowledged("PER-1", "r1", At(5000));
  history.RecordReplySeen("PER-1", "r1", "cursor-7", At(5100));
  history.RecordReplySeen("PER-1", "r1", "cursor-7", At(5200));  // read twice, one event
  history.RecordAlertSeen("PER-1/WARNING", "seq-3", At(5300));
  history.RecordAlertSeen("PER-1/WARNING", "seq-3", At(5400));  // publish and poll: one alert
  history.SetSurvivor("b");
  for (const auto& [id, key] : {std::pair{"PER-1", "k1"}, {"PER-2", "k2"}, {"PER-3", "k3"}}) {
    history.AddSurvivorCase(id, "gw-noce", key);
  }
  history.AddSurvivorAlert("PER-1/WARNING");
}

TEST_CASE("A clean history is OK, and its table says what happened") {
  HaHistory history;
  RecordCleanRun(history);
  auto summary = history.Summary();
  CHECK(summary.ok());
  CHECK(summary.violations.empty());
  CHECK(summary.acknowledged == 3);
  CHECK(summary.lost == 0);
  CHECK(summary.duplicated == 0);
  CHECK(summary.stuck == 0);
  CHECK(summary.delivered == 3);
  CHECK(summary.survivor_cases == 3);
  CHECK(summary.replies_acknowledged == 1);
  CHECK(summary.alerts_seen == 1);
  REQUIRE(summary.epochs.size() == 2);
  CHECK(summary.epochs.at(10) == std::set<std::string>{"a"});
  CHECK(summary.epochs.at(17) == std::set<std::string>{"b"});
  CHECK(summary.failovers == 1);
  REQUIRE(summary.failover_max.has_value());
  CHECK(*summary.failover_max == milliseconds(3100));  // killed at 1000, first Accepted by b at 4100
  CHECK(*summary.failover_p50 == milliseconds(3100));
  std::string text = summary.ToText();
  CHECK(text.find("acknowledged submissions") != std::string::npos);
  CHECK(text.find("10 (a), 17 (b)") != std::string::npos);
  CHECK(text.find("max 3.10 s, p50 3.10 s") != std::string::npos);
  auto verdict = text.find("  verdict ");
  REQUIRE(verdict != std::string::npos);
  CHECK(text.substr(verdict, text.find('\n', verdict) - verdict).ends_with(" OK"));
}

TEST_CASE("An acknowledged case absent on the survivor is lost") {
  HaHistory history;
  RecordCleanRun(history);
  history.RecordSubmissionAcknowledged("gw-noce", "k4", "PER-4", 10, "a", At(300));
  history.RecordDelivered("PER-4", At(350));  // delivered, yet the survivor does not hold it
  auto summary = history.Summary();
  CHECK_FALSE(summary.ok());
  CHECK(summary.lost == 1);
  REQUIRE(summary.violations.size() == 1);
  CHECK(summary.violations[0] == "lost: case PER-4 acknowledged, absent on the survivor b");
  CHECK(summary.ToText().find("VIOLATIONS (1)") != std::string::npos);
}

TEST_CASE("Without the survivor's cases, an acknowledged case never delivered is lost") {
  HaHistory history;
  history.RecordSubmissionAcknowledged("gw", "k1", "PER-1", 0, "", At(0));
  history.RecordSubmissionAcknowledged("gw", "k2", "PER-2", 0, "", At(0));
  history.RecordDelivered("PER-1", At(10));
  auto summary = history.Summary();
  CHECK(summary.survivor_cases == -1);
  CHECK(summary.lost == 1);
  CHECK(summary.stuck == 0);
  CHECK(summary.violations.at(0) == "lost: case PER-2 acknowledged, never delivered");
  CHECK(summary.ToText().find("not read") != std::string::npos);
}

TEST_CASE("A submission accepted locally (no case id yet) is found by its key on the survivor") {
  HaHistory history;
  RecordCleanRun(history);
  history.RecordSubmissionAcknowledged("gw-noce", "k5", "", 0, "", At(1500));  // QUEUED_LOCALLY
  history.RecordSubmissionAcknowledged("gw-noce", "k6", "", 0, "", At(1600));  // QUEUED_LOCALLY
  history.AddSurvivorCase("PER-5", "gw-noce", "k5");
  history.RecordDelivered("PER-5");
  auto summary = history.Summary();
  CHECK(summary.acknowledged == 5);
  CHECK(summary.lost == 1);  // k6: the gateway accepted it, the network never made a case of it
  REQUIRE(summary.violation_count == 1);
  CHECK(summary.violations[0] == "lost: gw-noce key k6 accepted, no case for it on the survivor b");

  SUBCASE("found but never delivered, it is stuck") {
    HaHistory queued;
    RecordCleanRun(queued);
    queued.RecordSubmissionAcknowledged("gw-noce", "k5", "", 0, "", At(1500));
    queued.AddSurvivorCase("PER-5", "gw-noce", "k5");
    auto result = queued.Summary();
    CHECK(result.lost == 0);
    CHECK(result.stuck == 1);
  }
}

TEST_CASE("A case present on the survivor but never delivered is stuck, acknowledged or not") {
  HaHistory history;
  RecordCleanRun(history);
  // Stored by the old leader, its Accepted lost with it: nobody was promised it, yet it must
  // still reach its partner.
  history.AddSurvivorCase("PER-9", "gw-noce", "k9");
  auto summary = history.Summary();
  CHECK(summary.stuck == 1);
  CHECK(summary.lost == 0);
  CHECK_FALSE(summary.ok());
}

TEST_CASE("One idempotency key acknowledged as two cases is a duplicate") {
  HaHistory history;
  RecordCleanRun(history);
  history.RecordSubmissionAcknowledged("gw-noce", "k3", "PER-5", 17, "b", At(4900));
  history.AddSurvivorCase("PER-5", "gw-noce", "k3");
  history.RecordDelivered("PER-5");
  auto summary = history.Summary();
  CHECK(summary.duplicated == 1);  // counted once although the survivor shows it too
  CHECK(summary.violation_count == 1);
  CHECK(summary.violations[0].find("gw-noce key k3 acknowledged as cases PER-3,PER-5") !=
        std::string::npos);
}

TEST_CASE("The same key on two gateways is two submissions, not a duplicate") {
  HaHistory history;
  RecordCleanRun(history);
  history.RecordSubmissionAcknowledged("gw-other", "k1", "PER-6", 17, "b", At(4900));
  history.RecordDelivered("PER-6");
  history.AddSurvivorCase("PER-6", "gw-other", "k1");
  auto summary = history.Summary();
  CHECK(summary.ok());
  CHECK(summary.acknowledged == 4);
}

TEST_CASE("Two stored cases for one key, or one case stored twice, are duplicates") {
  HaHistory history;
  RecordCleanRun(history);
  history.AddSurvivorCase("PER-7", "gw-noce", "k1");  // never acknowledged twice, stored twice
  history.RecordDelivered("PER-7");
  history.AddSurvivorCase("PER-3");  // listed again: two copies of PER-3
  auto summary = history.Summary();
  CHECK(summary.duplicated == 2);
  CHECK_FALSE(summary.ok());
}

TEST_CASE("A reply acknowledged but never seen at its contact point is lost; seen twice, doubled") {
  HaHistory history;
  RecordCleanRun(history);
  history.RecordReplyAcknowledged("PER-2", "r2");
  history.RecordReplyAcknowledged("PER-3", "r3");
  history.RecordReplySeen("PER-3", "r3", "cursor-8");
  history.RecordReplySeen("PER-3", "r3", "cursor-9");
  auto summary = history.Summary();
  CHECK(summary.replies_acknowledged == 3);
  CHECK(summary.replies_lost == 1);
  CHECK(summary.replies_duplicated == 1);
  CHECK(summary.violation_count == 2);
}

TEST_CASE("An alert raised twice is caught from what clients saw or from the survivor") {
  SUBCASE("two occurrences of one id") {
    HaHistory history;
    RecordCleanRun(history);
    history.RecordAlertSeen("PER-1/WARNING", "seq-12");
    auto summary = history.Summary();
    CHECK(summary.alerts_duplicated == 1);
    CHECK_FALSE(summary.ok());
  }
  SUBCASE("stored twice on the survivor") {
    HaHistory history;
    RecordCleanRun(history);
    history.AddSurvivorAlert("PER-1/WARNING");
    auto summary = history.Summary();
    CHECK(summary.alerts_duplicated == 1);
    CHECK(summary.violations.at(0) == "alert raised twice: PER-1/WARNING stored 2 times on b");
  }
}

TEST_CASE("Two nodes in one epoch is a violation, whether observed or acknowledging") {
  SUBCASE("observed") {
    HaHistory history;
    RecordCleanRun(history);
    history.RecordEpoch("etcd-reader", "a", 17);
    auto summary = history.Summary();
    CHECK(summary.epoch_violations == 1);
    CHECK(summary.epochs.at(17) == std::set<std::string>{"a", "b"});
  }
  SUBCASE("acknowledging") {
    HaHistory history;
    RecordCleanRun(history);
    history.RecordSubmissionAcknowledged("gw-partner", "k7", "PER-3", 17, "a", At(4500));
    auto summary = history.Summary();
    CHECK(summary.epoch_violations == 1);
    CHECK_FALSE(summary.ok());
  }
}

TEST_CASE("An observer that sees an epoch go back is a violation; another observer is not") {
  HaHistory history;
  RecordCleanRun(history);
  history.RecordEpoch("console", "a", 10, At(6000));  // the console's first look: fine
  auto fine = history.Summary();
  CHECK(fine.ok());
  history.RecordEpoch("gw-noce", "a", 10, At(6000));  // gw-noce saw 17 before
  auto summary = history.Summary();
  CHECK(summary.epoch_violations == 1);
  CHECK(summary.violations.at(0) == "epoch went back: gw-noce saw epoch 10 (a) after 17");
}

TEST_CASE("An old leader acknowledging after the new one did is a late acknowledgement") {
  HaHistory history;
  RecordCleanRun(history);
  // The old leader, stopped past its lease then continued, acknowledges once more.
  history.RecordSubmissionAcknowledged("gw-noce", "k8", "PER-8", 10, "a", At(7000));
  history.RecordDelivered("PER-8");
  history.AddSurvivorCase("PER-8", "gw-noce", "k8");
  auto summary = history.Summary();
  CHECK(summary.late_acknowledgements == 1);
  CHECK_FALSE(summary.ok());

  SUBCASE("within the grace for concurrent recorders it is not") {
    HaHistory tolerant(HaCheckOptions{.late_acknowledgement_grace = milliseconds(5000)});
    RecordCleanRun(tolerant);
    tolerant.RecordSubmissionAcknowledged("gw-noce", "k8", "PER-8", 10, "a", At(7000));
    tolerant.RecordDelivered("PER-8");
    tolerant.AddSurvivorCase("PER-8", "gw-noce", "k8");
    CHECK(tolerant.Summary().ok());
  }
}

TEST_CASE("Failover times: from each kill to the first Accepted by another node") {
  HaHistory history(HaCheckOptions{.failover_limit = milliseconds(5000)});
  history.RecordSubmissionAcknowledged("gw", "k1", "PER-1", 1, "a", At(0));
  history.RecordLeaderKilled("a", At(1000));
  // An Accepted from the dying leader that arrives late is not the new leader's.
  history.RecordSubmissionAcknowledged("gw", "k2", "PER-2", 1, "a", At(1001));
  history.RecordSubmissionAcknowledged("gw", "k3", "PER-3", 5, "b", At(3000));
  history.RecordLeaderKilled("b", At(10000));
  history.RecordSubmissionAcknowledged("gw", "k4", "PER-4", 9, "a", At(17000));  // 7 s: too long
  history.RecordLeaderKilled("a", At(20000));
  history.RecordSubmissionAcknowledged("gw", "k5", "PER-5", 12, "b", At(21000));
  history.RecordLeaderKilled("b", At(30000));  // never followed by an Accepted
  for (const auto* id : {"PER-1", "PER-2", "PER-3", "PER-4", "PER-5"}) history.RecordDelivered(id);
  auto summary = history.Summary();
  CHECK(summary.failovers == 4);
  REQUIRE(summary.failover_times.size() == 3);
  CHECK(summary.failover_times[0] == milliseconds(2000));
  CHECK(summary.failover_times[1] == milliseconds(7000));
  CHECK(summary.failover_times[2] == milliseconds(1000));
  CHECK(*summary.failover_max == milliseconds(7000));
  CHECK(*summary.failover_p50 == milliseconds(2000));
  CHECK(summary.failovers_unfinished == 1);
  CHECK(summary.failovers_over_limit == 1);
  CHECK(summary.violation_count == 2);
  CHECK(summary.ToText().find("1 unfinished, 1 over the limit") != std::string::npos);
}

TEST_CASE("Two hundred failovers: the table shows the first and last epochs") {
  HaHistory history;
  for (int i = 0; i < 200; ++i) {
    std::string node = i % 2 == 0 ? "a" : "b";
    std::string id = "PER-" + std::to_string(i);
    history.RecordSubmissionAcknowledged("gw", "k" + std::to_string(i), id, 10 + i, node,
                                         At(i * 10000 + 5000));
    history.RecordDelivered(id);
    history.RecordLeaderKilled(node, At(i * 10000 + 9000));
    if (i == 199) history.RecordSubmissionAcknowledged("gw", "last", "PER-last", 300, "a", At(2000500));
  }
  history.RecordDelivered("PER-last");
  auto summary = history.Summary();
  CHECK(summary.ok());
  CHECK(summary.failovers == 200);
  CHECK(summary.failover_times.size() == 200);
  CHECK(*summary.failover_max == milliseconds(6000));
  CHECK(*summary.failover_p50 == milliseconds(6000));
  std::string text = summary.ToText();
  CHECK(text.find("10 (a), 11 (b), 12 (a), 13 (b), 14 (a), 15 (b), ..., 205 (b), 206 (a), "
                  "207 (b), 208 (a), 209 (b), 300 (a) (201 in all)") != std::string::npos);
}

TEST_CASE("Violation lines are capped, the count is not") {
  HaHistory history(HaCheckOptions{.max_violation_lines = 3});
  for (int i = 0; i < 10; ++i) {
    history.RecordSubmissionAcknowledged("gw", "k" + std::to_string(i), "PER-" + std::to_string(i));
  }
  history.SetSurvivor("a");
  auto summary = history.Summary();
  CHECK(summary.lost == 10);
  CHECK(summary.violations.size() == 3);
  CHECK(summary.violation_count == 10);
  CHECK(summary.ToText().find("... and 7 more") != std::string::npos);
}

}  // namespace
}  // namespace aplus::testing
