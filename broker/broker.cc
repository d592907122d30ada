// The broker's loop and its socket I/O. Request handlers are in broker_requests.cc, the
// delivery engine in broker_delivery.cc.
#include "broker/broker.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/wire.h"
#include "http/http_front_door.h"
#include "store/key_layout.h"

namespace aplus {
namespace {

// The answer to every request of a batch that could not be made durable (fail-stop). The write
// may yet survive (on the disk, or on a pair's standby): a retry with the same idempotency key
// finds it if so.
constexpr char kCannotWriteDurably[] =
    "the broker cannot write durably and is stopping; this write may not have been recorded: "
    "retry (the same idempotency key returns the case if it was)";

// Frames above this are cut by ZeroMQ itself (the connection is dropped) to protect memory;
// frames between the configured limit and this are read and answered TOO_LARGE.
constexpr int64_t kHardFrameLimitBytes = 16 << 20;
// After a failed commit: how long the closing socket may still send the UNAVAILABLE answers.
constexpr int kFailStopLingerMs = 300;

// When a queue item stored before this start entered its queue, as far as the item says:
// an alert when it was raised, a mail item when it was posted, an escalation when its case
// was submitted (for a transferred or requeued one an upper bound of its wait, which errs
// towards an alert). 0 when it does not say.
int64_t EnqueuedAtMsOf(const records::QueueItem& item, BrokerStore& store) {
  if (item.has_alert()) return item.alert().raised_at_ms();
  if (item.has_mail()) return item.mail().at_ms();
  auto record = store.GetCase(item.case_id());
  if (!record.ok() || !record->has_value()) return 0;
  return (*record)->summary().submitted_at_ms();
}

// Binds `socket`; a standby promoted in this process has just unbound the same endpoint, which
// libzmq releases asynchronously: then the bind is tried again for up to 2 s.
void BindPromptly(zmq::socket_t& socket, const std::string& endpoint, bool retry) {
  for (int attempt = 0;; ++attempt) {
    try {
      socket.bind(endpoint);
      return;
    } catch (const zmq::error_t& e) {
      if (!retry || e.num() != EADDRINUSE || attempt >= 40) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

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
  // A pair's databases keep their write-ahead log archived, so a standby can catch up.
  auto store = options.pair ? BrokerStore::Open(options.data_dir,
                                                PairedRocksDbOptions(PairLogTtlSeconds(config)))
                            : BrokerStore::Open(options.data_dir);
  if (!store.ok()) return store.status();
  std::unique_ptr<Broker> broker(
      new Broker(config, std::move(options), context, clock, std::move(store).value()));
  // Before any bind: a CURVE socket bound without a ZAP handler would admit any key.
  Status secured = broker->SetUpCurve();
  if (!secured.ok()) return secured;
  try {
    BindPromptly(broker->socket_, broker->options_.listen_endpoint, broker->options_.pair.has_value());
    broker->endpoint_ = broker->socket_.get(zmq::sockopt::last_endpoint);
    broker->alerts_socket_.bind(broker->options_.alerts_endpoint);
    broker->alerts_endpoint_ = broker->alerts_socket_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status(wire::INVALID_ARGUMENT,
                  "cannot listen on " + broker->options_.listen_endpoint + " or " +
                      broker->options_.alerts_endpoint + ": " + e.what());
  }
  if (broker->options_.pair) {
    Status paired = broker->StartPair();
    if (!paired.ok()) return paired;
  }
  Status rebuilt = broker->RebuildQueues();
  if (!rebuilt.ok()) return rebuilt;
  broker->StartRetention();
  // Last: /health says "ok" only once the broker can serve.
  Status http = broker->StartHttp();
  if (!http.ok()) return http;
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
      connection_events_(context, zmq::socket_type::pair),
      alerts_socket_(context, zmq::socket_type::xpub),
      instance_id_(NewInstanceId()),
      sla_clock_(config),
      rate_limiter_(options_.requests_per_second, options_.request_burst),
      started_at_ms_(options_.process_started_ms ? options_.process_started_ms : clock.NowMs()),
      metrics_(config, APLUS_VERSION, started_at_ms_) {
  alerts_socket_.set(zmq::sockopt::linger, 0);
  // A catch-up can raise 100,000s of alerts at once; a subscriber that lags keeps them queued
  // (bounded) rather than losing them. `aplus alerts` lists them anyway.
  alerts_socket_.set(zmq::sockopt::sndhwm, 500000);
  // An XPUB (a PUB that hears its subscribers): every subscription message, duplicates
  // included, comes up with its connection's User-Id and descriptor, so the connections of a
  // revoked key can be cut (ReadAlertSubscriptions, ApplyKeyringChanges).
  alerts_socket_.set(zmq::sockopt::xpub_verbose, 1);
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
  // Connection ends, so that a session never outlives its connection: once the connection is
  // gone its routing id may be taken by another connection (a client may choose its routing
  // id), which must not receive the session's deliveries (ReadConnectionEvents).
  std::string monitor_endpoint = "inproc://aplus-broker-connections-" + instance_id_;
  if (zmq_socket_monitor(socket_.handle(), monitor_endpoint.c_str(), ZMQ_EVENT_DISCONNECTED) == 0) {
    connection_events_.set(zmq::sockopt::linger, 0);
    connection_events_.connect(monitor_endpoint);
  } else {
    spdlog::warn("cannot monitor connections ({}): sessions end by silence only",
                 zmq_strerror(zmq_errno()));
  }
}

Broker::~Broker() { zmq_socket_monitor(socket_.handle(), nullptr, 0); }

Status Broker::RebuildQueues() {
  // Every stored item was either never delivered or delivered without an ack before the
  // restart: all of it is due for (re)delivery, oldest first.
  auto scanned = store_->ScanQueues();
  if (!scanned.ok()) return scanned.status();
  for (auto& [name, info] : *scanned) {
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
    // The queue's items have no stored enqueue time (none is written per message): the
    // oldest one's content says roughly when it came (QueueState::restored_oldest_ms).
    queue.restored_below = queue.next_sequence;
    queue.restored_left = queue.depth;
    if (queue.depth > 0) {
      auto first = store_->ReadQueue(name, 1, 1);
      if (!first.ok()) return first.status();
      int64_t at_ms = first->empty() ? 0 : EnqueuedAtMsOf(first->front().item, *store_);
      queue.restored_oldest_ms = at_ms > 0 ? at_ms : clock_.NowMs();
    }
  }
  auto earliest = store_->EarliestTimerMs();
  if (!earliest.ok()) return earliest.status();
  next_due_ms_ = *earliest;
  size_t pending = 0;
  for (auto& [name, queue] : queues_) pending += queue.depth;
  spdlog::info("store open: {} case ids issued, {} items waiting in {} queues",
               store_->case_counter(), pending, queues_.size());
  return Status::Ok();
}

QueueState& Broker::Queue(const std::string& name) {
  auto it = queues_.find(name);
  if (it != queues_.end()) return it->second;
  QueueState& queue = queues_[name];
  queue.name = name;
  // A mailbox serves no partner.
  if (auto parts = ParsePartnerQueueName(name)) {
    queue.partner = std::move(parts->partner);
    queue.territory = std::move(parts->territory);
    queue.metrics = metrics_.Partner(queue.partner);
  }
  return queue;
}

Status Broker::Run(const std::atomic<bool>& stop) {
  while (!stop.load() && !durability_failure_) {
    // Wake for the earliest SLA timer, but at least every 100 ms for leases and the stop flag,
    // and in time to commit writes that wait for no answer (CommitUnansweredIfDue).
    int timeout_ms = 100;
    // (A pair's leader without a standby copy fires no timer: no wake-up for them either.)
    if (next_due_ms_ && CanAcknowledge()) {
      int64_t until_due = *next_due_ms_ - clock_.NowMs();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(until_due, 0, 100));
    }
    if (unanswered_since_ms_) {
      int64_t until_commit = *unanswered_since_ms_ + kUnansweredCommitDelayMs - SteadyNowMs();
      timeout_ms = std::min(timeout_ms, static_cast<int>(std::max<int64_t>(until_commit, 0)));
    }
    Turn(timeout_ms);
  }
  // Reads of every case not answered yet are answered now: the broker is stopping (or has lost
  // its leadership, or cannot write). Their answers need a moment to leave as the socket closes.
  if (case_scanner_->outstanding() > 0) socket_.set(zmq::sockopt::linger, kFailStopLingerMs);
  case_scanner_->Stop(durability_failure_ ? *durability_failure_
                                          : Status(wire::UNAVAILABLE, "the broker is stopping"));
  case_scanner_->Collect();
  if (durability_failure_) FailPendingAnswers(durability_failure_->message());
  if (!durability_failure_) CommitAndFlush();
  if (!durability_failure_) {
    store_->db().FlushAtCleanStop();
    return Status::Ok();
  }
  // The UNAVAILABLE answers are queued in the socket: give them a moment to leave when the
  // socket closes (linger is 0 otherwise), without delaying the exit by more than that.
  socket_.set(zmq::sockopt::linger, kFailStopLingerMs);
  return *durability_failure_;
}

void Broker::Turn(int timeout_ms) {
  // The case scanner's fd only wakes the poll: its reads are collected at every turn below.
  zmq::pollitem_t items[7] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                              {alerts_socket_.handle(), 0, ZMQ_POLLIN, 0},
                              {connection_events_.handle(), 0, ZMQ_POLLIN, 0},
                              {nullptr, case_scanner_->ready_fd(), ZMQ_POLLIN, 0},
                              {nullptr, 0, ZMQ_POLLIN, 0},
                              {nullptr, 0, ZMQ_POLLIN, 0},
                              {nullptr, 0, ZMQ_POLLIN, 0}};
  size_t polled = 4;
  if (http_) items[polled++] = {nullptr, http_->fd(), ZMQ_POLLIN, 0};
  if (zap_) items[polled++] = {zap_->socket().handle(), 0, ZMQ_POLLIN, 0};
  size_t replication_item = 0;
  if (replication_) {
    replication_item = polled;
    items[polled++] = {replication_->socket().handle(), 0, ZMQ_POLLIN, 0};
    timeout_ms = std::min(timeout_ms, replication_->NextTickInMs());
  }
  const int64_t poll_started_ms = SteadyNowMs();
  try {
    zmq::poll(items, polled, std::chrono::milliseconds(timeout_ms));
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) spdlog::error("poll failed: {}", e.what());
    return;  // a signal: let Run() look at the stop flag
  }
  idle_since_read_ms_ += SteadyNowMs() - poll_started_ms;
  if (zap_) {
    zap_->AnswerRequests();  // handshakes wait on this thread: answer them first
  }
  if (replication_item && (items[replication_item].revents & ZMQ_POLLIN)) {
    replication_->OnReadable();
  }
  TendPair();
  if (durability_failure_) return;  // leadership lost: Run() returns
  if (items[1].revents & ZMQ_POLLIN) ReadAlertSubscriptions();
  if (items[2].revents & ZMQ_POLLIN) ReadConnectionEvents();
  if (zap_) ApplyKeyringChanges();
  // Drain everything that is already here, up to one batch: this is what makes concurrent
  // senders share one fsync.
  ExcuseOwnStall();
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
    if (!received) {
      last_drained_ms_ = SteadyNowMs();  // everything that had arrived is read
      break;
    }
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
    receipt_ns_ = SteadyNowNs();
    HandleFrame(routing_id.to_string(), payload, extra_frames);
    ++messages_in_batch_;
    ++requests_uncommitted_;
    if (replication_ && messages_in_batch_ % kShipEveryMessages == 0) ShipPendingWrites();
    if (durability_failure_) return;  // that write failed: fail-stop
  }
  last_read_end_ms_ = SteadyNowMs();
  idle_since_read_ms_ = 0;
  stall_excused_ms_ = 0;
  // Reads of every case finished off the loop answer with this turn's batch.
  case_scanner_->Collect();
  // A batch that answers nobody (only DeliveryAcks: they have no answer) waits for the next
  // batch that does, or kUnansweredCommitDelayMs: at a light load this saves one fsync per
  // escalation (its ack rides with the next submission's commit).
  if (answers_.empty() && alerts_to_publish_.empty()) {
    CommitUnansweredIfDue(/*idle=*/false);
  } else {
    CommitAndFlush();
  }
  if (durability_failure_) return;  // fail-stop: Run() returns
  // A pair's leader without a standby copy (strict mode) fires no timer and delivers nothing:
  // both would act on, and tell of, writes no standby holds.
  const bool acknowledging = CanAcknowledge();
  if (acknowledging) FireDueTimers();
  if (durability_failure_) return;
  CollectPurgeCompactions();
  int64_t now = SteadyNowMs();
  if (now - last_expiry_check_ms_ >= 100) {
    ExcuseOwnStall();  // this turn's commit may have stalled
    ExpireLeasesAndSessions();
    last_expiry_check_ms_ = now;
  }
  if (acknowledging) PumpDeliveries();
  // Deliveries may have recorded attempt counts, or dead-lettered an item (its alert is
  // published only after a commit, so it commits now).
  if (!alerts_to_publish_.empty()) {
    CommitAndFlush();
  } else {
    CommitUnansweredIfDue(/*idle=*/messages_in_batch_ == 0);
  }
  if (durability_failure_) return;
  // Last in the turn: a scrape sees what this turn committed (nothing left waiting, so it
  // never shows a state that is not on disk yet).
  if (http_) {
    // Committed once a request is really there (one may arrive after the poll: the readable
    // flag alone would miss it), and only then (an idle scrape-less turn keeps its delay).
    http_->Dispatch([this] {
      if (WritesAwaitCommit()) CommitAndFlush();
    });
  }
}

void Broker::CommitUnansweredIfDue(bool idle) {
  if (!WritesAwaitCommit()) {
    unanswered_since_ms_.reset();
    return;
  }
  // Only writes that nobody waits for can be pending here: every answer and every alert
  // leaves through CommitAndFlush, which commits first. Nothing of these writes has been
  // told to anyone, so delaying their fsync weakens no promise (an ack lost by a crash means
  // one more delivery: at least once). Deliveries made meanwhile read only committed items:
  // the waiting writes append to no queue (they delete acknowledged items, update cases and
  // audit).
  int64_t now = SteadyNowMs();
  if (!unanswered_since_ms_) unanswered_since_ms_ = now;
  if (idle || now - *unanswered_since_ms_ >= kUnansweredCommitDelayMs) CommitAndFlush();
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
  // Identity per message: the session found by routing id is this message's only if the
  // message carries the session's key (a routing id can be chosen by a client, and reused once
  // the connection that opened the session is gone). The one place this is checked.
  if (session && key && key->public_key != session->public_key) {
    spdlog::warn("message from key {} on the session of {} (another key): session dropped, "
                 "answered NOT_AUTHENTICATED",
                 key->name, session->DedupPrincipal());
    DropSession(routing_id, "a message carried another key");
    AnswerError(routing_id, request.request_id(),
                Status(wire::NOT_AUTHENTICATED,
                       "this message's key is not the one of the session it claims: say Hello"));
    return;
  }
  if (session) session->last_seen_ms = SteadyNowMs();
  if (!CanAcknowledge() && request.body_case() != wire::Envelope::kHello &&
      request.body_case() != wire::Envelope::kPing &&
      request.body_case() != wire::Envelope::kGetStats) {
    // A pair's leader without a standby copy (strict mode, or degraded until the sync key is
    // cleared): nothing is written or read. CanAcknowledge() is false only in a pair.
    // Delivery acks have no answer: dropped, the deliveries come again (at least once).
    if (request.body_case() != wire::Envelope::kDeliveryAck) {
      AnswerError(routing_id, request.request_id(), NoStandbyCopy());
    }
    return;
  }
  Dispatch(session, routing_id, request, key, fd);
}

Status Broker::NoStandbyCopy() const {
  return Status(wire::UNAVAILABLE,
                std::string("the broker's standby holds no copy yet (availability mode ") +
                    (options_.pair && options_.pair->availability.mode ==
                                          AvailabilitySettings::Mode::kDegraded
                         ? "degraded, not yet answering alone"
                         : "strict") +
                    "): nothing is acknowledged until it has caught up; retry")
      .WithRetryAfterMs(500);
}

void Broker::Dispatch(Session* session, const std::string& routing_id, wire::Envelope& request,
                      const KeyringEntry* key, int fd) {
  const RequestRule* rule = FindRequestRule(request.body_case());
  // Who this session request acts as: the session itself, or for a console the person it
  // names (resolved here, before the rate limit, whose bucket is the person's through the
  // console). A refusal is answered below, after the rate limit and the basic checks.
  Result<std::optional<Session>> acting = std::optional<Session>();
  if (session && rule && rule->on_session) acting = ActingIdentity(*session, request);
  // Hellos count too (a key that reconnects in a loop is throttled like any flood), and so do
  // unknown messages; the row says which requests are exempt.
  std::string key_principal;  // before Hello: the bucket of the connection's key
  const std::string* limited = nullptr;
  if (acting.ok() && acting->has_value()) {
    limited = &(*acting)->DedupPrincipal();
  } else if (session) {
    limited = &session->DedupPrincipal();
  } else if (key) {
    key_principal = "key/" + key->name;
    limited = &key_principal;
  }
  if (limited && (!rule || rule->rate_limited)) {
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
  if (rule && rule->on_connection) {
    (this->*rule->on_connection)(routing_id, request, key, fd);
    return;
  }
  if (!session) {
    AnswerError(routing_id, request.request_id(),
                Status(wire::NOT_AUTHENTICATED, "say Hello first: this connection has no session"));
    return;
  }
  if (!rule) {
    AnswerError(routing_id, request.request_id(),
                Status(wire::UNKNOWN_MESSAGE,
                       "the broker does not serve '" + BodyName(request) + "' messages"));
    return;
  }
  if (!acting.ok()) {
    AnswerError(routing_id, request.request_id(), acting.status());
    return;
  }
  // The handler sees the acting identity: a console's view as the person, or the session.
  Session& actor = acting->has_value() ? **acting : *session;
  if (!rule->roles.Allows(actor.role)) {
    AnswerError(routing_id, request.request_id(), Status(wire::PERMISSION_DENIED, rule->denied));
    return;
  }
  current_rule_ = rule;
  (this->*rule->on_session)(actor, request);
  current_rule_ = nullptr;
}

Result<std::optional<Session>> Broker::ActingIdentity(const Session& session,
                                                      const wire::Envelope& request) const {
  const std::string& person = request.on_behalf_of();
  if (session.role != wire::CONSOLE) {
    if (person.empty()) return std::optional<Session>();
    return Status(wire::INVALID_ARGUMENT,
                  "on_behalf_of is for the operator console's requests only; this session is " +
                      session.DedupPrincipal() + "'s own");
  }
  if (person.empty()) {
    return Status(wire::PERMISSION_DENIED,
                  "a console acts only on behalf of someone: name the person (on_behalf_of)");
  }
  const Operator* op = config_.FindOperator(person);
  if (!op) {
    // The name is the client's text: quoted, and cut, in the answer and the log.
    constexpr size_t kShown = 64;
    return Status(wire::PERMISSION_DENIED,
                  "'" + person.substr(0, kShown) + (person.size() > kShown ? "..." : "") +
                      "' is not an operator of network " + config_.name +
                      ": the console acts only for the persons of [[operators]]");
  }
  return std::optional<Session>(
      session.ActingFor(op->administrator ? wire::ADMINISTRATOR : wire::OPERATOR, op->id));
}

void Broker::OnPing(const std::string& routing_id, const wire::Envelope& request,
                    const KeyringEntry* /*key*/, int /*fd*/) {
  // A partner gateway's pings carry the state of its webhooks: the latest is kept per session.
  if (auto it = sessions_.find(routing_id); it != sessions_.end()) {
    it->second.webhooks_failing_since_ms = request.ping().webhooks_failing_since_ms();
    it->second.webhook_url_host = request.ping().webhook_url_host();
  }
  wire::Envelope pong;
  pong.set_request_id(request.request_id());
  pong.mutable_pong()->set_instance_id(instance_id_);
  // A pair's leader that cannot acknowledge (strict mode without a standby copy, ...) refuses
  // writes: a gateway's outbox backs off, and is told by the first Pong that says true again
  // (common/broker_link.h).
  pong.mutable_pong()->set_acknowledging(CanAcknowledge());
  Answer(routing_id, std::move(pong), false);
}

void Broker::ReadConnectionEvents() {
  for (int read = 0; read < 10000; ++read) {
    // An event is two frames: 16-bit event id + 32-bit value (the descriptor), then the
    // endpoint.
    zmq::message_t event;
    if (!connection_events_.recv(event, zmq::recv_flags::dontwait)) return;
    bool well_formed = event.size() == 6;
    int fd = -1;
    if (well_formed) {
      uint16_t id;
      uint32_t value;
      std::memcpy(&id, event.data(), sizeof id);
      std::memcpy(&value, static_cast<const char*>(event.data()) + 2, sizeof value);
      well_formed = id == ZMQ_EVENT_DISCONNECTED;
      fd = static_cast<int>(value);
    }
    while (event.more()) {
      zmq::message_t rest;
      if (!connection_events_.recv(rest, zmq::recv_flags::dontwait)) break;
      event = std::move(rest);
    }
    if (!well_formed || fd < 0) continue;
    // The descriptor may already belong to a new connection whose session opened before this
    // event was read: a session whose peer is still the descriptor's is that one, and stays.
    std::string peer_now = PeerOf(fd);
    std::vector<std::string> ended;
    for (const auto& [routing_id, session] : sessions_) {
      if (session.fd == fd && (session.peer.empty() || session.peer != peer_now)) {
        ended.push_back(routing_id);
      }
    }
    for (const auto& routing_id : ended) DropSession(routing_id, "connection closed");
  }
}

void Broker::Answer(const std::string& routing_id, wire::Envelope answer) {
  Answer(routing_id, std::move(answer), current_rule_ == nullptr || current_rule_->after_commit);
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
  if (durability_failure_) {
    // Never retried, never answered as durable: whatever a later step queued is refused.
    FailPendingAnswers(durability_failure_->code() == wire::NOT_LEADER
                           ? durability_failure_->message()
                           : kCannotWriteDurably);
    return;
  }
  if (WritesAwaitCommit()) {
    size_t writes = store_->pending_writes();
    // The store clears its batch and pending maps whatever the outcome: memory stays bounded.
    int64_t commit_started_ns = SteadyNowNs();
    Status status = CommitLocally();
    if (status.ok()) {
      ++counters_.batches_committed;
      counters_.messages_committed += requests_uncommitted_;
      metrics_.ObserveCommit(static_cast<double>(SteadyNowNs() - commit_started_ns) / 1e9,
                             requests_uncommitted_);
      spdlog::trace("committed batch of {} writes for {} messages", writes, requests_uncommitted_);
    } else {
      FailStop(status);
      return;
    }
    if (replication_ && !ReplicateCommitted()) {
      requests_uncommitted_ = 0;
      unanswered_since_ms_.reset();
      return;
    }
  }
  int64_t sent_ns = 0;
  for (auto& answer : answers_) {
    SendTo(answer.routing_id, answer.envelope);
    if (answer.submitted_to) {
      // Durable now, and its Accepted has left: counted once, here.
      if (sent_ns == 0) sent_ns = SteadyNowNs();
      answer.submitted_to->submitted->Increment();
      metrics_.ObserveSubmitDurable(static_cast<double>(sent_ns - answer.received_ns) / 1e9);
    }
  }
  answers_.clear();
  requests_uncommitted_ = 0;  // a later commit in this turn (timers) carries no request
  unanswered_since_ms_.reset();  // nothing waits any more
  // A pair's leader publishes only alerts the standby holds (they wait otherwise).
  if (CanAcknowledge()) PublishAlerts();
}

bool Broker::WritesAwaitCommit() const {
  // A pair's leader may have shipped part of the turn's writes already (ShipPendingWrites):
  // written without sync, they still wait for the commit that fsyncs them.
  return store_->HasPendingWrites() || (replication_ && store_->db().group_dirty());
}

void Broker::ShipPendingWrites() {
  if (!replication_->standby_synchronous() || !store_->HasPendingWrites()) return;
  // A long batch goes to the standby in parts while this loop is still reading requests: the
  // standby applies the first parts while we handle the rest, instead of applying the whole
  // batch after it (its apply was on the critical path: docs/BENCHMARKS.md, "Issue 12").
  // Written without sync; nothing is answered before CommitLocally has fsynced them all and
  // the standby has acknowledged the last (AwaitApplied covers every earlier sequence).
  store_->db().BeginGroup();
  Status written = store_->Commit();
  if (!written.ok()) {
    (void)store_->db().CommitGroup();  // closes the group; the failure is sticky already
    FailStop(written);
    return;
  }
  replication_->Committed(store_->db().raw()->GetLatestSequenceNumber());
}

void Broker::FailStop(const Status& status) {
  durability_failure_ = status;
  spdlog::critical("BROKER CANNOT WRITE DURABLY: {}. Nothing more is acknowledged; the "
                   "broker stops (exit status 75) so that a restart recovers from its log",
                   status.ToString());
  FailPendingAnswers(kCannotWriteDurably);
}

Status Broker::CommitLocally() {
  if (!replication_) return store_->Commit();
  // A pair's leader writes its batch without sync, ships it, and only then fsyncs: its own
  // copy and the standby's are made at the same time instead of one after the other
  // (docs/AVAILABILITY.md, "What waits for the standby"). Nothing is answered before both.
  // Should our fsync fail, the standby may hold a batch this node never made durable: it was
  // answered by nobody, and its retries find it there (same idempotency keys, same cases).
  store_->db().BeginGroup();  // may be open already (ShipPendingWrites)
  Status written = store_->Commit();
  if (written.ok()) replication_->Committed(store_->db().raw()->GetLatestSequenceNumber());
  Status synced = store_->db().CommitGroup();  // always: it also closes the group
  return written.ok() ? synced : written;
}

void Broker::FailPendingAnswers(const std::string& why) {
  for (auto& answer : answers_) {
    if (answer.needs_commit) {
      answer.envelope = MakeErrorEnvelope(answer.envelope.request_id(),
                                          Status(wire::UNAVAILABLE, why));
    }
    SendTo(answer.routing_id, answer.envelope);
  }
  answers_.clear();
  // Not published: not durable here. (A pair's standby may hold them, shipped before our
  // failed fsync: it then leads with them stored, listed by ListAlerts and in the mailboxes'
  // and partners' queues, but not published live. Publication is live-only, as for a leader
  // killed between the copy and the publication.)
  alerts_to_publish_.clear();
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
