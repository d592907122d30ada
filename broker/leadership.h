// Leadership of a pair of brokers through etcd (docs/AVAILABILITY.md, "etcd keys"): who leads,
// since which epoch, whether this node may still act as leader, and the synchronous-standby key.
//
// A thread of its own talks to etcd (blocking HTTP, common/etcd_client.h): it campaigns when the
// rules allow, keeps the lease alive every keepalive_ms, and watches the `leader` and `sync` keys
// (by polling every poll_ms). The broker's loop reads View() and IsLeaderNow() each turn: they
// never block on etcd.
//
// Riding out a silent etcd (its raft leader lost: no answer until the others elect one): once a
// keep-alive fails, the leader sends the next at once, and reads no key until one succeeds and
// the validity left outlasts a key read that etcd does not answer. An etcd silent for up to
// about `TTL - margin - keepalive_ms` (3 s with the defaults) therefore never demotes it.
//
// Self-demotion: a leader's leadership is valid until `sent + TTL - margin` on the monotonic
// clock, where `sent` is when the last keep-alive that etcd answered with a live lease was sent.
// IsLeaderNow() is false from then on, even if etcd never answers again; the caller then
// acknowledges nothing more (the broker exits "demoted" and rejoins by a full resync). Once
// lost, leadership is never regained by this instance (a new process campaigns again).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"

namespace aplus {

// What the `leader` key says (its value is JSON of the first four fields).
struct LeaderInfo {
  std::string node;
  std::string endpoint;     // clients' endpoint, "tcp://host:7400"
  std::string alerts;       // alert stream endpoint
  std::string replication;  // the replication socket, "tcp://host:7440"
  int64_t epoch = 0;        // the key's create revision
};

// What the `sync` key says.
struct SyncStandby {
  std::string standby;  // "" = none may take over but `leader`
  std::string leader;
  int64_t mod_revision = 0;  // 0 = the key is absent (a fresh cluster)
};

enum class NodeRole {
  kFollower,  // not leading (a leader may or may not be known)
  kLeader,    // won; check IsLeaderNow() before acting on it
  kDemoted,   // was leader, lost it: acknowledge nothing more, exit
};

struct LeadershipView {
  NodeRole role = NodeRole::kFollower;
  int64_t epoch = 0;                  // this node's epoch when it leads; else 0
  std::optional<LeaderInfo> leader;   // the current leader as last read (may be this node)
  SyncStandby sync;                   // as last read or written
  bool etcd_reachable = false;        // the last call to etcd got an answer
  int64_t highest_epoch_seen = 0;     // epochs only increase
};

struct LeadershipOptions {
  std::string etcd_urls;      // comma-separated
  std::string prefix;         // "/aplus/<network name>/": keys `leader` and `sync` under it
  std::string node;           // this node's name
  std::string endpoint;       // published in the `leader` key when this node wins
  std::string alerts;
  std::string replication;
  int64_t lease_ttl_s = 5;
  int64_t margin_ms = 1500;   // leadership ends this long before the lease could expire
  int64_t keepalive_ms = 500; // how often a leader renews its lease (50 ms to TTL/3)
  int64_t poll_ms = 250;      // how often the keys are read
  int etcd_timeout_ms = 1000; // each etcd call's deadline (at most half of TTL - margin)
};

// Whether `node` may campaign while `sync` says this (docs/AVAILABILITY.md, "Who may
// campaign"): `sync` absent (mod_revision 0): anyone; `sync.standby == node`: yes;
// `sync.standby == ""`: only `sync.leader`; otherwise no. A pure function of its arguments.
bool MayCampaign(const SyncStandby& sync, const std::string& node);

class Leadership {
 public:
  // Starts the thread. It campaigns only while SetMayCampaign(true) (a joining node may not):
  // it starts not campaigning, so that a node never campaigns before it has said it may.
  // INVALID_ARGUMENT for a bad URL list, an empty node, a prefix not ending in '/', or
  // timings that cannot work (lease_ttl_s < 2, margin_ms not under 2/3 of the TTL,
  // keepalive_ms not in [50, TTL/3]).
  static Result<std::unique_ptr<Leadership>> Start(LeadershipOptions options);
  virtual ~Leadership() = default;  // stops the thread; a leader revokes its lease (resigns)

  // A consistent copy of the state; any thread, never blocks on etcd.
  virtual LeadershipView View() const = 0;
  // Leader and its leadership still valid on the monotonic clock (see above). Any thread.
  virtual bool IsLeaderNow() const = 0;
  // Whether this node may campaign (it holds a copy it may serve). Any thread.
  virtual void SetMayCampaign(bool may) = 0;
  // Leader only: writes `sync = {standby, leader: this node}` fenced by this node's epoch
  // ("" = no standby: degraded mode, or after a standby was lost). Blocks for one etcd
  // transaction (the loop calls it rarely: when the pair's state changes). NOT_LEADER when
  // this node no longer leads (the fence failed); UNREACHABLE when etcd did not answer.
  virtual Status SetSyncStandby(const std::string& standby) = 0;
};

}  // namespace aplus
