// Leadership through etcd (broker/leadership.h, docs/AVAILABILITY.md "etcd keys").
//
// One thread owns the etcd client of the loop: it follows (reads `leader` and `sync` every
// poll_ms, campaigns when the rules allow), or leads (a keep-alive every keepalive_ms, the keys
// read every poll_ms to notice a lost `leader` key). A leader's keep-alive comes first: after
// a failed one the next goes at once, and no key is read until one has succeeded and the
// validity left outlasts a key read etcd does not answer (such a read holds the thread for a
// whole etcd timeout while the validity runs out). Whether this node may still act as leader is
// two atomics (role, valid-until on the steady clock), so that IsLeaderNow() turns false on
// time even while the thread is blocked in a call to an etcd that no longer answers.
// SetSyncStandby() runs on the caller's thread with a client of its own.
#include "broker/leadership.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/etcd_client.h"

namespace aplus {
namespace {

using SteadyClock = std::chrono::steady_clock;
using Json = nlohmann::json;

// Who may campaign, decided by the `sync` key (docs/AVAILABILITY.md): the first row whose
// condition holds decides.
struct CampaignRule {
  const char* when;
  bool (*applies)(const SyncStandby& sync, const std::string& me);
  bool may_campaign;
};
constexpr CampaignRule kCampaignRules[] = {
    {"`sync` absent (a fresh cluster): anyone",
     [](const SyncStandby& s, const std::string&) { return s.mod_revision == 0; }, true},
    {"`sync` names this node as the synchronous standby",
     [](const SyncStandby& s, const std::string& me) { return s.standby == me; }, true},
    {"no standby: only the last leader, who alone holds every acknowledged batch",
     [](const SyncStandby& s, const std::string& me) {
       return s.standby.empty() && s.leader == me;
     },
     true},
    {"another node holds what was acknowledged",
     [](const SyncStandby&, const std::string&) { return true; }, false},
};

std::string LeaderValue(const LeadershipOptions& options) {
  return Json{{"node", options.node},
              {"endpoint", options.endpoint},
              {"alerts", options.alerts},
              {"replication", options.replication}}
      .dump();
}

std::string SyncValue(const std::string& standby, const std::string& leader) {
  return Json{{"standby", standby}, {"leader", leader}}.dump();
}

std::string StringField(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

LeaderInfo ParseLeader(const EtcdKeyValue& kv) {
  LeaderInfo info;
  info.epoch = kv.create_revision;
  Json value = Json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) {
    spdlog::warn("etcd key {} holds no JSON object: {}", kv.key, kv.value);
    return info;
  }
  info.node = StringField(value, "node");
  info.endpoint = StringField(value, "endpoint");
  info.alerts = StringField(value, "alerts");
  info.replication = StringField(value, "replication");
  return info;
}

SyncStandby ParseSync(const EtcdKeyValue& kv) {
  SyncStandby sync;
  sync.mod_revision = kv.mod_revision;
  Json value = Json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) {
    // Nobody matches an empty leader: no one campaigns until an operator repairs the key.
    spdlog::error("etcd key {} holds no JSON object: {}", kv.key, kv.value);
    return sync;
  }
  sync.standby = StringField(value, "standby");
  sync.leader = StringField(value, "leader");
  return sync;
}

int64_t Nanos(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

class EtcdLeadership final : public Leadership {
 public:
  EtcdLeadership(LeadershipOptions options, std::unique_ptr<EtcdClient> loop_client,
                 std::unique_ptr<EtcdClient> call_client)
      : options_(std::move(options)),
        leader_key_(options_.prefix + "leader"),
        sync_key_(options_.prefix + "sync"),
        ttl_(std::chrono::seconds(options_.lease_ttl_s)),
        margin_(std::chrono::milliseconds(options_.margin_ms)),
        keepalive_(std::chrono::milliseconds(options_.keepalive_ms)),
        etcd_timeout_(std::chrono::milliseconds(options_.etcd_timeout_ms)),
        poll_(std::chrono::milliseconds(options_.poll_ms)),
        loop_client_(std::move(loop_client)),
        call_client_(std::move(call_client)) {
    thread_ = std::thread([this] { Run(); });
  }

  ~EtcdLeadership() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    // Resign: without the lease the `leader` key goes at once, and the standby need not wait
    // for the lease to expire. A demoted node revokes too (its lease may still be alive).
    if (lease_ != 0) {
      role_.store(static_cast<int>(NodeRole::kDemoted));
      Status revoked = loop_client_->RevokeLease(lease_);
      if (!revoked.ok()) spdlog::warn("leadership: cannot revoke lease: {}", revoked.ToString());
    }
  }

  LeadershipView View() const override {
    LeadershipView view;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      view = view_;
    }
    // The thread may not have noticed yet that the validity ran out: the view never says
    // more than IsLeaderNow().
    if (view.role == NodeRole::kLeader && !IsLeaderNow()) view.role = NodeRole::kDemoted;
    if (view.role != NodeRole::kLeader) view.epoch = 0;
    return view;
  }

  bool IsLeaderNow() const override {
    if (expired_.load() || role_.load() != static_cast<int>(NodeRole::kLeader)) return false;
    if (Nanos(SteadyClock::now()) < valid_until_ns_.load()) return true;
    // Latched: a keep-alive sent before the validity ran out but answered after it must not
    // make this node a leader again for a caller that already saw it was not (ExtendValidity
    // checks the latch after it stores, the Dekker pattern on sequentially consistent atomics).
    expired_.store(true);
    return false;
  }

  void SetMayCampaign(bool may) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      may_campaign_.store(may);
      poll_soon_ = may;  // a node allowed to campaign reads the keys now, not at the next poll
    }
    wake_.notify_all();
  }

  Status SetSyncStandby(const std::string& standby) override {
    if (!IsLeaderNow()) return Status(wire::NOT_LEADER, "this node does not lead");
    const int64_t epoch = epoch_.load();
    std::lock_guard<std::mutex> call_lock(call_mutex_);
    auto txn = call_client_->Txn(
        {{leader_key_, EtcdCompare::Target::kCreateRevision, epoch, ""}},
        {{EtcdOp::Kind::kPut, sync_key_, SyncValue(standby, options_.node), 0}}, {});
    if (!txn.ok()) return txn.status();
    if (!txn->succeeded) {
      // The fence failed: the `leader` key is gone or another node's. Whatever the thread
      // has not noticed yet, this node leads no more.
      MarkDemoted("the `leader` key is no longer this node's (SetSyncStandby fenced out)");
      return Status(wire::NOT_LEADER, "the leader key is no longer this node's (epoch " +
                                          std::to_string(epoch) + ")");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (txn->revision >= view_.sync.mod_revision) {
      view_.sync = SyncStandby{standby, options_.node, txn->revision};
    }
    return Status::Ok();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      lock.unlock();
      SteadyClock::time_point next = Turn();
      lock.lock();
      wake_.wait_until(lock, next, [this] { return stop_ || poll_soon_; });
      if (poll_soon_) {
        poll_soon_ = false;
        next_poll_ = SteadyClock::time_point{};
      }
    }
  }

  // One turn of the thread; returns when the next one is due.
  SteadyClock::time_point Turn() {
    const auto now = SteadyClock::now();
    if (role_.load() == static_cast<int>(NodeRole::kLeader)) {
      if (expired_.load() || Nanos(now) >= valid_until_ns_.load()) {
        MarkDemoted("no keep-alive answered within the lease's TTL minus the margin");
      } else if (now >= next_keepalive_) {
        KeepAlive();
      }
      // Renewing the lease comes first: no key is read until a keep-alive has succeeded and
      // the validity left outlasts a key read that etcd does not answer (after a late answer
      // it may not; the next keep-alive goes first then). Reads still run after every prompt
      // renewal: they are how a leader notices that its `leader` key was deleted.
      if (role_.load() == static_cast<int>(NodeRole::kLeader) &&
          (keepalive_failing_ || ValidUntil() - SteadyClock::now() <= etcd_timeout_)) {
        return next_keepalive_;
      }
    }
    if (role_.load() == static_cast<int>(NodeRole::kDemoted) && lease_ != 0) Resign();
    if (now >= next_poll_) {
      next_poll_ = now + poll_;
      ReadKeys();
    }
    SteadyClock::time_point next = next_poll_;
    if (role_.load() == static_cast<int>(NodeRole::kLeader)) {
      next = std::min({next, next_keepalive_,
                       ValidUntil()});
    }
    return next;
  }

  void KeepAlive() {
    const auto sent = SteadyClock::now();
    // No longer than the validity left (a later answer could not renew it), nor than one etcd
    // timeout: a fresh try after that sends a newer `sent`, which renews further.
    const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::min(ValidUntil() - sent, etcd_timeout_));
    if (timeout <= std::chrono::milliseconds::zero()) return;  // Turn demotes
    auto ttl = loop_client_->KeepAlive(lease_, timeout);
    SetReachable(ttl.ok() || ttl.status().code() != wire::UNREACHABLE);
    if (!ttl.ok()) {
      spdlog::warn("leadership: keep-alive failed: {}", ttl.status().ToString());
      keepalive_failing_ = true;
      // Again at once, unless etcd answered the failure (not a silence): then a short pause,
      // not a busy loop on an error that repeats.
      next_keepalive_ = ttl.status().code() == wire::UNREACHABLE
                            ? SteadyClock::now()
                            : SteadyClock::now() + std::chrono::milliseconds(50);
      return;
    }
    keepalive_failing_ = false;
    if (*ttl <= 0) {
      MarkDemoted("etcd says the lease is gone");
      return;
    }
    // Counted from when the request left, with the shorter of the granted and the answered
    // TTL: etcd's expiry can only be later than this.
    const auto granted = std::min<SteadyClock::duration>(ttl_, std::chrono::seconds(*ttl));
    ExtendValidity(sent + granted - margin_);
    next_keepalive_ = sent + keepalive_;
  }

  // Reads `leader` and `sync` in one transaction (one revision for both); a leader checks
  // that the `leader` key is still its own; a follower campaigns when the rules allow.
  void ReadKeys() {
    auto txn = loop_client_->Txn({}, {{EtcdOp::Kind::kGet, leader_key_, "", 0},
                                      {EtcdOp::Kind::kGet, sync_key_, "", 0}},
                                 {});
    SetReachable(txn.ok() || txn.status().code() != wire::UNREACHABLE);
    if (!txn.ok()) {
      spdlog::warn("leadership: cannot read the keys: {}", txn.status().ToString());
      return;
    }
    std::optional<LeaderInfo> leader;
    std::optional<SyncStandby> sync;
    std::optional<EtcdKeyValue> leader_kv;
    for (const auto& kv : txn->read) {
      if (kv.key == leader_key_) {
        leader = ParseLeader(kv);
        leader_kv = kv;
      } else if (kv.key == sync_key_) {
        sync = ParseSync(kv);
      }
    }
    Publish(leader, sync.value_or(SyncStandby{}));

    const auto role = static_cast<NodeRole>(role_.load());
    if (role == NodeRole::kLeader) {
      if (!leader_kv || leader_kv->create_revision != epoch_.load()) {
        MarkDemoted("the `leader` key is gone or another node's");
      }
      return;
    }
    if (role != NodeRole::kFollower || leader || !may_campaign_.load()) return;
    const SyncStandby current = sync.value_or(SyncStandby{});
    if (MayCampaign(current, options_.node)) Campaign(current);
  }

  // The campaign transaction of docs/AVAILABILITY.md: `leader` absent and `sync` unchanged
  // since it was read.
  void Campaign(const SyncStandby& sync) {
    const auto started = SteadyClock::now();  // the lease cannot expire before started + TTL
    auto lease = loop_client_->GrantLease(options_.lease_ttl_s);
    if (!lease.ok()) {
      spdlog::warn("leadership: cannot get a lease: {}", lease.status().ToString());
      return;
    }
    auto txn = loop_client_->Txn(
        {{leader_key_, EtcdCompare::Target::kCreateRevision, 0, ""},
         {sync_key_, EtcdCompare::Target::kModRevision, sync.mod_revision, ""}},
        {{EtcdOp::Kind::kPut, leader_key_, LeaderValue(options_), *lease},
         {EtcdOp::Kind::kPut, sync_key_, SyncValue("", options_.node), 0}},
        {});
    if (txn.ok() && txn->succeeded) {
      Won(txn->revision, *lease, started);
      return;
    }
    // Lost, or no answer: an answer lost after etcd committed would leave the `leader` key
    // under this lease. Read it to know; if that fails too, revoking the lease is the safe
    // way out (it takes the key with it).
    if (!txn.ok()) spdlog::warn("leadership: campaign failed: {}", txn.status().ToString());
    auto current = loop_client_->Get(leader_key_);
    if (current.ok() && current->has_value() && (*current)->lease == *lease) {
      Won((*current)->create_revision, *lease, started);
      return;
    }
    Status revoked = loop_client_->RevokeLease(*lease);
    if (!revoked.ok()) spdlog::warn("leadership: cannot revoke lease: {}", revoked.ToString());
  }

  // A demoted node gives its lease back at once (best effort: the key goes with it, and the
  // standby need not wait for the lease to expire). Retried while etcd does not answer.
  void Resign() {
    Status revoked = loop_client_->RevokeLease(lease_);
    if (revoked.ok() || revoked.code() != wire::UNREACHABLE) lease_ = 0;
    if (!revoked.ok()) spdlog::warn("leadership: cannot revoke lease: {}", revoked.ToString());
  }

  void Won(int64_t epoch, int64_t lease, SteadyClock::time_point started) {
    lease_ = lease;
    epoch_.store(epoch);
    next_keepalive_ = started + keepalive_;
    valid_until_ns_.store(Nanos(started + ttl_ - margin_));
    role_.store(static_cast<int>(NodeRole::kLeader));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      view_.role = NodeRole::kLeader;
      view_.epoch = epoch;
      LeaderInfo me{options_.node, options_.endpoint, options_.alerts, options_.replication,
                    epoch};
      view_.leader = me;
      view_.sync = SyncStandby{"", options_.node, epoch};
      view_.highest_epoch_seen = std::max(view_.highest_epoch_seen, epoch);
    }
    spdlog::info("leadership: {} leads, epoch {}", options_.node, epoch);
    if (!IsLeaderNow()) MarkDemoted("the campaign took longer than the lease's TTL minus margin");
  }

  // The end of this node's leadership as last renewed (meaningful while it leads).
  SteadyClock::time_point ValidUntil() const {
    return SteadyClock::time_point(std::chrono::nanoseconds(valid_until_ns_.load()));
  }

  // Only the thread extends the validity, and only while it has not run out: once it has,
  // leadership is lost for good, however late etcd's answer says the lease lives on.
  void ExtendValidity(SteadyClock::time_point until) {
    if (Nanos(SteadyClock::now()) >= valid_until_ns_.load()) {
      MarkDemoted("no keep-alive answered within the lease's TTL minus the margin");
      return;
    }
    valid_until_ns_.store(std::max(valid_until_ns_.load(), Nanos(until)));
    if (expired_.load()) {
      MarkDemoted("no keep-alive answered within the lease's TTL minus the margin");
    }
  }

  // Any thread. Once demoted, never leader again in this instance.
  void MarkDemoted(const char* why) {
    int expected = static_cast<int>(NodeRole::kLeader);
    if (!role_.compare_exchange_strong(expected, static_cast<int>(NodeRole::kDemoted))) return;
    valid_until_ns_.store(0);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      view_.role = NodeRole::kDemoted;
    }
    spdlog::warn("leadership: {} demoted at epoch {}: {}", options_.node, epoch_.load(), why);
  }

  void Publish(const std::optional<LeaderInfo>& leader, const SyncStandby& sync) {
    std::lock_guard<std::mutex> lock(mutex_);
    view_.leader = leader;
    // A SetSyncStandby on another thread may have written a newer one meanwhile.
    if (sync.mod_revision >= view_.sync.mod_revision || sync.mod_revision == 0) {
      view_.sync = sync;
    }
    if (leader) view_.highest_epoch_seen = std::max(view_.highest_epoch_seen, leader->epoch);
  }

  void SetReachable(bool reachable) {
    std::lock_guard<std::mutex> lock(mutex_);
    view_.etcd_reachable = reachable;
  }

  // Constant after construction.
  const LeadershipOptions options_;
  const std::string leader_key_;
  const std::string sync_key_;
  const SteadyClock::duration ttl_;
  const SteadyClock::duration margin_;
  const SteadyClock::duration keepalive_;
  const SteadyClock::duration etcd_timeout_;
  const SteadyClock::duration poll_;

  // Any thread.
  std::atomic<int> role_{static_cast<int>(NodeRole::kFollower)};
  std::atomic<int64_t> valid_until_ns_{0};  // steady clock; meaningful while kLeader
  mutable std::atomic<bool> expired_{false};  // a reader saw the validity run out
  std::atomic<int64_t> epoch_{0};
  std::atomic<bool> may_campaign_{false};

  // Guarded by mutex_.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool poll_soon_ = false;
  LeadershipView view_;

  // The thread's own (and the destructor's, after the join).
  std::unique_ptr<EtcdClient> loop_client_;
  int64_t lease_ = 0;
  SteadyClock::time_point next_keepalive_;
  bool keepalive_failing_ = false;  // the last keep-alive got no live answer
  SteadyClock::time_point next_poll_;

  // SetSyncStandby's client, guarded by call_mutex_.
  std::mutex call_mutex_;
  std::unique_ptr<EtcdClient> call_client_;

  std::thread thread_;  // last: starts once everything above is constructed
};

}  // namespace

bool MayCampaign(const SyncStandby& sync, const std::string& node) {
  for (const auto& rule : kCampaignRules) {
    if (rule.applies(sync, node)) return rule.may_campaign;
  }
  return false;
}

Result<std::unique_ptr<Leadership>> Leadership::Start(LeadershipOptions options) {
  if (options.node.empty()) return Status(wire::INVALID_ARGUMENT, "leadership needs a node name");
  if (options.prefix.empty() || options.prefix.back() != '/') {
    return Status(wire::INVALID_ARGUMENT, "leadership prefix must end with '/'");
  }
  if (options.lease_ttl_s < 2 || options.margin_ms < 0 || options.poll_ms <= 0 ||
      options.etcd_timeout_ms <= 0 || options.keepalive_ms < 50) {
    return Status(wire::INVALID_ARGUMENT,
                  "leadership needs lease_ttl_s >= 2, margin_ms >= 0, keepalive_ms >= 50 (each "
                  "is a new connection to etcd), poll_ms and etcd_timeout_ms > 0");
  }
  // The validity (TTL - margin) must hold several keep-alives: a failed one is then retried
  // before it runs out.
  if (options.margin_ms >= options.lease_ttl_s * 1000 * 2 / 3) {
    return Status(wire::INVALID_ARGUMENT, "leadership margin_ms must be under 2/3 of the TTL");
  }
  if (options.keepalive_ms > options.lease_ttl_s * 1000 / 3) {
    return Status(wire::INVALID_ARGUMENT, "leadership keepalive_ms must be at most TTL/3");
  }
  // A call that etcd does not answer must leave time to retry within the validity, and a
  // leader reads its keys only while more than one call's deadline of validity is left.
  options.etcd_timeout_ms = static_cast<int>(std::min<int64_t>(
      options.etcd_timeout_ms, (options.lease_ttl_s * 1000 - options.margin_ms) / 2));
  auto loop_client = EtcdClient::Create(options.etcd_urls, options.etcd_timeout_ms);
  if (!loop_client.ok()) return loop_client.status();
  auto call_client = EtcdClient::Create(options.etcd_urls, options.etcd_timeout_ms);
  if (!call_client.ok()) return call_client.status();
  return std::unique_ptr<Leadership>(new EtcdLeadership(
      std::move(options), std::move(loop_client).value(), std::move(call_client).value()));
}

}  // namespace aplus
