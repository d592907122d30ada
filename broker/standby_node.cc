#include "broker/standby_node.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "broker/broker_options.h"
#include "common/clock.h"
#include "common/curve_client.h"
#include "common/wire.h"
#include "store/broker_store.h"
#include "store/key_layout.h"
#include "store/replication_log.h"

namespace aplus {
namespace {

// After a refusal (either way), attach again no sooner than this, doubled at each refusal in a
// row up to kMaxReattachDelayMs (a standby that cannot take a copy, e.g. on a full disk, must
// not make the leader build a checkpoint five times a second).
constexpr int64_t kReattachDelayMs = 200;
constexpr int64_t kMaxReattachDelayMs = 10000;

}  // namespace

Result<std::unique_ptr<StandbyNode>> StandbyNode::Create(const NetworkConfig& config,
                                                         StandbyOptions options,
                                                         zmq::context_t& context,
                                                         Leadership& leadership) {
  std::unique_ptr<StandbyNode> node(
      new StandbyNode(config, std::move(options), context, leadership));
  const StandbyOptions& o = node->options_;
  if (!o.insecure) {
    auto client_key = ReadSecretKeyFile(o.key_file);
    if (!client_key.ok()) return client_key.status();
    auto peer_key = ReadSecretKeyFile(o.peer_key_file);
    if (!peer_key.ok()) return peer_key.status();
    node->client_key_ = std::move(client_key).value();
    node->peer_key_ = std::move(peer_key).value();
    node->zap_ = std::make_unique<ZapAuthenticator>(context, o.keyring_dir, config);
    Status started = node->zap_->Start();
    if (!started.ok()) return started;
    node->front_.set(zmq::sockopt::curve_server, 1);
    node->front_.set(zmq::sockopt::curve_secretkey, node->client_key_->secret_key);
    node->front_.set(zmq::sockopt::zap_domain, kBrokerZapDomain);
  }
  try {
    node->front_.bind(o.listen_endpoint);
  } catch (const zmq::error_t& e) {
    return Status(wire::INVALID_ARGUMENT,
                  "cannot listen on " + o.listen_endpoint + ": " + e.what());
  }
  auto state = LoadNodeState(o.data_dir);
  if (!state.ok()) return state.status();
  node->state_ = *state;
  // A state file whose data directory is gone (a lost disk reinstalled, a swap that did not
  // finish) describes nothing: this node holds no copy and rejoins by a full one.
  node->had_copy_ = std::filesystem::exists(o.data_dir + "/CURRENT");
  if (node->state_ && !node->had_copy_) {
    spdlog::error("standby {}: {} says epoch {} but the data directory holds no database: this "
                  "node has no copy, and joins by a full one",
                  o.node, NodeStatePath(o.data_dir), node->state_->epoch);
    node->state_.reset();
  }
  node->started_ms_ = SteadyNowMs();
  if (node->state_) node->highest_epoch_ = node->state_->epoch;
  Status opened = node->OpenDatabase();
  if (!opened.ok()) return opened;
  Status http = node->StartHttp();
  if (!http.ok()) return http;
  return node;
}

StandbyNode::StandbyNode(const NetworkConfig& config, StandbyOptions options,
                         zmq::context_t& context, Leadership& leadership)
    : config_(config),
      options_(std::move(options)),
      context_(context),
      leadership_(leadership),
      front_(context, zmq::socket_type::router),
      metrics_(APLUS_VERSION,
               options_.process_started_ms ? options_.process_started_ms : SystemClock().NowMs()) {
  front_.set(zmq::sockopt::linger, 0);
}

StandbyNode::~StandbyNode() = default;

Status StandbyNode::OpenDatabase() {
  auto db = BrokerStore::OpenDatabase(options_.data_dir,
                                      PairedRocksDbOptions(PairLogTtlSeconds(config_)));
  if (!db.ok()) return db.status();
  db_ = std::move(db).value();
  int64_t interval_ms = FixedDurationMs(config_.retention.compaction_interval).value_or(3600000);
  compactor_ = std::make_unique<PurgeCompactor>(*db_, interval_ms);
  purge_requested_ = 0;
  return Status::Ok();
}

void StandbyNode::CloseDatabase() {
  compactor_.reset();  // joined before the database closes
  db_.reset();
}

void StandbyNode::FollowPurges() {
  if (!db_) return;
  auto owed = db_->Get(db_->Family(std::string(keys::kMeta)), keys::kPurgeCompactionOwed);
  if (owed.ok() && owed->has_value() && (*owed)->size() == 8) {
    uint64_t generation = ReadBigEndian64((*owed)->data());
    if (generation > purge_requested_) {
      purge_requested_ = generation;
      // The leader compacts the ranges it purged; the whole case data here is the same
      // guarantee without knowing them (at most once per compaction interval).
      std::vector<KeyRange> ranges;
      for (const char* family : {keys::kCases, keys::kContent, keys::kEvents, keys::kQueues}) {
        ranges.push_back(KeyRange{db_->Family(family), std::nullopt, std::nullopt});
      }
      compactor_->Request(generation, std::move(ranges));
    }
  }
  int64_t now = SteadyNowMs();
  if (now - last_archive_prune_ms_ >= 1000) {
    last_archive_prune_ms_ = now;
    auto deleted = DeleteArchivedLogs(*db_, db_->raw()->GetLatestSequenceNumber(),
                                      static_cast<int64_t>(PairLogTtlSeconds(config_)));
    if (!deleted.ok()) spdlog::warn("standby: archived log not pruned: {}", deleted.status().ToString());
  }
}

bool StandbyNode::MayLead(const LeadershipView& view) const {
  if (resync_ || installing_ || !db_) return false;  // a copy known bad, or being replaced
  if (state_) return true;  // a copy of some epoch: etcd's sync key says whether it may lead
  // No copy yet: only in a fresh cluster (no sync key: the campaign's transaction checks it is
  // still absent). A node whose database is empty lets one with data go first.
  if (!view.etcd_reachable || view.sync.mod_revision != 0) return false;
  return AppliedSequence() > 0 || SteadyNowMs() - started_ms_ > kEmptyNodeCampaignDelayMs;
}

uint64_t StandbyNode::AppliedSequence() const {
  return db_ ? db_->raw()->GetLatestSequenceNumber() : 0;
}

Result<StandbyNode::Outcome> StandbyNode::Run(const std::atomic<bool>& stop) {
  spdlog::info("standby {}: waiting for a leader (data {} at sequence {}{})", options_.node,
               options_.data_dir, AppliedSequence(),
               state_ ? (state_->was_leader ? ", last written as leader of epoch "
                                            : ", copy of epoch ") +
                            std::to_string(state_->epoch)
                      : ", no copy yet");
  int64_t last_view_ms = 0;
  while (!stop.load()) {
    zmq::pollitem_t items[4] = {{front_.handle(), 0, ZMQ_POLLIN, 0},
                                {nullptr, 0, ZMQ_POLLIN, 0},
                                {nullptr, 0, ZMQ_POLLIN, 0},
                                {nullptr, 0, ZMQ_POLLIN, 0}};
    size_t polled = 1;
    if (link_) items[polled++] = {link_->handle(), 0, ZMQ_POLLIN, 0};
    if (zap_) items[polled++] = {zap_->socket().handle(), 0, ZMQ_POLLIN, 0};
    if (http_) items[polled++] = {nullptr, http_->fd(), ZMQ_POLLIN, 0};
    try {
      zmq::poll(items, polled, std::chrono::milliseconds(50));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) spdlog::error("standby: poll failed: {}", e.what());
      continue;
    }
    if (zap_) zap_->AnswerRequests();
    if (items[0].revents & ZMQ_POLLIN) AnswerClients();
    if (http_) http_->Dispatch();  // scrapes and health checks, answered on this thread
    if (link_) {
      ReadLink();  // every turn: silence is judged as of a complete read
      if (db_ && db_->failed() && !fatal_) {
        fatal_ = Status(wire::UNAVAILABLE, "the standby cannot write durably");
      }
    }
    if (fatal_) {
      // A failed write, install or state save: the copy is in doubt; stop (exit 75) and let
      // a restart look at the data directory afresh.
      leadership_.SetMayCampaign(false);
      return *fatal_;
    }
    int64_t now = SteadyNowMs();
    if (now - last_view_ms >= 50) {
      last_view_ms = now;
      LeadershipView view = leadership_.View();
      highest_epoch_ = std::max(highest_epoch_, view.highest_epoch_seen);
      if (view.role == NodeRole::kLeader) {
        spdlog::info("standby {}: won the election (epoch {}) at sequence {}", options_.node,
                     view.epoch, AppliedSequence());
        receiving_.reset();  // a copy being received went to the staging directory only
        link_.reset();
        http_.reset();  // the Broker binds the same address
        CloseDatabase();
        front_.unbind(front_.get(zmq::sockopt::last_endpoint));
        front_.close();
        return Outcome::kPromoted;
      }
      bool may_lead = MayLead(view);
      if (may_lead != campaigning_) {
        campaigning_ = may_lead;
        leadership_.SetMayCampaign(may_lead);
        spdlog::info("standby {}: {} campaign", options_.node, may_lead ? "may" : "may not");
      }
      FollowLeader(view);
      // Recomputed with each view (docs/AVAILABILITY.md, "Clients follow the leader").
      taking_over_ = campaigning_ && view.etcd_reachable &&
                     MayCampaign(view.sync, options_.node) && last_frame_from_leader_ms_ != 0 &&
                     now - last_frame_from_leader_ms_ < options_.takeover_window_ms;
      if (!receiving_) FollowPurges();  // an idle standby too: its archive is pruned on time
      if (zap_ && now - last_keyring_poll_ms_ >= 1000) {
        last_keyring_poll_ms_ = now;
        // A leader's peer key added later is found; one revoked is no longer followed (the
        // link goes now, and Connect finds no key until it is admitted again).
        std::vector<std::string> revoked = zap_->ReloadIfChanged();
        if (link_ && !following_key_.empty() &&
            std::find(revoked.begin(), revoked.end(), following_key_) != revoked.end()) {
          spdlog::warn("standby {}: the peer key of leader {} left the keyring: not following "
                       "it any more",
                       options_.node, following_ ? following_->node : "?");
          link_.reset();
          following_.reset();
          receiving_.reset();
          following_key_.clear();
        }
      }
    }
    if (link_ && following_) {
      // Silence as of the last complete read of the link (a slow apply of our own is not the
      // leader's silence).
      int64_t silent_ms = std::max<int64_t>(0, last_drained_ms_ - last_heard_ms_);
      if (silent_ms > options_.silence_ms && now - attached_at_ms_ > options_.silence_ms) {
        spdlog::warn("standby {}: nothing from leader {} for {} ms: reconnecting", options_.node,
                     following_->node, silent_ms);
        Connect(*following_);
      } else if (attached_at_ms_ == 0 && now - refused_at_ms_ > reattach_delay_ms_) {
        SendAttach();
      }
    }
  }
  return Outcome::kStopped;
}

void StandbyNode::AnswerClients() {
  for (int budget = 0; budget < 1024; ++budget) {
    zmq::message_t routing_id;
    std::optional<size_t> received;
    try {
      received = front_.recv(routing_id, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      return;
    }
    if (!received) return;
    if (!routing_id.more()) continue;
    zmq::message_t payload;
    if (!front_.recv(payload, zmq::recv_flags::none)) return;
    while (payload.more()) {
      zmq::message_t extra;
      if (!front_.recv(extra, zmq::recv_flags::none) || !extra.more()) break;
    }
    wire::Envelope request;
    uint64_t request_id = 0;
    if (payload.size() <= config_.broker.max_frame_bytes &&
        request.ParsePartialFromArray(payload.data(), static_cast<int>(payload.size()))) {
      request_id = request.request_id();
    }
    std::string where = leader_endpoint_.empty() ? "no leader is known yet"
                                                 : "the leader is " + leader_endpoint_;
    // A standby that may take over and no longer hears its leader is about to win (the
    // leader's lease runs out): clients are asked to stay and say Hello again soon, rather
    // than go back to a leader that is dead or frozen (common/broker_link.h).
    const bool taking_over = taking_over_ && !Following();
    wire::Envelope answer = MakeErrorEnvelope(
        request_id,
        Status(wire::NOT_LEADER,
               "this broker is the standby of its pair; " + where +
                   (taking_over ? " (not heard from: this standby takes over when its lease "
                                  "lapses)"
                                : ""))
            .WithRetryAfterMs(taking_over ? kElectionRetryAfterMs : 0));
    answer.mutable_error()->set_leader_endpoint(leader_endpoint_);
    try {
      front_.send(routing_id, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      zmq::message_t encoded = EncodeEnvelope(answer);
      front_.send(encoded, zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The client left: nothing to answer.
    }
  }
}

void StandbyNode::FollowLeader(const LeadershipView& view) {
  if (!view.leader || view.leader->node == options_.node) {
    leader_endpoint_.clear();
    return;
  }
  leader_endpoint_ = view.leader->endpoint;
  if (view.leader->epoch < highest_epoch_) return;  // a stale read: wait for etcd's newer one
  if (following_ && following_->node == view.leader->node &&
      following_->epoch == view.leader->epoch && following_->replication == view.leader->replication) {
    return;
  }
  highest_epoch_ = std::max(highest_epoch_, view.leader->epoch);
  Connect(*view.leader);
}

void StandbyNode::Connect(LeaderInfo leader) {  // a copy: callers pass *following_, reset below
  following_.reset();
  receiving_.reset();
  link_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  link_->set(zmq::sockopt::linger, 0);
  link_->set(zmq::sockopt::maxmsgsize, int64_t{64} << 20);
  link_->set(zmq::sockopt::rcvhwm, 0);
  if (peer_key_) {
    const KeyringEntry* peer = zap_ ? zap_->FindPeer(leader.node) : nullptr;
    if (!peer) {
      int64_t now = SteadyNowMs();
      if (now - last_missing_key_log_ms_ > 60000) {
        last_missing_key_log_ms_ = now;
        spdlog::error("standby {}: no broker-peer key for leader '{}' in the keyring (add "
                      "broker-peer.{}): cannot follow it",
                      options_.node, leader.node, leader.node);
      }
      link_.reset();
      return;  // following_ stays unset: tried again at the next look at the leader
    }
    CurveClientKeys keys{peer->public_key, *peer_key_};
    ApplyCurveClient(*link_, keys);
    following_key_ = peer->public_key;
  }
  try {
    link_->connect(leader.replication);
  } catch (const zmq::error_t& e) {
    // What etcd says is data from the network: a bad endpoint is logged, never a crash.
    spdlog::error("standby {}: cannot connect to leader {} at '{}': {}", options_.node,
                  leader.node, leader.replication, e.what());
    link_.reset();
    return;
  }
  following_ = leader;
  last_leader_frame_ms_ = 0;  // following only once the leader's frames come
  spdlog::info("standby {}: following leader {} (epoch {}) at {}", options_.node, leader.node,
               leader.epoch, leader.replication);
  last_heard_ms_ = SteadyNowMs();
  SendAttach();
}

bool StandbyNode::Following() const {
  if (!link_ || !following_ || last_leader_frame_ms_ == 0) return false;
  // Silence as of the last complete read of the link, as the reconnect rule judges it: after a
  // stall of this loop the leader's frames may sit unread, and the leader is still followed.
  int64_t as_of = std::max(last_drained_ms_, last_leader_frame_ms_);
  return as_of - last_leader_frame_ms_ <= options_.silence_ms;
}

void StandbyNode::SendAttach() {
  if (!link_ || receiving_) return;
  replication::ReplicationFrame frame;
  auto* attach = frame.mutable_attach();
  attach->set_node(options_.node);
  attach->set_applied_sequence(AppliedSequence());
  bool resumable = state_ && !resync_;
  attach->set_applied_epoch(resumable ? state_->epoch : 0);
  attach->set_was_leader(resumable ? state_->was_leader : true);
  std::string bytes;
  frame.SerializeToString(&bytes);
  try {
    link_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
  attached_at_ms_ = SteadyNowMs();
}

void StandbyNode::ReadLink() {
  Status handled = DrainLink();
  // What the drain applied is synced and acknowledged once, whatever ended it.
  if (handled.ok()) handled = SyncAppliedBatches();
  if (!handled.ok()) {
    spdlog::critical("standby {}: {}", options_.node, handled.ToString());
    fatal_ = handled;  // Run() stops
  }
}

Status StandbyNode::DrainLink() {
  for (int budget = 0; budget < 256 && link_ && !fatal_; ++budget) {
    zmq::message_t payload;
    std::optional<size_t> received;
    try {
      received = link_->recv(payload, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      return Status::Ok();
    }
    if (!received) {
      last_drained_ms_ = SteadyNowMs();
      return Status::Ok();
    }
    last_heard_ms_ = SteadyNowMs();
    replication::ReplicationFrame frame;
    if (!frame.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      spdlog::warn("standby: a frame from the leader does not parse (ignored)");
      continue;
    }
    // Batches join the drain's group; anything else first needs what came before synced and
    // acknowledged (a heartbeat's Applied, a checkpoint replacing the database, a refusal).
    if (!frame.has_batches()) {
      Status synced = SyncAppliedBatches();
      if (!synced.ok()) return synced;
    }
    Status handled = HandleFrame(frame);
    if (!handled.ok()) return handled;
  }
  return Status::Ok();
}

Status StandbyNode::HandleFrame(const replication::ReplicationFrame& frame) {
  auto epoch_of = [&]() -> int64_t {
    switch (frame.body_case()) {
      case replication::ReplicationFrame::kBatches: return frame.batches().epoch();
      case replication::ReplicationFrame::kCheckpointBegin: return frame.checkpoint_begin().epoch();
      case replication::ReplicationFrame::kCheckpointChunk: return frame.checkpoint_chunk().epoch();
      case replication::ReplicationFrame::kCheckpointEnd: return frame.checkpoint_end().epoch();
      case replication::ReplicationFrame::kHeartbeat: return frame.heartbeat().epoch();
      case replication::ReplicationFrame::kRefused: return frame.refused().epoch();
      default: return 0;
    }
  };
  int64_t epoch = epoch_of();
  if (epoch < highest_epoch_) {
    // Fencing: a deposed leader's frames are never applied.
    Refuse("epoch " + std::to_string(epoch) + " is older than " + std::to_string(highest_epoch_));
    return Status::Ok();
  }
  highest_epoch_ = epoch;
  // Copying from this leader (Following) while its frames come; a refusal says otherwise.
  last_leader_frame_ms_ = frame.has_refused() ? 0 : SteadyNowMs();
  if (!frame.has_refused()) last_frame_from_leader_ms_ = last_leader_frame_ms_;
  switch (frame.body_case()) {
    case replication::ReplicationFrame::kBatches: return ApplyBatches(frame.batches());
    case replication::ReplicationFrame::kCheckpointBegin:
      return OnCheckpointBegin(frame.checkpoint_begin());
    case replication::ReplicationFrame::kCheckpointChunk:
      return OnCheckpointChunk(frame.checkpoint_chunk());
    case replication::ReplicationFrame::kCheckpointEnd: return OnCheckpointEnd(frame.checkpoint_end());
    case replication::ReplicationFrame::kHeartbeat:
      if (!receiving_) SendApplied();
      return Status::Ok();
    case replication::ReplicationFrame::kRefused:
      spdlog::info("standby {}: the leader asks us to attach again ({})", options_.node,
                   frame.refused().reason());
      receiving_.reset();
      NoteRefusal();  // Run() attaches again after the delay
      return Status::Ok();
    default:
      return Status::Ok();
  }
}

Status StandbyNode::ApplyBatches(const replication::Batches& batches) {
  if (!state_ || state_->epoch != batches.epoch() || state_->was_leader || resync_) {
    // Only a copy of this leader's own history may take its batches (the leader resumes only
    // such a copy; anything else is a protocol slip): ask for a full copy.
    resync_ = true;
    Refuse("our copy is not of epoch " + std::to_string(batches.epoch()) + ": a full copy is needed");
    return Status::Ok();
  }
  if (!db_) return Status(wire::INTERNAL, "batches arrived while no database is open");
  // Every Batches frame of one drain of the link shares one fsync (a group, ended by
  // SyncAppliedBatches); Applied leaves only after it.
  db_->BeginGroup();
  batches_unsynced_ = true;
  for (const auto& batch : batches.batches()) {
    LoggedBatch logged{batch.sequence(), batch.data()};
    uint64_t latest = AppliedSequence();
    if (batch.sequence() <= latest) continue;  // a resend after a reconnect: already here
    Status applied = ApplyLoggedBatch(*db_, logged);
    if (applied.code() == wire::INTERNAL || applied.code() == wire::INVALID_ARGUMENT) {
      // Not where the leader's landed, or not a batch of ours: what came before is kept
      // (synced below), the copy is replaced by a full one.
      batches_unsynced_ = false;
      Status synced = db_->CommitGroup();
      if (!synced.ok()) return synced;
      resync_ = true;
      Refuse(applied.message());
      return Status::Ok();
    }
    if (!applied.ok()) return applied;  // a failed write: fail-stop
  }
  return Status::Ok();
}

Status StandbyNode::SyncAppliedBatches() {
  if (!batches_unsynced_) return Status::Ok();
  batches_unsynced_ = false;
  if (!db_) return Status(wire::INTERNAL, "batches were applied with no database open");
  Status synced = db_->CommitGroup();
  if (!synced.ok()) return synced;  // a failed fsync: fail-stop, never retried
  refusals_in_a_row_ = 0;
  SendApplied();
  FollowPurges();
  return Status::Ok();
}

Status StandbyNode::OnCheckpointBegin(const replication::CheckpointBegin& begin) {
  std::vector<std::string> files(begin.files().begin(), begin.files().end());
  receiving_total_ = begin.total_bytes();
  auto receiver = CheckpointReceiver::Begin(options_.data_dir, files);
  if (!receiver.ok()) {
    Refuse("cannot receive a checkpoint: " + receiver.status().message());
    return Status::Ok();
  }
  receiving_ = std::move(receiver).value();
  receiving_epoch_ = begin.epoch();
  spdlog::info("standby {}: receiving a full copy from the leader ({} files, {} bytes, sequence {})",
               options_.node, files.size(), begin.total_bytes(), begin.sequence());
  return Status::Ok();
}

Status StandbyNode::OnCheckpointChunk(const replication::CheckpointChunk& chunk) {
  if (!receiving_) return Status::Ok();  // a stale chunk after a reconnect
  Status written = receiving_->Write(chunk.file(), chunk.offset(), chunk.data());
  if (!written.ok()) {
    receiving_.reset();
    Refuse("checkpoint chunk refused: " + written.message());
    return Status::Ok();
  }
  SendApplied(receiving_->received_bytes());
  return Status::Ok();
}

Status StandbyNode::OnCheckpointEnd(const replication::CheckpointEnd& end) {
  if (!receiving_) return Status::Ok();
  if (receiving_->received_bytes() != receiving_total_) {
    // A chunk went missing (a reconnect in the middle): a short log would read as a shorter
    // one, so the copy is not installed; attach again for a new one.
    receiving_.reset();
    Refuse("checkpoint incomplete: " + std::to_string(receiving_total_) + " bytes announced");
    return Status::Ok();
  }
  // From the swap until the new state is saved, this node's copy is in between: no campaign.
  installing_ = true;
  campaigning_ = false;
  leadership_.SetMayCampaign(false);
  CloseDatabase();  // closed before its directory is swapped
  Status installed = receiving_->Install();
  receiving_.reset();
  if (!installed.ok()) return installed;  // the data directory is in doubt: stop
  NodeState state{end.epoch(), /*was_leader=*/false};
  Status saved = SaveNodeState(options_.data_dir, state);
  if (!saved.ok()) return saved;
  state_ = state;
  resync_ = false;
  Status opened = OpenDatabase();
  if (!opened.ok()) return opened;
  if (AppliedSequence() != end.sequence()) {
    spdlog::warn("standby {}: the copy opened at sequence {}, the leader said {}", options_.node,
                 AppliedSequence(), end.sequence());
  }
  installing_ = false;  // the loop lets it campaign again (MayLead)
  refusals_in_a_row_ = 0;
  had_copy_ = true;
  spdlog::info("standby {}: full copy installed at sequence {} (epoch {})", options_.node,
               AppliedSequence(), end.epoch());
  SendAttach();
  return Status::Ok();
}

void StandbyNode::NoteRefusal() {
  attached_at_ms_ = 0;
  refused_at_ms_ = SteadyNowMs();
  reattach_delay_ms_ = refusals_in_a_row_++ == 0
                           ? kReattachDelayMs
                           : std::min(reattach_delay_ms_ * 2, kMaxReattachDelayMs);
}

void StandbyNode::SendApplied(uint64_t received_bytes) {
  if (!link_) return;
  replication::ReplicationFrame frame;
  auto* applied = frame.mutable_applied();
  applied->set_epoch(highest_epoch_);
  applied->set_sequence(AppliedSequence());
  applied->set_received_bytes(received_bytes);
  std::string bytes;
  frame.SerializeToString(&bytes);
  try {
    link_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

void StandbyNode::Refuse(const std::string& reason) {
  spdlog::warn("standby {}: refusing the leader's frames: {}", options_.node, reason);
  // What this drain applied before is synced and acknowledged first: the leader drops us when
  // it reads the refusal, and an Applied after it would be answered "not attached".
  Status synced = SyncAppliedBatches();
  if (!synced.ok() && !fatal_) {
    spdlog::critical("standby {}: {}", options_.node, synced.ToString());
    fatal_ = synced;  // Run() stops (never retried)
  }
  last_leader_frame_ms_ = 0;  // not following while refusing
  if (!link_) return;
  replication::ReplicationFrame frame;
  frame.mutable_refused()->set_epoch(highest_epoch_);
  frame.mutable_refused()->set_reason(reason);
  std::string bytes;
  frame.SerializeToString(&bytes);
  try {
    link_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
  NoteRefusal();  // attach again (for a full copy when resync_)
}

}  // namespace aplus
