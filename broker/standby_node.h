// A broker of a pair that does not lead (docs/AVAILABILITY.md): it keeps a copy of the leader's
// database batch for batch, answers every client NOT_LEADER naming the leader, and returns
// when this node wins an election (the caller then starts the Broker on the same data).
//
// It applies only what the current leader ships: frames from an epoch lower than the highest
// it has seen are refused, and a copy it cannot resume (a former leader's data, another
// epoch's, a gap) is replaced by a checkpoint streamed from the leader.
//
// Thread rules: Run() owns everything on the calling thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "broker/http_listener.h"
#include "broker/leadership.h"
#include "broker/standby_metrics.h"
#include "broker/zap_authenticator.h"
#include "common/curve_keys.h"
#include "common/network_config.h"
#include "common/status.h"
#include "http/http_front_door.h"
#include "replication.pb.h"
#include "store/checkpoint_transfer.h"
#include "store/purge_compactor.h"
#include "store/node_state.h"
#include "store/rocks_db.h"

namespace aplus {

struct StandbyOptions {
  std::string node;
  std::string data_dir;
  std::string listen_endpoint;  // the clients' endpoint: answered NOT_LEADER
  // CURVE: the client-facing pair (--key), this node's own pair (--peer-key) and the keyring
  // (where the leader's broker-peer public key is found). Unset key files: plain (--insecure).
  std::string key_file;
  std::string peer_key_file;
  std::string keyring_dir;
  bool insecure = false;
  int64_t silence_ms = 3000;  // no frame from the leader this long: reconnect
  // How long after the leader's last frame a lapse of its lease is still to be expected (its
  // lease TTL plus a margin): within it, a standby that may take over tells clients to stay
  // (NOT_LEADER with a retry hint); past it, a leader still holding its lease is alive and
  // clients go to it.
  int64_t takeover_window_ms = 8000;
  // The HTTP listener while this node is the standby (GET /health, GET /metrics;
  // broker/standby_http.cc), the broker's --http-listen: the Broker binds the same address
  // once this node leads. Empty: none.
  HttpListenerSettings http;
  int64_t process_started_ms = 0;  // Unix ms (process_start_time_seconds on /metrics)
};

class StandbyNode {
 public:
  static Result<std::unique_ptr<StandbyNode>> Create(const NetworkConfig& config,
                                                     StandbyOptions options,
                                                     zmq::context_t& context,
                                                     Leadership& leadership);
  ~StandbyNode();

  enum class Outcome { kStopped, kPromoted };
  // Serves until `stop` (kStopped) or this node leads (kPromoted: the database is closed and
  // the client endpoint unbound when it returns). An error is a durability failure (a failed
  // write while applying): the process must exit as after a failed commit.
  Result<Outcome> Run(const std::atomic<bool>& stop);

 private:
  StandbyNode(const NetworkConfig& config, StandbyOptions options, zmq::context_t& context,
              Leadership& leadership);
  Status OpenDatabase();
  // The HTTP listener (broker/standby_http.cc); its errors are start-up errors.
  Status StartHttp();
  std::vector<HttpRoute> HttpRoutes();
  void ServeHealth(HttpCall&& call);
  void ServeMetrics(HttpCall&& call);
  void AnswerClients();
  void FollowLeader(const LeadershipView& view);
  void Connect(LeaderInfo leader);
  void SendAttach();
  void ReadLink();
  Status HandleFrame(const replication::ReplicationFrame& frame);
  // Applies a Batches frame without sync, in the drain's group.
  Status ApplyBatches(const replication::Batches& batches);
  // Ends the drain's group: one fsync for every Batches frame applied since, then one Applied.
  Status SyncAppliedBatches();
  // Attached to a leader that ships to us: a link, a leader followed, and a frame of it other
  // than a refusal within the silence limit (heartbeats come every second when idle), as of
  // the last complete read of the link.
  bool Following() const;
  // Reads and handles what the link holds (ReadLink syncs after it).
  Status DrainLink();
  Status OnCheckpointBegin(const replication::CheckpointBegin& begin);
  Status OnCheckpointChunk(const replication::CheckpointChunk& chunk);
  Status OnCheckpointEnd(const replication::CheckpointEnd& end);
  void SendApplied(uint64_t received_bytes = 0);
  // Erasure on the standby too: the purge compaction the leader's batches ask for (their
  // "compaction owed" mark), and the archived log, which a standby never serves, deleted.
  void FollowPurges();
  void CloseDatabase();
  void Refuse(const std::string& reason);
  // A refusal either way: the next Attach waits, longer at each refusal in a row.
  void NoteRefusal();
  uint64_t AppliedSequence() const;
  // Whether this node may campaign now (docs/AVAILABILITY.md, "Who may campaign").
  bool MayLead(const LeadershipView& view) const;
  static constexpr int64_t kEmptyNodeCampaignDelayMs = 3000;

  const NetworkConfig& config_;
  const StandbyOptions options_;
  zmq::context_t& context_;
  Leadership& leadership_;
  std::unique_ptr<ZapAuthenticator> zap_;  // null when plain
  std::optional<CurveKeyPair> client_key_;
  std::optional<CurveKeyPair> peer_key_;
  zmq::socket_t front_;  // ROUTER: clients, answered NOT_LEADER
  std::unique_ptr<zmq::socket_t> link_;  // DEALER to the leader's replication endpoint
  std::optional<LeaderInfo> following_;
  std::string following_key_;  // the followed leader's peer public key ("" without CURVE)
  std::unique_ptr<RocksDb> db_;
  // Declared after db_: destroyed (joined) before it; also reset by CloseDatabase.
  std::unique_ptr<PurgeCompactor> compactor_;
  uint64_t purge_requested_ = 0;
  int64_t last_archive_prune_ms_ = 0;
  std::optional<NodeState> state_;
  int64_t highest_epoch_ = 0;
  int64_t last_heard_ms_ = 0;
  int64_t last_leader_frame_ms_ = 0;  // the followed leader's last frame but a refusal (0: none)
  int64_t last_drained_ms_ = 0;  // when ReadLink last read everything that had arrived
  int64_t attached_at_ms_ = 0;
  std::string leader_endpoint_;  // for NOT_LEADER answers
  // Whether this standby is about to take over: etcd lets it campaign (it holds a copy, the
  // sync key names it), it does not hear its leader, and the leader's last frame is recent
  // enough that its lease may still be running out (takeover_window_ms). Set with each view.
  bool taking_over_ = false;
  // The last frame (not a refusal) from a leader (steady ms; 0: none yet), for the window.
  int64_t last_frame_from_leader_ms_ = 0;
  // The retry hint of a NOT_LEADER while this standby may take over and does not hear its
  // leader: clients say Hello again that soon.
  static constexpr int64_t kElectionRetryAfterMs = 500;
  std::unique_ptr<CheckpointReceiver> receiving_;
  int64_t receiving_epoch_ = 0;
  uint64_t receiving_total_ = 0;
  bool batches_unsynced_ = false;  // applied in the open group, not yet fsynced nor acknowledged
  bool resync_ = false;  // our copy cannot be resumed: attach as one that needs a full copy
  bool had_copy_ = false;     // the data directory held a database when this node started
  bool installing_ = false;   // a full copy is being swapped in
  int64_t refused_at_ms_ = 0;
  int64_t reattach_delay_ms_ = 0;
  int refusals_in_a_row_ = 0;
  bool campaigning_ = false;  // what SetMayCampaign was last told
  int64_t started_ms_ = 0;
  int64_t last_keyring_poll_ms_ = 0;
  int64_t last_missing_key_log_ms_ = -1000000;
  std::optional<Status> fatal_;  // the first failure that stops the node
  StandbyMetrics metrics_;
  std::unique_ptr<HttpFrontDoor> http_;  // null without --http-listen; closed at promotion
};

}  // namespace aplus
