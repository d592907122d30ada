// The broker's loop and its socket I/O. Request handlers are in broker_requests.cc, the
// delivery engine in broker_delivery.cc.
#include "broker/broker.h"

#include <spdlog/spdlog.h>

#include <random>

#include "common/wire.h"
#include "store/key_layout.h"

namespace aplus {
namespace {
// Frames above this are cut by ZeroMQ itself (the connection is dropped) to protect memory;
// frames between the configured limit and this are read and answered TOO_LARGE.
constexpr int64_t kHardFrameLimitBytes = 16 << 20;

// 128 random bits, hex: unique per start without any stored state.
std::string NewInstanceId() {
  std::random_device device;  // the kernel's generator on Linux
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; ++i) {
    uint32_t word = device();
    for (int nibble = 0; nibble < 8; ++nibble, word >>= 4) id.push_back(kHex[word & 15]);
  }
  return id;
}
}  // namespace

Result<std::unique_ptr<Broker>> Broker::Create(const NetworkConfig& config, BrokerOptions options,
                                               zmq::context_t& context, const Clock& clock) {
  auto store = BrokerStore::Open(options.data_dir);
  if (!store.ok()) return store.status();
  std::unique_ptr<Broker> broker(
      new Broker(config, std::move(options), context, clock, std::move(store).value()));
  // Before any bind: a CURVE socket bound without a ZAP handler would admit any key.
  Status secured = broker->SetUpCurve();
  if (!secured.ok()) return secured;
  try {
    broker->socket_.bind(broker->options_.listen_endpoint);
    broker->endpoint_ = broker->socket_.get(zmq::sockopt::last_endpoint);
    broker->alerts_socket_.bind(broker->options_.alerts_endpoint);
    broker->alerts_endpoint_ = broker->alerts_socket_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status(wire::INVALID_ARGUMENT,
                  "cannot listen on " + broker->options_.listen_endpoint + " or " +
                      broker->options_.alerts_endpoint + ": " + e.what());
  }
  broker->RebuildQueues();
  broker->StartRetention();
  return broker;
}

Broker::Broker(const NetworkConfig& config, BrokerOptions options, zmq::context_t& context,
               const Clock& clock, std::unique_ptr<BrokerStore> store)
    : config_(config),
      options_(std::move(options)),
      context_(context),
      clock_(clock),
      store_(std::move(store)),
      socket_(context, zmq::socket_type::router),
      alerts_socket_(context, zmq::socket_type::pub),
      instance_id_(NewInstanceId()),
      sla_clock_(config),
      rate_limiter_(options_.requests_per_second, options_.request_burst) {
  alerts_socket_.set(zmq::sockopt::linger, 0);
  // A catch-up can raise 100,000s of alerts at once; a subscriber that lags keeps them queued
  // (bounded) rather than losing them. `aplus alerts` lists them anyway.
  alerts_socket_.set(zmq::sockopt::sndhwm, 500000);
  socket_.set(zmq::sockopt::router_mandatory, 1);
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::maxmsgsize, std::max<int64_t>(kHardFrameLimitBytes,
                                                          static_cast<int64_t>(options_.max_frame_bytes) * 2));
  // The database is the queue: high-water marks only bound socket buffers, they never decide
  // whether an escalation is kept.
  socket_.set(zmq::sockopt::sndhwm, 200000);
  socket_.set(zmq::sockopt::rcvhwm, 200000);
  socket_.set(zmq::sockopt::heartbeat_ivl, 1000);
  socket_.set(zmq::sockopt::heartbeat_timeout, 5000);
}

Broker::~Broker() = default;

void Broker::RebuildQueues() {
  // Every stored item was either never delivered or delivered without an ack before the
  // restart: all of it is due for (re)delivery, oldest first.
  for (auto& [name, info] : store_->ScanQueues()) {
    if (name.rfind(keys::kDeadLetterPrefix, 0) == 0) {
      QueueState& queue = Queue(name.substr(keys::kDeadLetterPrefix.size()));
      queue.dead_lettered = info.depth;
      queue.next_sequence = std::max(queue.next_sequence, info.next_sequence);
      continue;
    }
    QueueState& queue = Queue(name);
    queue.next_sequence = std::max(queue.next_sequence, info.next_sequence);
    queue.depth = info.depth;
    queue.cursor = 1;
  }
  next_due_ms_ = store_->EarliestTimerMs();
  size_t pending = 0;
  for (auto& [name, queue] : queues_) pending += queue.depth;
  spdlog::info("store open: {} case ids issued, {} items waiting in {} queues",
               store_->case_counter(), pending, queues_.size());
}

QueueState& Broker::Queue(const std::string& name) {
  auto it = queues_.find(name);
  if (it != queues_.end()) return it->second;
  QueueState& queue = queues_[name];
  queue.name = name;
  return queue;
}

void Broker::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    // Wake for the earliest SLA timer, but at least every 100 ms for leases and the stop flag.
    int timeout_ms = 100;
    if (next_due_ms_) {
      int64_t until_due = *next_due_ms_ - clock_.NowMs();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(until_due, 0, 100));
    }
    Turn(timeout_ms);
  }
  CommitAndFlush();
}

void Broker::Turn(int timeout_ms) {
  zmq::pollitem_t items[2] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                              {zap_ ? zap_->socket().handle() : nullptr, 0, ZMQ_POLLIN, 0}};
  try {
    zmq::poll(items, zap_ ? 2 : 1, std::chrono::milliseconds(timeout_ms));
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) spdlog::error("poll failed: {}", e.what());
    return;  // a signal: let Run() look at the stop flag
  }
  if (zap_) {
    zap_->AnswerRequests();  // handshakes wait on this thread: answer them first
    ApplyKeyringChanges();
  }
  // Drain everything that is already here, up to one batch: this is what makes concurrent
  // senders share one fsync.
  messages_in_batch_ = 0;
  while (messages_in_batch_ < options_.max_batch_messages) {
    zmq::message_t routing_id;
    std::optional<size_t> received;
    try {
      received = socket_.recv(routing_id, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      spdlog::error("receive failed: {}", e.what());
      break;
    }
    if (!received) break;
    if (!routing_id.more()) continue;  // cannot happen on a ROUTER; nothing to answer
    zmq::message_t payload;
    if (!socket_.recv(payload, zmq::recv_flags::none)) break;
    bool extra_frames = false;
    while (payload.more()) {
      zmq::message_t extra;
      if (!socket_.recv(extra, zmq::recv_flags::none)) break;
      extra_frames = true;
      if (!extra.more()) break;
    }
    HandleFrame(routing_id.to_string(), payload, extra_frames);
    ++messages_in_batch_;
  }
  CommitAndFlush();
  FireDueTimers();
  CollectPurgeCompactions();
  int64_t now = SteadyNowMs();
  if (now - last_expiry_check_ms_ >= 100) {
    ExpireLeasesAndSessions();
    last_expiry_check_ms_ = now;
  }
  PumpDeliveries();
  // Deliveries may have recorded attempt counts; they ride with the next batch, or now if idle.
  if (store_->HasPendingWrites() && messages_in_batch_ == 0) CommitAndFlush();
}

void Broker::HandleFrame(std::string routing_id, const zmq::message_t& payload, bool extra_frames) {
  // Identity: the User-Id that our ZAP handler gave this connection at its handshake.
  const KeyringEntry* key = nullptr;
  int fd = zmq_msg_get(payload.handle(), ZMQ_SRCFD);
  if (zap_) {
    const char* user_id = zmq_msg_gets(payload.handle(), "User-Id");
    key = user_id ? zap_->Find(user_id) : nullptr;
    if (!key) {
      // Admitted once, removed from the keyring since: the connection goes, unanswered.
      spdlog::warn("message from a key no longer in the keyring ({}): connection cut",
                   user_id ? user_id : "none");
      if (sessions_.count(routing_id)) DropSession(routing_id, "key removed from the keyring");
      CutConnection(fd, "");
      return;
    }
  }
  if (extra_frames) {
    AnswerError(routing_id, 0, Status(wire::MALFORMED, "a request is exactly one frame"));
    return;
  }
  auto decoded = DecodeEnvelope(payload.data(), payload.size(), options_.max_frame_bytes);
  if (!decoded.ok()) {
    // The request id of a frame we cannot parse is unknown; a well-formed prefix may still
    // carry it, so try to recover it for the client's sake.
    wire::Envelope partial;
    uint64_t request_id = 0;
    if (payload.size() <= options_.max_frame_bytes &&
        partial.ParsePartialFromArray(payload.data(), static_cast<int>(payload.size()))) {
      request_id = partial.request_id();
    }
    AnswerError(routing_id, request_id, decoded.status());
    return;
  }
  wire::Envelope& request = *decoded;
  auto session_it = sessions_.find(routing_id);
  Session* session = session_it == sessions_.end() ? nullptr : &session_it->second;
  if (session) session->last_seen_ms = SteadyNowMs();
  Dispatch(session, routing_id, request, key, fd);
}

void Broker::Dispatch(Session* session, const std::string& routing_id, wire::Envelope& request,
                      const KeyringEntry* key, int fd) {
  using Body = wire::Envelope::BodyCase;
  // Hellos count too (a key that reconnects in a loop is throttled like any flood); acks only
  // release credit the broker granted: throttling them would stall deliveries.
  std::string key_principal;  // before Hello: the bucket of the connection's key
  const std::string* limited = nullptr;
  if (session) {
    limited = &session->DedupPrincipal();
  } else if (key) {
    key_principal = "key/" + key->name;
    limited = &key_principal;
  }
  if (limited && request.body_case() != Body::kDeliveryAck &&
      request.body_case() != Body::kPing) {
    const std::string& limited_principal = *limited;
    RateDecision decision = rate_limiter_.Take(limited_principal, SteadyNowMs());
    if (decision != RateDecision::kAllowed) {
      // One log line per flood, not one per refused request.
      if (decision == RateDecision::kFirstRefusal) {
        spdlog::warn("{} exceeds {} requests/s: refusing with RATE_LIMITED", limited_principal,
                     options_.requests_per_second);
      }
      ++counters_.errors_answered;
      Answer(routing_id,
             MakeErrorEnvelope(request.request_id(),
                               Status(wire::RATE_LIMITED,
                                      "more than " + std::to_string(static_cast<int64_t>(
                                                         options_.requests_per_second)) +
                                          " requests per second from " +
                                          limited_principal + "; retry later")
                                   .WithRetryAfterMs(rate_limiter_.MsUntilToken(limited_principal))),
             false);
      return;
    }
  }
  if (request.body_case() == Body::kHello) {
    OnHello(routing_id, request, key, fd);
    return;
  }
  if (request.body_case() == Body::kPing) {
    wire::Envelope pong;
    pong.set_request_id(request.request_id());
    pong.mutable_pong()->set_instance_id(instance_id_);
    Answer(routing_id, std::move(pong), false);
    return;
  }
  if (!session) {
    AnswerError(routing_id, request.request_id(),
                Status(wire::NOT_AUTHENTICATED, "say Hello first: this connection has no session"));
    return;
  }
  switch (request.body_case()) {
    case Body::kSubmit: OnSubmit(*session, request); break;
    case Body::kGetCase: OnGetCase(*session, request); break;
    case Body::kListCases: OnListCases(*session, request); break;
    case Body::kCloseCase:
    case Body::kCancelCase: OnCloseOrCancel(*session, request); break;
    case Body::kAcknowledgeCase:
    case Body::kReplyCase: OnAcknowledgeOrReply(*session, request); break;
    case Body::kSubscribe: OnSubscribe(*session, request); break;
    case Body::kDeliveryAck: OnDeliveryAck(*session, request); break;
    case Body::kGetStats: OnGetStats(*session, request); break;
    case Body::kAskInfo: OnAskInfo(*session, request); break;
    case Body::kAnswerInfo: OnAnswerInfo(*session, request); break;
    case Body::kTransferCase: OnTransfer(*session, request); break;
    case Body::kListAlerts: OnListAlerts(*session, request); break;
    case Body::kAckAlert: OnAckAlert(*session, request); break;
    case Body::kGetReport: OnGetReport(*session, request); break;
    case Body::kExplainDeadline: OnExplainDeadline(*session, request); break;
    case Body::kGetAudit: OnGetAudit(*session, request); break;
    case Body::kListDeadLetters: OnListDeadLetters(*session, request); break;
    case Body::kRequeueDeadLetters: OnRequeueDeadLetters(*session, request); break;
    default:
      AnswerError(routing_id, request.request_id(),
                  Status(wire::UNKNOWN_MESSAGE,
                         "the broker does not serve '" + BodyName(request) + "' messages"));
  }
}

void Broker::Answer(const std::string& routing_id, wire::Envelope answer, bool needs_commit) {
  answers_.push_back(PendingAnswer{routing_id, std::move(answer), needs_commit});
}

void Broker::AnswerError(const std::string& routing_id, uint64_t request_id, const Status& status) {
  ++counters_.errors_answered;
  auto session = sessions_.find(routing_id);
  spdlog::warn("refused request {} from {}: {}", request_id,
               session == sessions_.end() ? "an unidentified connection"
                                          : session->second.DedupPrincipal(),
               status.ToString());
  Answer(routing_id, MakeErrorEnvelope(request_id, status), false);
}

void Broker::CommitAndFlush() {
  bool commit_failed = durability_failed_;
  if (store_->HasPendingWrites() && !durability_failed_) {
    size_t writes = store_->pending_writes();
    Status status = store_->Commit();
    if (status.ok()) {
      ++counters_.batches_committed;
      counters_.messages_committed += messages_in_batch_;
      spdlog::trace("committed batch of {} writes for {} messages", writes, messages_in_batch_);
    } else {
      durability_failed_ = true;
      commit_failed = true;
      spdlog::critical("BROKER CANNOT WRITE DURABLY, no further acknowledgements: {}",
                       status.ToString());
    }
  }
  for (auto& answer : answers_) {
    if (answer.needs_commit && commit_failed) {
      answer.envelope = MakeErrorEnvelope(
          answer.envelope.request_id(),
          Status(wire::UNAVAILABLE, "the broker cannot write durably; nothing was recorded"));
    }
    SendTo(answer.routing_id, answer.envelope);
  }
  answers_.clear();
  if (commit_failed) {
    alerts_to_publish_.clear();
  } else {
    PublishAlerts();
  }
}

bool Broker::SendTo(const std::string& routing_id, const wire::Envelope& envelope) {
  try {
    zmq::message_t id(routing_id.data(), routing_id.size());
    if (!socket_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
    auto payload = EncodeEnvelope(envelope);
    return socket_.send(payload, zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) {
      if (sessions_.count(routing_id)) DropSession(routing_id, "connection gone");
      return false;
    }
    spdlog::warn("send failed: {}", e.what());
    return false;
  }
}

}  // namespace aplus
