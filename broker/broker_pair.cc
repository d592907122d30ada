// The leader's side of a pair (docs/AVAILABILITY.md): what waits for the standby's copy, the
// strict and degraded modes, naming the standby in etcd, and stopping when leadership is lost.
#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "broker/leadership.h"
#include "store/replication_log.h"
#include "common/curve_keys.h"

namespace aplus {

Status Broker::StartPair() {
  const PairSettings& pair = *options_.pair;
  ReplicationLeaderOptions replication;
  replication.listen = pair.replication_listen;
  replication.epoch = pair.epoch;
  replication.checkpoint_dir = options_.data_dir + ".checkpoint";
  ReplicationLeader::PrincipalOf principal_of;
  if (!options_.insecure) {
    auto key = ReadSecretKeyFile(pair.peer_key_file);
    if (!key.ok()) return key.status();
    replication.peer_key = std::move(key).value();
    principal_of = [this](const std::string& public_key) -> std::string {
      const KeyringEntry* entry = zap_ ? zap_->Find(public_key) : nullptr;
      return entry && entry->role == wire::BROKER_PEER ? entry->principal : "";
    };
  }
  auto leader = ReplicationLeader::Create(context_, store_->db(), std::move(replication),
                                          std::move(principal_of));
  if (!leader.ok()) return leader.status();
  replication_ = std::move(leader).value();
  // The campaign wrote `sync = {"standby": "", "leader": us}`: degraded mode may answer alone
  // at once; strict mode waits for a standby to catch up.
  alone_ = pair.availability.mode == AvailabilitySettings::Mode::kDegraded;
  spdlog::info("pair: leading as {} (epoch {}), replication on {}, availability mode {}", pair.node,
               pair.epoch, replication_->endpoint(), alone_ ? "degraded" : "strict");
  return Status::Ok();
}

void Broker::FillPairStats(wire::PairStats& stats) const {
  const PairSettings& pair = *options_.pair;
  stats.set_node(pair.node);
  stats.set_epoch(pair.epoch);
  stats.set_mode(pair.availability.mode == AvailabilitySettings::Mode::kDegraded ? "degraded"
                                                                                 : "strict");
  stats.set_state(PairState());
  stats.set_standby(replication_->standby_node());
  stats.set_committed_sequence(replication_->committed_sequence());
  stats.set_standby_applied_sequence(replication_->applied_sequence());
}

std::string Broker::PairState() const {
  if (!CanAcknowledge()) return "waiting for a standby";
  return alone_ ? "alone" : "paired";
}

bool Broker::CanAcknowledge() const {
  if (!replication_) return true;
  if (durability_failure_) return false;
  if (alone_) return true;
  return replication_->standby_synchronous() && !named_standby_.empty() &&
         named_standby_ == replication_->standby_node();
}

bool Broker::ReplicateCommitted() {
  const PairSettings& pair = *options_.pair;
  // Already shipped before our own fsync (CommitLocally).
  uint64_t sequence = replication_->committed_sequence();
  if (!pair.leadership->IsLeaderNow()) {
    Demote("its etcd lease could not be renewed in time");
    return false;
  }
  if (replication_->standby_synchronous()) {
    bool applied = replication_->AwaitApplied(
        sequence, pair.availability.standby_ack_timeout_ms, [this] {
          if (zap_) zap_->AnswerRequests();  // a standby reconnecting needs its handshake
        });
    if (applied && (CanAcknowledge() || NameStandby())) {
    // The copy took a while: answers leave only while this node still leads.
    if (pair.leadership->IsLeaderNow()) return true;
    Demote("its etcd lease could not be renewed in time");
    return false;
  }
    if (durability_failure_) return false;
    if (applied) {
      // Copied, but etcd does not name it yet: answered as without a copy (below).
    } else {
      replication_->DropStandby("no copy of sequence " + std::to_string(sequence) + " within " +
                              std::to_string(pair.availability.standby_ack_timeout_ms) + " ms");
    }
    if (!pair.leadership->IsLeaderNow()) {
      Demote("its etcd lease could not be renewed in time");
      return false;
    }
  }
  if (alone_) return true;
  if (GoAlone("no standby holds a copy")) return true;
  // The batch is on this disk and will reach the standby when one attaches: its alerts are
  // kept and published then (their ids are deterministic: they would never be raised again).
  std::vector<wire::Alert> alerts = std::move(alerts_to_publish_);
  FailPendingAnswers(
      pair.availability.mode == AvailabilitySettings::Mode::kStrict
          ? "no standby holds a copy of this write yet (availability mode strict): nothing is "
            "acknowledged until one has caught up; retry"
          : "no standby holds a copy of this write, and etcd could not be told so yet "
            "(availability mode degraded); retry");
  alerts_to_publish_ = std::move(alerts);
  return false;
}

bool Broker::GoAlone(const std::string& why) {
  const PairSettings& pair = *options_.pair;
  if (pair.availability.mode != AvailabilitySettings::Mode::kDegraded) return false;
  if (alone_) return true;
  if (!EtcdAttemptDue()) return false;
  // First the key, then the answers: a standby that missed them can no longer be promoted.
  Status cleared = pair.leadership->SetSyncStandby("");
  if (cleared.code() == wire::NOT_LEADER) {
    Demote("the synchronous-standby key could not be written: " + cleared.message());
    return false;
  }
  if (!cleared.ok()) {
    spdlog::warn("pair: cannot clear the synchronous-standby key ({}): answers wait",
                 cleared.ToString());
    EtcdAttemptFailed();
    return false;
  }
  spdlog::warn("pair: {}; degraded mode: the synchronous-standby key is cleared, this broker "
               "answers alone",
               why);
  alone_ = true;
  named_standby_.clear();
  return true;
}

void Broker::TendPair() {
  if (!replication_ || durability_failure_) return;
  const PairSettings& pair = *options_.pair;
  replication_->Tick();
  if (!pair.leadership->IsLeaderNow()) {
    Demote("its etcd lease could not be renewed in time");
    return;
  }
  if (replication_->standby_synchronous() && named_standby_ != replication_->standby_node()) {
    NameStandby();
  } else if (pair.availability.mode == AvailabilitySettings::Mode::kDegraded &&
             !CanAcknowledge() && !durability_failure_) {
    // The standby was lost outside a commit (silent, refused, unreachable): degraded mode
    // clears the key now rather than refusing every request until the next commit.
    GoAlone("the standby was lost");
  }
  PruneArchivedLog();
}

void Broker::PruneArchivedLog() {
  int64_t now = SteadyNowMs();
  if (now - last_archive_prune_ms_ < kArchivePruneEveryMs) return;
  last_archive_prune_ms_ = now;
  // Archived log files hold what a purge erased: kept only while the standby may still need
  // them (it has not applied them), and never longer than the compaction interval.
  auto deleted = DeleteArchivedLogs(store_->db(), replication_->applied_sequence(),
                                    static_cast<int64_t>(PairLogTtlSeconds(config_)));
  if (!deleted.ok()) {
    spdlog::warn("pair: archived log files not pruned: {}", deleted.status().ToString());
  } else if (*deleted > 0) {
    spdlog::debug("pair: {} archived log file(s) deleted", *deleted);
  }
}

bool Broker::EtcdAttemptDue() const { return SteadyNowMs() >= next_etcd_attempt_ms_; }

void Broker::EtcdAttemptFailed() { next_etcd_attempt_ms_ = SteadyNowMs() + kEtcdRetryMs; }

bool Broker::NameStandby() {
  const PairSettings& pair = *options_.pair;
  if (!EtcdAttemptDue()) return false;
  // From here on the key may name the standby even if etcd's answer is lost: never alone
  // again until GoAlone has cleared it (which it does before anything is answered alone).
  alone_ = false;
  named_standby_.clear();
  // Every commit already waits for this standby: name it, so that it alone may take over.
  Status named = pair.leadership->SetSyncStandby(replication_->standby_node());
  if (named.code() == wire::NOT_LEADER) {
    Demote("the synchronous-standby key could not be written: " + named.message());
    return false;
  }
  if (!named.ok()) {
    spdlog::warn("pair: cannot name standby {} in etcd ({}); retrying",
                 replication_->standby_node(), named.ToString());
    EtcdAttemptFailed();
    return false;
  }
  named_standby_ = replication_->standby_node();
  alone_ = false;
  spdlog::info("pair: standby {} named synchronous (epoch {}): every answer waits for its copy",
               named_standby_, pair.epoch);
  return true;
}

void Broker::Demote(const std::string& why) {
  if (durability_failure_) return;
  spdlog::critical("this broker is no longer the leader of its pair ({}): it acknowledges "
                   "nothing more and stops (exit status 76); restarted, it rejoins as a standby "
                   "with a full copy",
                   why);
  durability_failure_ = Status(wire::NOT_LEADER, "this broker lost its leadership; retry on the "
                                                 "pair's other broker");
  FailPendingAnswers(durability_failure_->message());
}

}  // namespace aplus
