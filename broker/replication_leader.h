// The leader's end of the replication link (docs/AVAILABILITY.md, "Replication protocol"): one
// ROUTER socket that one standby attaches to, the log shipped from the standby's last sequence
// (catch-up and live shipping are the same reads of the write-ahead log), a checkpoint streamed
// when the standby cannot resume, and the wait for the standby's copy of a batch.
//
// Thread rules: the broker's loop thread owns it, like the broker's other sockets. Nothing here
// blocks but AwaitApplied, which blocks at most until its deadline. A checkpoint is made on a
// worker thread of its own (its flush takes as long as the memtables are big), which only
// reads the database; the loop goes on serving meanwhile and picks the copy up in Tick().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "common/curve_keys.h"
#include "common/status.h"
#include "replication.pb.h"
#include "store/checkpoint_transfer.h"
#include "store/replication_log.h"
#include "store/rocks_db.h"

namespace aplus {

struct ReplicationLeaderOptions {
  std::string listen;          // --replication-listen
  int64_t epoch = 0;           // this leader's epoch
  std::optional<CurveKeyPair> peer_key;  // this node's own pair; nullopt = plain (--insecure)
  std::string checkpoint_dir;  // where checkpoints are made (same file system as the data)
  size_t max_shipment_bytes = 4 << 20;   // log bytes per Batches frame, about
  size_t window_bytes = 32 << 20;        // shipped and not yet applied, at most
  size_t chunk_bytes = 1 << 20;          // checkpoint chunk
  int64_t heartbeat_ms = 1000;
  int64_t silence_ms = 3000;   // a standby silent this long (and not awaited) is dropped
  // Makes the checkpoint, on the worker thread (tests slow it down; default MakeCheckpoint).
  std::function<Result<CheckpointManifest>(RocksDb& db, const std::string& dir)> make_checkpoint;
};

class ReplicationLeader {
 public:
  // Binds the socket (with CURVE and the replication ZAP domain when a peer key is given: the
  // broker's ZAP handler must already be bound). `principal_of` maps a CURVE User-Id (public
  // key) to the broker-peer principal of the keyring ("" when unknown; nullptr = trust Attach).
  using PrincipalOf = std::function<std::string(const std::string& public_key)>;
  static Result<std::unique_ptr<ReplicationLeader>> Create(zmq::context_t& context, RocksDb& db,
                                                           ReplicationLeaderOptions options,
                                                           PrincipalOf principal_of);

  ~ReplicationLeader();
  zmq::socket_t& socket() { return socket_; }
  const std::string& endpoint() const { return endpoint_; }

  // After each local commit: the database's latest sequence. Ships what the standby lacks.
  void Committed(uint64_t sequence);
  // Blocks until the standby has applied `sequence` (true) or `timeout_ms` passed (false).
  // `between_polls` runs between polls (the broker answers ZAP handshakes there).
  bool AwaitApplied(uint64_t sequence, int64_t timeout_ms, const std::function<void()>& between_polls);
  // Reads what the standby sent; call when the socket is readable.
  void OnReadable();
  // Heartbeats, checkpoint chunks, dropping a silent standby. Call every turn.
  void Tick();
  // The standby failed to copy a batch in time: it is dropped (it attaches again and resumes).
  void DropStandby(const std::string& why);

  // The pair's state, for the broker and operators.
  bool has_standby() const { return standby_.has_value(); }
  // The attached standby has applied every committed batch at least once since it attached:
  // from then on each commit waits for it.
  bool standby_synchronous() const { return standby_ && standby_->caught_up; }
  std::string standby_node() const { return standby_ ? standby_->node : ""; }
  // The attached standby's CURVE public key ("" without CURVE or without a standby): the
  // broker drops the standby when the keyring no longer holds it (a revoked peer key).
  std::string standby_public_key() const { return standby_ ? standby_->public_key : ""; }
  uint64_t applied_sequence() const { return standby_ ? standby_->applied : 0; }
  uint64_t committed_sequence() const { return committed_; }
  // A checkpoint is being made on the worker thread.
  bool making_checkpoint() const { return making_.valid(); }
  // Milliseconds until Tick() has something to do (the loop's poll timeout).
  int NextTickInMs() const;

 private:
  ReplicationLeader(zmq::context_t& context, RocksDb& db, ReplicationLeaderOptions options,
                    PrincipalOf principal_of);
  struct Standby {
    std::string routing_id;
    std::string node;
    std::string public_key;     // its CURVE User-Id at Attach ("" without CURVE)
    uint64_t applied = 0;       // durable on the standby
    uint64_t next_to_send = 0;  // first sequence not shipped yet
    // Where the last read of our log stopped: the next shipment reads on from there instead of
    // seeking from the start of the live log file again (store/replication_log.h).
    LogCursor log_cursor;
    bool caught_up = false;
    // Shipments not yet applied: (their last sequence, bytes), oldest first.
    std::deque<std::pair<uint64_t, size_t>> in_flight;
    size_t bytes_in_flight = 0;
    int64_t last_heard_ms = 0;
    int64_t last_sent_ms = 0;
    // Waits for the checkpoint being made (making_) to stream it.
    bool awaiting_checkpoint = false;
    // A checkpoint being streamed (empty manifest: none).
    std::optional<CheckpointManifest> checkpoint;
    // Getting a whole copy (being made or streamed): no log is shipped meanwhile.
    bool copying() const { return checkpoint.has_value() || awaiting_checkpoint; }
    size_t file_index = 0;
    uint64_t file_offset = 0;
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
  };
  void HandleFrame(const std::string& routing_id, const std::string& user_id,
                   const replication::ReplicationFrame& frame);
  void OnAttach(const std::string& routing_id, const std::string& user_id,
                const replication::Attach& attach);
  // The standby gets a whole copy: the checkpoint being made if there is one (made for a
  // standby dropped meanwhile: the same leader's history, as good), or one started now on the
  // worker thread.
  void StartCheckpoint();
  // Once the worker is done: streams the checkpoint to the standby awaiting it (CheckpointBegin,
  // then chunks), drops that standby if it could not be made, or removes it when nobody awaits
  // it any more.
  void TakeMadeCheckpoint();
  // Removes the checkpoint being streamed, if any (its hard links pin erased data). One being
  // made is left to TakeMadeCheckpoint: the loop never waits for the worker but at destruction.
  void DropCheckpoint();
  void SendCheckpointChunks();
  void SendLog();
  bool Send(const std::string& routing_id, const replication::ReplicationFrame& frame);

  zmq::context_t& context_;
  RocksDb& db_;
  const ReplicationLeaderOptions options_;
  PrincipalOf principal_of_;
  zmq::socket_t socket_;
  std::string endpoint_;
  uint64_t committed_ = 0;
  int64_t last_drained_ms_ = 0;  // when OnReadable last read everything that had arrived
  std::optional<Standby> standby_;
  // The checkpoint being made on the worker thread (valid until TakeMadeCheckpoint takes it).
  std::future<Result<CheckpointManifest>> making_;
};

}  // namespace aplus
