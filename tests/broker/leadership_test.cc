// Leadership through a real etcd (tests/support/etcd_cluster.h): who may campaign, epochs,
// handing over, fencing of the `sync` key, and self-demotion before anyone else can win.
#include "broker/leadership.h"

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "common/etcd_client.h"
#include "tests/support/etcd_cluster.h"

using namespace aplus;
using aplus::testing::EtcdCluster;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr char kPrefix[] = "/aplus/test/";

LeadershipOptions Options(const std::string& urls, const std::string& node) {
  LeadershipOptions options;
  options.etcd_urls = urls;
  options.prefix = kPrefix;
  options.node = node;
  options.endpoint = "tcp://" + node + ":7400";
  options.alerts = "tcp://" + node + ":7401";
  options.replication = "tcp://" + node + ":7440";
  options.poll_ms = 100;
  return options;  // lease 5 s, margin 1.5 s: the defaults
}

std::unique_ptr<Leadership> Start(const std::string& urls, const std::string& node,
                                  bool may_campaign = true) {
  auto leadership = Leadership::Start(Options(urls, node));
  REQUIRE_MESSAGE(leadership.ok(), leadership.status().ToString());
  if (may_campaign) (*leadership)->SetMayCampaign(true);
  return std::move(leadership).value();
}

bool WaitUntil(const std::function<bool()>& condition, int timeout_ms) {
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return condition();
}

std::unique_ptr<EtcdClient> Client(const EtcdCluster& etcd) {
  auto client = EtcdClient::Create(etcd.urls(), 3000);
  REQUIRE(client.ok());
  return std::move(client).value();
}

#define REQUIRE_ETCD()                \
  if (!EtcdCluster::Available()) {    \
    MESSAGE(std::string(EtcdCluster::kMissing));   \
    return;                           \
  }

}  // namespace

TEST_CASE("who may campaign: the table of docs/AVAILABILITY.md") {
  CHECK(MayCampaign(SyncStandby{}, "a"));                        // fresh cluster: anyone
  CHECK(MayCampaign(SyncStandby{"a", "b", 7}, "a"));             // the named standby
  CHECK_FALSE(MayCampaign(SyncStandby{"a", "b", 7}, "b"));       // not even the last leader
  CHECK_FALSE(MayCampaign(SyncStandby{"a", "b", 7}, "c"));
  CHECK(MayCampaign(SyncStandby{"", "b", 7}, "b"));              // no standby: the last leader
  CHECK_FALSE(MayCampaign(SyncStandby{"", "b", 7}, "a"));
  CHECK_FALSE(MayCampaign(SyncStandby{"", "", 7}, "a"));         // unreadable key: nobody
}

TEST_CASE("bad options are INVALID_ARGUMENT" * doctest::timeout(10)) {
  auto bad = [](std::function<void(LeadershipOptions&)> change) {
    LeadershipOptions options = Options("http://127.0.0.1:2379", "a");
    change(options);
    auto started = Leadership::Start(options);
    return !started.ok() && started.status().code() == wire::INVALID_ARGUMENT;
  };
  CHECK(bad([](LeadershipOptions& o) { o.etcd_urls = "127.0.0.1:2379"; }));
  CHECK(bad([](LeadershipOptions& o) { o.node = ""; }));
  CHECK(bad([](LeadershipOptions& o) { o.prefix = "/aplus/test"; }));
  CHECK(bad([](LeadershipOptions& o) { o.lease_ttl_s = 1; }));
  CHECK(bad([](LeadershipOptions& o) { o.margin_ms = 4000; }));  // past 2/3 of 5 s
  CHECK(bad([](LeadershipOptions& o) { o.poll_ms = 0; }));
  CHECK(bad([](LeadershipOptions& o) { o.keepalive_ms = 10; }));  // under 50 ms
  CHECK(bad([](LeadershipOptions& o) { o.keepalive_ms = 1700; }));  // past TTL/3
}

TEST_CASE("two nodes: one leads, the other follows it and takes over when named" *
          doctest::timeout(90)) {
  REQUIRE_ETCD();
  EtcdCluster etcd(1, "leadership-two");
  auto client = Client(etcd);
  auto a = Start(etcd.urls(), "a");
  REQUIRE(WaitUntil([&] { return a->IsLeaderNow(); }, 10000));
  auto b = Start(etcd.urls(), "b");

  // Exactly one leads; its epoch is the `leader` key's create revision.
  REQUIRE(WaitUntil([&] { return b->View().leader.has_value(); }, 10000));
  CHECK_FALSE(b->IsLeaderNow());
  LeadershipView view_a = a->View();
  CHECK(view_a.role == NodeRole::kLeader);
  auto key = client->Get(std::string(kPrefix) + "leader");
  REQUIRE(key.ok());
  REQUIRE(key->has_value());
  CHECK(view_a.epoch == (*key)->create_revision);
  CHECK(view_a.epoch > 0);
  // The campaign wrote `sync`: no standby yet, `a` the last leader.
  CHECK(view_a.sync.standby == "");
  CHECK(view_a.sync.leader == "a");

  // The follower sees the leader's info and the sync key.
  LeadershipView view_b = b->View();
  CHECK(view_b.role == NodeRole::kFollower);
  CHECK(view_b.epoch == 0);
  CHECK(view_b.etcd_reachable);
  REQUIRE(view_b.leader.has_value());
  CHECK(view_b.leader->node == "a");
  CHECK(view_b.leader->endpoint == "tcp://a:7400");
  CHECK(view_b.leader->alerts == "tcp://a:7401");
  CHECK(view_b.leader->replication == "tcp://a:7440");
  CHECK(view_b.leader->epoch == view_a.epoch);
  CHECK(view_b.highest_epoch_seen == view_a.epoch);
  CHECK(view_b.sync.leader == "a");
  CHECK(b->SetSyncStandby("b").code() == wire::NOT_LEADER);  // a follower writes nothing

  // The leader keeps its lease alive past the TTL.
  std::this_thread::sleep_for(milliseconds(6000));
  CHECK(a->IsLeaderNow());
  CHECK_FALSE(b->IsLeaderNow());

  // `a` names `b` its synchronous standby, then resigns: `b` leads with a higher epoch.
  REQUIRE(a->SetSyncStandby("b").ok());
  CHECK(a->View().sync.standby == "b");
  REQUIRE(WaitUntil([&] { return b->View().sync.standby == "b"; }, 5000));
  const int64_t first_epoch = view_a.epoch;
  a.reset();
  REQUIRE(WaitUntil([&] { return b->IsLeaderNow(); }, 10000));
  LeadershipView after = b->View();
  CHECK(after.role == NodeRole::kLeader);
  CHECK(after.epoch > first_epoch);
  CHECK(after.leader->node == "b");
  CHECK(after.sync.standby == "");  // the new leader holds no standby yet
  CHECK(after.sync.leader == "b");
  CHECK(after.highest_epoch_seen == after.epoch);

  // `a` comes back (a new process): the sync key says no standby and `b` was the last leader,
  // so `a` may not campaign even once `b` is gone.
  auto a2 = Start(etcd.urls(), "a");
  REQUIRE(WaitUntil([&] { return a2->View().leader.has_value(); }, 5000));
  b.reset();
  REQUIRE(WaitUntil([&] { return !a2->View().leader.has_value(); }, 5000));
  std::this_thread::sleep_for(milliseconds(1500));
  CHECK_FALSE(a2->IsLeaderNow());
  CHECK(a2->View().role == NodeRole::kFollower);
}

TEST_CASE("campaign rules: only the node the sync key allows may lead" * doctest::timeout(90)) {
  REQUIRE_ETCD();
  EtcdCluster etcd(1, "leadership-rules");
  auto client = Client(etcd);
  const std::string sync_key = std::string(kPrefix) + "sync";

  SUBCASE("sync names b: a may not campaign, even with no leader") {
    REQUIRE(client->Txn({}, {{EtcdOp::Kind::kPut, sync_key, R"({"standby":"b","leader":"x"})", 0}},
                        {}).ok());
    auto a = Start(etcd.urls(), "a");
    REQUIRE(WaitUntil([&] { return a->View().sync.standby == "b"; }, 5000));
    std::this_thread::sleep_for(milliseconds(1500));
    CHECK_FALSE(a->IsLeaderNow());
    CHECK_FALSE(a->View().leader.has_value());
    auto b = Start(etcd.urls(), "b");
    REQUIRE(WaitUntil([&] { return b->IsLeaderNow(); }, 10000));
    CHECK_FALSE(a->IsLeaderNow());
  }
  SUBCASE("no standby and a was the last leader: only a") {
    REQUIRE(client->Txn({}, {{EtcdOp::Kind::kPut, sync_key, R"({"standby":"","leader":"a"})", 0}},
                        {}).ok());
    auto b = Start(etcd.urls(), "b");
    REQUIRE(WaitUntil([&] { return b->View().sync.leader == "a"; }, 5000));
    std::this_thread::sleep_for(milliseconds(1500));
    CHECK_FALSE(b->IsLeaderNow());
    auto a = Start(etcd.urls(), "a");
    REQUIRE(WaitUntil([&] { return a->IsLeaderNow(); }, 10000));
    CHECK_FALSE(b->IsLeaderNow());
  }
  SUBCASE("a node that may not campaign does not, until it may") {
    auto a = Start(etcd.urls(), "a", /*may_campaign=*/false);
    REQUIRE(WaitUntil([&] { return a->View().etcd_reachable; }, 5000));
    std::this_thread::sleep_for(milliseconds(1500));
    CHECK_FALSE(a->IsLeaderNow());
    CHECK_FALSE(client->Get(std::string(kPrefix) + "leader")->has_value());
    a->SetMayCampaign(true);
    REQUIRE(WaitUntil([&] { return a->IsLeaderNow(); }, 10000));
    // A leader told it may no longer campaign keeps leading (it is not a demotion).
    a->SetMayCampaign(false);
    std::this_thread::sleep_for(milliseconds(500));
    CHECK(a->IsLeaderNow());
  }
}

TEST_CASE("SetSyncStandby from a stale leader fails NOT_LEADER" * doctest::timeout(60)) {
  REQUIRE_ETCD();
  EtcdCluster etcd(1, "leadership-stale");
  auto client = Client(etcd);
  // Polls rarely: the leader cannot notice by reading that its key went.
  LeadershipOptions options = Options(etcd.urls(), "a");
  options.poll_ms = 60000;
  auto started = Leadership::Start(options);
  REQUIRE(started.ok());
  auto a = std::move(started).value();
  a->SetMayCampaign(true);
  // Allowed to campaign, it reads the keys at once rather than at its next poll.
  REQUIRE(WaitUntil([&] { return a->IsLeaderNow(); }, 10000));
  REQUIRE(a->SetSyncStandby("b").ok());

  // Someone else's doing removes the `leader` key (an operator, a lease expired on etcd's
  // side): the fenced write fails, and `a` leads no more.
  REQUIRE(client->Txn({}, {{EtcdOp::Kind::kDelete, std::string(kPrefix) + "leader", "", 0}}, {})
              .ok());
  CHECK(a->IsLeaderNow());  // it could not know yet
  Status stale = a->SetSyncStandby("");
  CHECK(stale.code() == wire::NOT_LEADER);
  CHECK_FALSE(a->IsLeaderNow());
  CHECK(a->View().role == NodeRole::kDemoted);
  // The sync key still says what the real leader wrote.
  auto sync = client->Get(std::string(kPrefix) + "sync");
  REQUIRE(sync.ok());
  CHECK((*sync)->value == R"({"leader":"a","standby":"b"})");
  // Demoted is for good: the key is free, the rules allow `a`, it does not campaign again.
  a->SetMayCampaign(true);
  std::this_thread::sleep_for(milliseconds(500));
  CHECK_FALSE(a->IsLeaderNow());
  CHECK(a->SetSyncStandby("b").code() == wire::NOT_LEADER);
}

TEST_CASE("every etcd member frozen: the leader demotes itself on its own clock, and nobody "
          "else leads before" * doctest::timeout(120)) {
  REQUIRE_ETCD();
  EtcdCluster etcd(3, "leadership-freeze");
  auto a = Start(etcd.urls(), "a");
  REQUIRE(WaitUntil([&] { return a->IsLeaderNow(); }, 15000));
  auto b = Start(etcd.urls(), "b");
  REQUIRE(a->SetSyncStandby("b").ok());
  REQUIRE(WaitUntil([&] { return b->View().sync.standby == "b"; }, 5000));
  const int64_t epoch_a = a->View().epoch;

  const auto stopped = Clock::now();
  for (int i = 0; i < 3; ++i) REQUIRE(etcd.Stop(i));
  // The last keep-alive that etcd answered was sent before `stopped`: the leadership ends
  // at most TTL - margin after it, with a second of slack for a loaded machine.
  Clock::time_point demoted;
  bool overlap = false;
  REQUIRE(WaitUntil([&] {
    bool a_leads = a->IsLeaderNow();
    overlap |= a_leads && b->IsLeaderNow();
    if (!a_leads) demoted = Clock::now();
    return !a_leads;
  }, 15000));
  CHECK(demoted - stopped <= milliseconds(5000 - 1500 + 1000));
  CHECK(a->View().role == NodeRole::kDemoted);
  CHECK_FALSE(b->IsLeaderNow());
  CHECK_FALSE(overlap);

  // etcd back: `b`, the named standby, takes over once `a`'s lease is gone; `a` never again.
  for (int i = 0; i < 3; ++i) etcd.Cont(i);
  Clock::time_point won;
  REQUIRE(WaitUntil([&] {
    overlap |= a->IsLeaderNow() && b->IsLeaderNow();
    if (b->IsLeaderNow()) won = Clock::now();
    return b->IsLeaderNow();
  }, 40000));
  CHECK(won > demoted);
  CHECK_FALSE(overlap);
  CHECK(b->View().epoch > epoch_a);
  CHECK_FALSE(a->IsLeaderNow());
  CHECK(a->View().role == NodeRole::kDemoted);
  REQUIRE(WaitUntil([&] { return a->View().leader.has_value() && a->View().leader->node == "b"; },
                    5000));
  CHECK(a->View().highest_epoch_seen == b->View().epoch);
}

TEST_CASE("the leader cut from etcd demotes itself before the lease can expire for the others" *
          doctest::timeout(120)) {
  REQUIRE_ETCD();
  EtcdCluster etcd(3, "leadership-cut");
  // `a` speaks only to member 0, `b` to members 1 and 2, which keep a quorum without it.
  auto a = Start(etcd.url(0), "a");
  REQUIRE(WaitUntil([&] { return a->IsLeaderNow(); }, 15000));
  auto b = Start(etcd.url(1) + "," + etcd.url(2), "b");
  REQUIRE(a->SetSyncStandby("b").ok());
  REQUIRE(WaitUntil([&] { return b->View().sync.standby == "b"; }, 5000));
  const int64_t epoch_a = a->View().epoch;

  const auto cut = Clock::now();
  REQUIRE(etcd.Stop(0));
  // Sampled together: at no sample may both lead. The lease, alive on the other members,
  // expires no sooner than TTL after the last keep-alive reached etcd; `a` stops acting
  // margin (1.5 s) before that.
  Clock::time_point demoted{};
  Clock::time_point won{};
  bool overlap = false;
  REQUIRE(WaitUntil([&] {
    bool a_leads = a->IsLeaderNow();
    bool b_leads = b->IsLeaderNow();
    overlap |= a_leads && b_leads;
    if (!a_leads && demoted == Clock::time_point{}) demoted = Clock::now();
    if (b_leads && won == Clock::time_point{}) won = Clock::now();
    return b_leads;
  }, 60000));
  etcd.Cont(0);
  CHECK_FALSE(overlap);
  REQUIRE(demoted != Clock::time_point{});
  CHECK(won > demoted);
  CHECK(demoted - cut <= milliseconds(5000 - 1500 + 1000));
  CHECK(b->View().epoch > epoch_a);
  CHECK(a->View().role == NodeRole::kDemoted);
  MESSAGE("a demoted " << std::chrono::duration_cast<milliseconds>(demoted - cut).count()
                       << " ms after the cut; b led "
                       << std::chrono::duration_cast<milliseconds>(won - demoted).count()
                       << " ms after that");
}

TEST_CASE("one etcd member of three killed: the leader keeps leading" * doctest::timeout(120)) {
  REQUIRE_ETCD();
  EtcdCluster etcd(3, "leadership-member");
  auto a = Start(etcd.urls(), "a");
  REQUIRE(WaitUntil([&] { return a->IsLeaderNow(); }, 15000));
  auto b = Start(etcd.urls(), "b");
  REQUIRE(WaitUntil([&] { return b->View().leader.has_value(); }, 5000));
  const int64_t epoch = a->View().epoch;

  // Raft's leader: the cluster elects another in a second or two (the members hold or refuse
  // keep-alives meanwhile), well within TTL - margin.
  const int raft_leader = etcd.RaftLeader();
  REQUIRE(raft_leader >= 0);
  etcd.Kill(raft_leader);
  bool always = WaitUntil([&] { return !a->IsLeaderNow() || b->IsLeaderNow(); }, 8000) == false;
  CHECK(always);
  CHECK(a->View().epoch == epoch);
  CHECK(a->View().etcd_reachable);
  REQUIRE(etcd.Restart(raft_leader));
  CHECK(a->IsLeaderNow());
  CHECK_FALSE(b->IsLeaderNow());
}

TEST_CASE("etcd silent for 2.5 s (every member stopped, as while raft elects a leader): the "
          "leader keeps leading" * doctest::timeout(120)) {
  REQUIRE_ETCD();
  EtcdCluster etcd(3, "leadership-silent");
  auto a = Start(etcd.urls(), "a");
  REQUIRE(WaitUntil([&] { return a->IsLeaderNow(); }, 15000));
  auto b = Start(etcd.urls(), "b");
  REQUIRE(WaitUntil([&] { return b->View().leader.has_value(); }, 5000));
  const int64_t epoch = a->View().epoch;

  // With the defaults a leader rides out a silence of about TTL - margin - keep-alive interval
  // (5 - 1.5 - 0.5 = 3 s) whatever its phase (2.8 s passed here); 2.5 s leaves the members
  // 0.5 s to answer again once continued. Before keep-alives came first (one every TTL/3, key
  // reads of a whole etcd timeout between the retries), the first round demoted it.
  for (int round = 0; round < 4; ++round) {
    std::this_thread::sleep_for(milliseconds(1000 + 400 * round));  // another phase each round
    for (int i = 0; i < 3; ++i) REQUIRE(etcd.Stop(i));
    bool lost = WaitUntil([&] { return !a->IsLeaderNow() || b->IsLeaderNow(); }, 2500);
    for (int i = 0; i < 3; ++i) etcd.Cont(i);
    CHECK_MESSAGE(!lost, "round " << round << ": lost during the silence");
    // Answers again: the validity is renewed (it would run out within 3.5 s otherwise).
    lost = WaitUntil([&] { return !a->IsLeaderNow() || b->IsLeaderNow(); }, 4000);
    CHECK_MESSAGE(!lost, "round " << round << ": lost after it");
  }
  CHECK(a->View().epoch == epoch);
  CHECK(a->View().role == NodeRole::kLeader);
}
