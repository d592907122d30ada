// Issue 12: a pair's leader exports the aplus_replication_* gauges on /metrics (docs/METRICS.md),
// filled from the same PairStats as GetStats: the mode and the pair's state one-hot, the epoch,
// the committed and the standby's applied sequence. Real processes: three etcd members, two
// brokers in strict mode, each with its metrics listener on a free loopback port; curl scrapes.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <thread>

#include "common/clock.h"
#include "tests/support/pair_network.h"
#include "tests/support/prometheus_text.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

double Or(std::optional<double> value, double otherwise = -1) { return value.value_or(otherwise); }

}  // namespace

TEST_CASE("a pair's leader exports the aplus_replication_* gauges" * doctest::timeout(120)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-metrics");
  std::string urls[2] = {pair.EnableHttp(0), pair.EnableHttp(1)};
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  int standby = 1 - leader;

  // One submission acknowledged: the standby holds a copy of it.
  auto agent = pair.network().BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto accepted = agent->CallOk(SubmitRequest("metrics of a pair", "pair-metrics-1"), 10000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString() << "\n" << pair.Logs());

  const std::string url = urls[leader];
  std::string text = ScrapeUntil(url, "aplus_replication_state{state=\"paired\"}", 1, 10000);
  INFO(text);
  CHECK(Sample(text, "aplus_replication_mode{mode=\"strict\"}") == 1);
  CHECK(Sample(text, "aplus_replication_mode{mode=\"degraded\"}") == 0);
  CHECK(Sample(text, "aplus_replication_state{state=\"paired\"}") == 1);
  CHECK(Sample(text, "aplus_replication_state{state=\"alone\"}") == 0);
  CHECK(Sample(text, "aplus_replication_state{state=\"waiting for a standby\"}") == 0);
  double epoch = Or(Sample(text, "aplus_replication_epoch"));
  double committed = Or(Sample(text, "aplus_replication_committed_sequence"));
  double applied = Or(Sample(text, "aplus_replication_standby_applied_sequence"));
  CHECK(epoch > 0);
  CHECK(committed > 0);
  CHECK(applied > 0);
  CHECK(applied <= committed);
  auto [status, output] = PromtoolCheck(text);
  CHECK_MESSAGE(status == 0, output);

  // One source: GetStats' PairStats says the same (nothing writes between the two reads).
  auto op = pair.network().BrokerClient(wire::OPERATOR, "operator");
  wire::Envelope get;
  get.mutable_get_stats();
  auto stats = op->CallOk(get, 10000);
  REQUIRE_MESSAGE(stats.ok(), stats.status().ToString());
  REQUIRE(stats->stats().has_pair());
  const wire::PairStats& pair_stats = stats->stats().pair();
  CHECK(pair_stats.epoch() == static_cast<int64_t>(epoch));
  CHECK(pair_stats.mode() == "strict");
  CHECK(pair_stats.state() == "paired");
  CHECK(pair_stats.standby() == pair.node(standby).name);
  CHECK(Sample(text, "aplus_replication_role{role=\"leader\"}") == 1);
  CHECK(Sample(text, "aplus_replication_role{role=\"standby\"}") == 0);

  // The standby's own view, on its own listener: its role, following, what it applied.
  std::string standby_text =
      ScrapeUntil(urls[standby], "aplus_replication_applied_sequence", applied, 10000);
  {
    INFO(standby_text);
    CHECK(Sample(standby_text, "aplus_replication_role{role=\"standby\"}") == 1);
    CHECK(Sample(standby_text, "aplus_replication_role{role=\"leader\"}") == 0);
    CHECK(Sample(standby_text, "aplus_replication_following") == 1);
    CHECK(Sample(standby_text, "aplus_replication_applied_sequence") == applied);
    CHECK(Sample(standby_text, "aplus_replication_epoch") == epoch);
    CHECK(Sample(standby_text, "aplus_replication_committed_sequence") == std::nullopt);
    auto [standby_status, standby_output] = PromtoolCheck(standby_text);
    CHECK_MESSAGE(standby_status == 0, standby_output);
  }
  std::string health = CurlGet(urls[standby], "/health");
  CHECK_MESSAGE(health.find("\"role\":\"standby\"") != std::string::npos, health);
  CHECK_MESSAGE(health.find("\"leader\":\"" + pair.node(leader).name + "\"") != std::string::npos,
                health);
  CHECK(CurlGet(url, "/health").find("\"role\":\"leader\"") != std::string::npos);

  // The standby gone: strict mode waits for one, and says so.
  pair.node(standby).process->Kill();
  auto unanswered = agent->Call(SubmitRequest("without a standby", "pair-metrics-2"), 10000);
  INFO("submission without a standby: "
       << (unanswered.ok() ? unanswered->DebugString() : unanswered.status().ToString()));
  text = ScrapeUntil(url, "aplus_replication_state{state=\"waiting for a standby\"}", 1, 20000);
  INFO(text);
  CHECK(Sample(text, "aplus_replication_state{state=\"waiting for a standby\"}") == 1);
  CHECK(Sample(text, "aplus_replication_state{state=\"paired\"}") == 0);
  CHECK(Sample(text, "aplus_replication_epoch") == epoch);
}

TEST_CASE("a degraded leader without its standby reads alone" * doctest::timeout(120)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-metrics-degraded",
                   "mode = \"degraded\"\nlease_ttl_s = 3\nlease_margin_ms = 1000\n");
  std::string urls[2] = {pair.EnableHttp(0), pair.EnableHttp(1)};
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  int standby = 1 - leader;
  const std::string url = urls[leader];
  std::string text = ScrapeUntil(url, "aplus_replication_state{state=\"paired\"}", 1, 10000);
  INFO(text);
  CHECK(Sample(text, "aplus_replication_mode{mode=\"degraded\"}") == 1);
  CHECK(Sample(text, "aplus_replication_mode{mode=\"strict\"}") == 0);
  CHECK(Sample(text, "aplus_replication_state{state=\"paired\"}") == 1);

  // The standby gone: the next write clears it in etcd and the leader answers alone.
  pair.node(standby).process->Kill();
  auto agent = pair.network().BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto accepted = agent->CallOk(SubmitRequest("alone", "pair-metrics-alone"), 10000);
  CHECK_MESSAGE(accepted.ok(), accepted.status().ToString() << "\n" << pair.Logs());
  text = ScrapeUntil(url, "aplus_replication_state{state=\"alone\"}", 1, 20000);
  INFO(text);
  CHECK(Sample(text, "aplus_replication_state{state=\"alone\"}") == 1);
  CHECK(Sample(text, "aplus_replication_state{state=\"paired\"}") == 0);
  CHECK(Sample(text, "aplus_replication_state{state=\"waiting for a standby\"}") == 0);
}

TEST_CASE("a standby's listener passes to its Broker when it leads" * doctest::timeout(120)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-metrics-promotion");
  std::string urls[2] = {pair.EnableHttp(0), pair.EnableHttp(1)};
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());
  int standby = 1 - leader;
  std::string text = ScrapeUntil(urls[standby], "aplus_replication_role{role=\"standby\"}", 1, 10000);
  REQUIRE_MESSAGE(Sample(text, "aplus_replication_role{role=\"standby\"}") == 1, text);
  auto agent = pair.network().BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto accepted = agent->CallOk(SubmitRequest("before the promotion", "pair-metrics-3"), 10000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString() << "\n" << pair.Logs());

  // The leader killed: the standby's node leads, and the same address now serves the
  // Broker's /metrics (the standby's listener closed first, the Broker's bound after).
  pair.node(leader).process->Kill();
  int next = pair.WaitForLeader(20000, leader);
  REQUIRE_MESSAGE(next == standby, pair.Logs());
  text = ScrapeUntil(urls[standby], "aplus_replication_role{role=\"leader\"}", 1, 20000);
  INFO(text);
  CHECK(Sample(text, "aplus_replication_role{role=\"leader\"}") == 1);
  CHECK(Sample(text, "aplus_replication_committed_sequence") > 0);
  CHECK(Sample(text, "aplus_replication_following") == std::nullopt);
}
