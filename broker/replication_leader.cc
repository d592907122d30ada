#include "broker/replication_leader.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "broker/zap_authenticator.h"
#include "common/clock.h"
#include "store/replication_log.h"

namespace aplus {
namespace {

// The options as the leader keeps them: the checkpoint maker defaulted once, here.
ReplicationLeaderOptions WithDefaultMaker(ReplicationLeaderOptions options) {
  if (!options.make_checkpoint) options.make_checkpoint = MakeCheckpoint;
  return options;
}

}  // namespace

Result<std::unique_ptr<ReplicationLeader>> ReplicationLeader::Create(
    zmq::context_t& context, RocksDb& db, ReplicationLeaderOptions options,
    PrincipalOf principal_of) {
  std::unique_ptr<ReplicationLeader> leader(
      new ReplicationLeader(context, db, std::move(options), std::move(principal_of)));
  try {
    if (leader->options_.peer_key) {
      leader->socket_.set(zmq::sockopt::curve_server, 1);
      leader->socket_.set(zmq::sockopt::curve_secretkey, leader->options_.peer_key->secret_key);
      leader->socket_.set(zmq::sockopt::zap_domain, kReplicationZapDomain);
    }
    leader->socket_.bind(leader->options_.listen);
    leader->endpoint_ = leader->socket_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status(wire::INVALID_ARGUMENT,
                  "cannot listen for the standby on " + leader->options_.listen + ": " + e.what());
  }
  leader->committed_ = db.raw()->GetLatestSequenceNumber();
  return leader;
}

ReplicationLeader::ReplicationLeader(zmq::context_t& context, RocksDb& db,
                                     ReplicationLeaderOptions options, PrincipalOf principal_of)
    : context_(context),
      db_(db),
      options_(WithDefaultMaker(std::move(options))),
      principal_of_(std::move(principal_of)),
      socket_(context, zmq::socket_type::router) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::router_mandatory, 1);
  socket_.set(zmq::sockopt::sndhwm, 0);  // flow control is ours (window_bytes)
  socket_.set(zmq::sockopt::maxmsgsize, int64_t{64} << 20);
  socket_.set(zmq::sockopt::heartbeat_ivl, 1000);
  socket_.set(zmq::sockopt::heartbeat_timeout, 3000);
}

ReplicationLeader::~ReplicationLeader() {
  DropCheckpoint();
  if (making_.valid()) {
    // The worker is flushing and linking files: wait for it, then remove what it made.
    auto made = making_.get();
    if (made.ok()) (void)RemoveCheckpoint(*made);
  }
}

void ReplicationLeader::Committed(uint64_t sequence) {
  committed_ = sequence;
  if (standby_ && !standby_->copying()) SendLog();
}

bool ReplicationLeader::AwaitApplied(uint64_t sequence, int64_t timeout_ms,
                                     const std::function<void()>& between_polls) {
  const int64_t deadline = SteadyNowMs() + timeout_ms;
  while (standby_ && standby_->applied < sequence) {
    int64_t left = deadline - SteadyNowMs();
    if (left <= 0) return false;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(std::min<int64_t>(left, 20)));
    } catch (const zmq::error_t&) {
      // EINTR: go round (the deadline still holds)
    }
    if (item.revents & ZMQ_POLLIN) OnReadable();
    if (between_polls) between_polls();
    if (standby_ && !standby_->copying()) SendLog();  // the window may have opened
  }
  return standby_.has_value();
}

void ReplicationLeader::OnReadable() {
  for (int budget = 0; budget < 256; ++budget) {
    zmq::message_t routing_id;
    std::optional<size_t> received;
    try {
      received = socket_.recv(routing_id, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      spdlog::warn("replication: receive failed: {}", e.what());
      return;
    }
    if (!received) {
      last_drained_ms_ = SteadyNowMs();
      return;
    }
    if (!routing_id.more()) return;
    zmq::message_t payload;
    if (!socket_.recv(payload, zmq::recv_flags::none)) return;
    while (payload.more()) {  // a frame of another shape: drained, ignored
      zmq::message_t extra;
      if (!socket_.recv(extra, zmq::recv_flags::none) || !extra.more()) break;
    }
    const char* user_id = zmq_msg_gets(payload.handle(), "User-Id");
    replication::ReplicationFrame frame;
    if (!frame.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      spdlog::warn("replication: a frame that does not parse (ignored)");
      continue;
    }
    HandleFrame(routing_id.to_string(), user_id ? user_id : "", frame);
  }
}

void ReplicationLeader::HandleFrame(const std::string& routing_id, const std::string& user_id,
                                    const replication::ReplicationFrame& frame) {
  if (frame.has_attach()) {
    OnAttach(routing_id, user_id, frame.attach());
    return;
  }
  if (!standby_ || standby_->routing_id != routing_id) {
    // A standby we dropped (or another connection): it must attach again.
    replication::ReplicationFrame refused;
    refused.mutable_refused()->set_epoch(options_.epoch);
    refused.mutable_refused()->set_reason("not attached: attach again");
    Send(routing_id, refused);
    return;
  }
  standby_->last_heard_ms = SteadyNowMs();
  if (frame.has_applied()) {
    const auto& applied = frame.applied();
    if (standby_->awaiting_checkpoint) return;  // a heartbeat's answer while the copy is made
    if (standby_->checkpoint) {
      standby_->bytes_received = std::max(standby_->bytes_received, applied.received_bytes());
      SendCheckpointChunks();
      return;
    }
    if (applied.sequence() > standby_->applied) standby_->applied = applied.sequence();
    if (!standby_->caught_up && standby_->applied >= committed_) {
      standby_->caught_up = true;
      spdlog::info("replication: standby {} has every committed batch (sequence {}): the pair "
                   "is whole", standby_->node, committed_);
    }
    SendLog();
  } else if (frame.has_refused()) {
    spdlog::warn("replication: standby {} refused our frames (its epoch {}): {}", standby_->node,
                 frame.refused().epoch(), frame.refused().reason());
    DropCheckpoint();
    standby_.reset();
  }
}

void ReplicationLeader::OnAttach(const std::string& routing_id, const std::string& user_id,
                                 const replication::Attach& attach) {
  std::string node = attach.node();
  if (principal_of_) {
    std::string principal = principal_of_(user_id);
    if (principal.empty() || principal != node) {
      spdlog::warn("replication: Attach naming node '{}' from a key of principal '{}': refused",
                   node, principal);
      replication::ReplicationFrame refused;
      refused.mutable_refused()->set_epoch(options_.epoch);
      refused.mutable_refused()->set_reason("the key's principal is not the node named");
      Send(routing_id, refused);
      return;
    }
  }
  if (standby_ && standby_->routing_id != routing_id) {
    spdlog::info("replication: standby {} replaced by a new attachment of {}", standby_->node, node);
  }
  DropCheckpoint();
  Standby standby;
  standby.routing_id = routing_id;
  standby.node = node;
  standby.public_key = user_id;
  standby.last_heard_ms = SteadyNowMs();
  standby_ = std::move(standby);
  // Resume only a copy of this very leader's history (docs/AVAILABILITY.md, "Node state").
  bool resumable = !attach.was_leader() && attach.applied_epoch() == options_.epoch &&
                   attach.applied_sequence() <= committed_;
  if (resumable && attach.applied_sequence() < committed_) {
    auto probe = ReadLogSince(db_, attach.applied_sequence() + 1, 1);
    resumable = probe.ok() && probe->has_value() && !(*probe)->empty();
  }
  if (!resumable) {
    spdlog::info("replication: standby {} attached at sequence {} (epoch {}{}): it gets a full "
                 "copy",
                 node, attach.applied_sequence(), attach.applied_epoch(),
                 attach.was_leader() ? ", a former leader" : "");
    StartCheckpoint();
    return;
  }
  spdlog::info("replication: standby {} resumes after sequence {} (ours: {})", node,
               attach.applied_sequence(), committed_);
  standby_->applied = attach.applied_sequence();
  standby_->next_to_send = attach.applied_sequence() + 1;
  if (standby_->applied >= committed_) {
    standby_->caught_up = true;
    spdlog::info("replication: standby {} has every committed batch: the pair is whole", node);
  }
  SendLog();
}

void ReplicationLeader::StartCheckpoint() {
  standby_->awaiting_checkpoint = true;
  // The copy replaces whatever it had: not synchronous (strict mode acknowledges nothing until
  // the pair is whole again), nothing in flight.
  standby_->caught_up = false;
  standby_->in_flight.clear();
  standby_->bytes_in_flight = 0;
  if (making_.valid()) {
    spdlog::info("replication: standby {} gets the checkpoint being made", standby_->node);
    return;
  }
  spdlog::info("replication: making a checkpoint for standby {}", standby_->node);
  const auto& make = options_.make_checkpoint;
  try {
    making_ = std::async(std::launch::async,
                         [make, db = &db_, dir = options_.checkpoint_dir]() -> Result<CheckpointManifest> {
                           try {
                             return make(*db, dir);
                           } catch (const std::exception& e) {
                             return Status(wire::INTERNAL, std::string("checkpoint: ") + e.what());
                           }
                         });
  } catch (const std::system_error& e) {
    DropStandby(std::string("no thread to make a checkpoint: ") + e.what());
  }
}

void ReplicationLeader::TakeMadeCheckpoint() {
  if (!making_.valid() ||
      making_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    return;
  }
  auto manifest = making_.get();
  if (!standby_ || !standby_->awaiting_checkpoint) {
    // Made for a standby dropped meanwhile, and nobody else asked for a copy since.
    if (manifest.ok()) {
      Status removed = RemoveCheckpoint(*manifest);
      if (!removed.ok()) spdlog::warn("replication: {}", removed.ToString());
    }
    return;
  }
  standby_->awaiting_checkpoint = false;
  if (!manifest.ok()) {
    // Refused, so that the standby backs off before it attaches again (a full disk).
    DropStandby("cannot make a checkpoint: " + manifest.status().ToString());
    return;
  }
  replication::ReplicationFrame begin;
  auto* body = begin.mutable_checkpoint_begin();
  body->set_epoch(options_.epoch);
  body->set_sequence(manifest->sequence);
  body->set_total_bytes(manifest->total_bytes);
  for (const auto& file : manifest->files) body->add_files(file.name);
  standby_->checkpoint = std::move(manifest).value();
  standby_->file_index = 0;
  standby_->file_offset = 0;
  standby_->bytes_sent = 0;
  standby_->bytes_received = 0;
  spdlog::info("replication: streaming a checkpoint of {} files, {} bytes, sequence {}",
               standby_->checkpoint->files.size(), standby_->checkpoint->total_bytes,
               standby_->checkpoint->sequence);
  if (!Send(standby_->routing_id, begin)) return;
  SendCheckpointChunks();
}

void ReplicationLeader::SendCheckpointChunks() {
  if (!standby_ || !standby_->checkpoint) return;
  const CheckpointManifest& manifest = *standby_->checkpoint;
  while (standby_->bytes_sent < standby_->bytes_received + options_.window_bytes) {
    if (standby_->file_index >= manifest.files.size()) {
      if (standby_->bytes_received < manifest.total_bytes) return;  // wait for the last acks
      replication::ReplicationFrame end;
      end.mutable_checkpoint_end()->set_epoch(options_.epoch);
      end.mutable_checkpoint_end()->set_sequence(manifest.sequence);
      Send(standby_->routing_id, end);
      // The standby installs the copy and attaches again (resuming after manifest.sequence).
      spdlog::info("replication: checkpoint sent to standby {}", standby_->node);
      DropCheckpoint();
      standby_.reset();
      return;
    }
    const CheckpointFile& file = manifest.files[standby_->file_index];
    if (standby_->file_offset >= file.size) {
      if (file.size == 0 && standby_->file_offset == 0) {
        // An empty file is sent as one empty chunk so the standby creates it.
        replication::ReplicationFrame chunk;
        auto* body = chunk.mutable_checkpoint_chunk();
        body->set_epoch(options_.epoch);
        body->set_file(file.name);
        body->set_offset(0);
        if (!Send(standby_->routing_id, chunk)) return;
      }
      ++standby_->file_index;
      standby_->file_offset = 0;
      continue;
    }
    auto data = ReadCheckpointChunk(manifest, file.name, standby_->file_offset, options_.chunk_bytes);
    if (!data.ok() || data->empty()) {
      spdlog::error("replication: cannot read checkpoint file {}: {}", file.name,
                    data.ok() ? "short" : data.status().ToString());
      DropCheckpoint();
      standby_.reset();
      return;
    }
    replication::ReplicationFrame chunk;
    auto* body = chunk.mutable_checkpoint_chunk();
    body->set_epoch(options_.epoch);
    body->set_file(file.name);
    body->set_offset(standby_->file_offset);
    body->set_data(*data);
    if (!Send(standby_->routing_id, chunk)) return;
    standby_->file_offset += data->size();
    standby_->bytes_sent += data->size();
  }
}

void ReplicationLeader::SendLog() {
  while (standby_ && !standby_->copying() && standby_->next_to_send <= committed_) {
    // Flow control: what is shipped and not yet applied stays under the window.
    while (!standby_->in_flight.empty() &&
           standby_->in_flight.front().first <= standby_->applied) {
      standby_->bytes_in_flight -= standby_->in_flight.front().second;
      standby_->in_flight.pop_front();
    }
    if (standby_->bytes_in_flight >= options_.window_bytes) return;
    auto batches = ReadLogSince(db_, standby_->next_to_send, options_.max_shipment_bytes,
                                &standby_->log_cursor);
    if (!batches.ok()) {
      spdlog::error("replication: cannot read our log from {}: {}", standby_->next_to_send,
                    batches.status().ToString());
      DropStandby("the log cannot be read");
      return;
    }
    if (!batches->has_value()) {
      // The log no longer holds what the standby needs: a whole copy.
      spdlog::info("replication: our log no longer holds sequence {}: standby {} gets a full copy",
                   standby_->next_to_send, standby_->node);
      StartCheckpoint();
      return;
    }
    if ((*batches)->empty()) return;  // everything committed is shipped
    replication::ReplicationFrame frame;
    auto* body = frame.mutable_batches();
    body->set_epoch(options_.epoch);
    uint64_t next = standby_->next_to_send;
    for (auto& batch : **batches) {
      next = LastSequenceOf(batch) + 1;
      auto* out = body->add_batches();
      out->set_sequence(batch.sequence);
      out->set_data(std::move(batch.data));
    }
    size_t bytes = frame.ByteSizeLong();
    if (!Send(standby_->routing_id, frame)) return;
    standby_->next_to_send = next;
    standby_->in_flight.emplace_back(next - 1, bytes);
    standby_->bytes_in_flight += bytes;
  }
}

void ReplicationLeader::Tick() {
  OnReadable();  // a complete read first: silence is judged as of it
  TakeMadeCheckpoint();
  if (!standby_) return;
  int64_t now = SteadyNowMs();
  // Silence as of the last complete read of the socket: a stall of our own loop (a slow
  // commit) leaves the standby's frames unread, which is not the standby's silence.
  if (last_drained_ms_ - standby_->last_heard_ms > options_.silence_ms) {
    DropStandby("silent for " + std::to_string(last_drained_ms_ - standby_->last_heard_ms) +
                " ms");
    return;
  }
  if (standby_->checkpoint) {
    SendCheckpointChunks();
  } else if (!standby_->copying()) {
    SendLog();
  }
  if (standby_ && now - standby_->last_sent_ms >= options_.heartbeat_ms) {
    replication::ReplicationFrame heartbeat;
    heartbeat.mutable_heartbeat()->set_epoch(options_.epoch);
    heartbeat.mutable_heartbeat()->set_committed_sequence(committed_);
    Send(standby_->routing_id, heartbeat);
  }
}

int ReplicationLeader::NextTickInMs() const {
  if (making_.valid()) return 10;  // soon enough to stream (or remove) it once made
  if (!standby_) return 1000;
  return static_cast<int>(std::clamp<int64_t>(
      options_.heartbeat_ms - (SteadyNowMs() - standby_->last_sent_ms), 1, options_.heartbeat_ms));
}

void ReplicationLeader::DropCheckpoint() {
  if (!standby_) return;
  standby_->awaiting_checkpoint = false;
  if (!standby_->checkpoint) return;
  // Its hard links keep table files alive (purged data included): never kept past its use.
  Status removed = RemoveCheckpoint(*standby_->checkpoint);
  if (!removed.ok()) spdlog::warn("replication: {}", removed.ToString());
  standby_->checkpoint.reset();
}

void ReplicationLeader::DropStandby(const std::string& why) {
  if (!standby_) return;
  DropCheckpoint();
  spdlog::warn("replication: standby {} dropped ({}); applied sequence {}, ours {}",
               standby_->node, why, standby_->applied, committed_);
  replication::ReplicationFrame refused;
  refused.mutable_refused()->set_epoch(options_.epoch);
  refused.mutable_refused()->set_reason("dropped: " + why + "; attach again");
  Send(standby_->routing_id, refused);
  standby_.reset();
}

bool ReplicationLeader::Send(const std::string& routing_id,
                             const replication::ReplicationFrame& frame) {
  std::string bytes;
  frame.SerializeToString(&bytes);
  try {
    zmq::message_t id(routing_id.data(), routing_id.size());
    if (!socket_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
    zmq::message_t payload(bytes.data(), bytes.size());
    if (!socket_.send(payload, zmq::send_flags::dontwait)) return false;
  } catch (const zmq::error_t& e) {
    if (standby_ && standby_->routing_id == routing_id) {
      spdlog::warn("replication: standby {} unreachable ({})", standby_->node, e.what());
      DropCheckpoint();
      standby_.reset();
    }
    return false;
  }
  if (standby_ && standby_->routing_id == routing_id) standby_->last_sent_ms = SteadyNowMs();
  return true;
}

}  // namespace aplus
