#include "common/broker_link.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/clock.h"
#include "common/endpoint_list.h"
#include "common/wire.h"

namespace aplus {
namespace {
// A quick restart (the broker back within the silence limit) is noticed by the next Pong's
// instance id: pings every 500 ms and reconnections at most 500 ms apart keep the time from
// "broker ready" to "deliveries flow again" near one second.
constexpr int64_t kPingEveryMs = 500;
constexpr int64_t kSilenceLimitMs = 3500;  // no word from the broker for this long = link down
constexpr int64_t kHelloRetryMs = 500;
constexpr int64_t kSubscribeTimeoutMs = 5000;  // no Subscribed by then: send it again
// Bounds on a standby's "ask me again" hint (NOT_LEADER with retry_after_ms) during an election.
constexpr int64_t kElectionRetryMinMs = 100;
constexpr int64_t kElectionRetryMaxMs = 2000;
// The longest a link stays on a standby that keeps hinting without winning (a 5 s lease, the
// 3.5 s silence limit and a margin): past it, the link goes to the leader the standby names.
constexpr int64_t kElectionStayMaxMs = 10000;
}  // namespace

BrokerLink::BrokerLink(zmq::context_t& context, const std::string& endpoints, wire::Hello hello,
                       uint32_t window, std::optional<CurveClientKeys> curve)
    : context_(context),
      endpoints_(EndpointListOrSelf(endpoints)),
      hello_(std::move(hello)),
      window_(window),
      curve_(std::move(curve)) {
  Reconnect();
}

BrokerLink::~BrokerLink() = default;

void BrokerLink::Reconnect() {
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::immediate, 1);
  socket_->set(zmq::sockopt::reconnect_ivl, 100);
  socket_->set(zmq::sockopt::reconnect_ivl_max, 500);
  socket_->set(zmq::sockopt::heartbeat_ivl, 1000);
  socket_->set(zmq::sockopt::heartbeat_timeout, 3000);
  if (curve_) ApplyCurveClient(*socket_, *curve_);
  socket_->connect(endpoint());
  arrived_at_ms_ = SteadyNowMs();
  ForgetSession();
}

void BrokerLink::ForgetSession() {
  ready_ = false;
  subscribed_ = false;
  hello_request_id_ = 0;
  hello_sent_at_ms_ = 0;
  subscribe_request_id_ = 0;
  subscribe_retry_at_ms_ = 0;
}

bool BrokerLink::SendEnvelope(const wire::Envelope& envelope) {
  if (halted_) return false;
  auto message = EncodeEnvelope(envelope);
  try {
    return socket_->send(message, zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    spdlog::warn("send to broker {} failed: {}", endpoint(), e.what());
    return false;
  }
}

void BrokerLink::SendHello() {
  wire::Envelope envelope;
  hello_request_id_ = next_request_id_++;
  envelope.set_request_id(hello_request_id_);
  *envelope.mutable_hello() = hello_;
  hello_sent_at_ms_ = SteadyNowMs();
  // Not connected yet (ZMQ_IMMEDIATE, e.g. just after a move): the next tick tries again, so
  // that Hello leaves as soon as the connection is up.
  if (!SendEnvelope(envelope)) hello_request_id_ = 0;
}

void BrokerLink::StayForElection(const std::string& why, int64_t retry_after_ms) {
  const int64_t delay = std::clamp(retry_after_ms, kElectionRetryMinMs, kElectionRetryMaxMs);
  spdlog::info("broker link: {} {}, may take over and no longer hears that leader: staying, "
               "Hello again in {} ms",
               endpoint(), why, delay);
  // As after a move: what was pending is sent again (outboxes) once a leader welcomes us; the
  // socket stays, and Hello is said again soon, at a steady pace (the election ends within
  // the silent leader's lease).
  ForgetSession();
  hello_retry_at_ms_ = SteadyNowMs() + delay;
  FailAllPending("broker " + endpoint() + " " + why);
}

void BrokerLink::MoveOn(const std::string& why, const std::string& leader) {
  size_t from = current_;
  staying_since_ms_ = 0;
  auto named = std::find(endpoints_.begin(), endpoints_.end(), leader);
  if (!leader.empty() && named != endpoints_.end()) {
    current_ = static_cast<size_t>(named - endpoints_.begin());
  } else {
    current_ = (current_ + 1) % endpoints_.size();
  }
  ++moves_;
  ++moves_since_welcome_;
  spdlog::info("broker link: {} {}, moving to {}", endpoints_[from], why, endpoint());
  // Not ready before the handlers run: one that sends again at once is told UNREACHABLE and
  // waits for the ready handler, instead of writing to the standby's socket.
  Reconnect();
  FailAllPending("broker " + endpoints_[from] + " " + why);
  // Every endpoint tried since the last Welcome (no leader yet, a leader being elected, or a
  // list of one): the next Hello waits, with backoff, as after any refused Hello.
  if (moves_since_welcome_ >= endpoints_.size()) {
    int64_t delay = std::max<int64_t>(kHelloRetryMs, hello_backoff_.NextDelayMs(
                                                         Status(wire::NOT_LEADER, why)));
    hello_retry_at_ms_ = SteadyNowMs() + delay;
    return;
  }
  hello_retry_at_ms_ = 0;
  SendHello();
}

void BrokerLink::Request(wire::Envelope request, int timeout_ms, AnswerHandler handler) {
  if (halted_) {
    handler(Status(wire::UNAVAILABLE, "this gateway stopped: it cannot write durably"));
    return;
  }
  if (!ready_) {
    handler(Status(wire::UNREACHABLE, "broker " + endpoint() + " is not reachable"));
    return;
  }
  uint64_t id = next_request_id_++;
  request.set_request_id(id);
  if (!SendEnvelope(request)) {
    handler(Status(wire::UNREACHABLE, "broker " + endpoint() + " is not reachable"));
    return;
  }
  pending_[id] = Pending{SteadyNowMs() + timeout_ms, std::move(handler)};
}

void BrokerLink::AckDeliveries(const std::string& queue, const std::vector<uint64_t>& delivery_ids) {
  if (delivery_ids.empty()) return;
  wire::Envelope envelope;
  auto* ack = envelope.mutable_delivery_ack();
  ack->set_queue(queue);
  for (auto id : delivery_ids) ack->add_delivery_ids(id);
  // A lost ack is harmless: the broker redelivers and the gateway drops the duplicate.
  SendEnvelope(envelope);
}

void BrokerLink::OnReadable() {
  while (true) {
    zmq::message_t message;
    std::optional<size_t> received;
    try {
      received = socket_->recv(message, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      spdlog::warn("receive from broker failed: {}", e.what());
      return;
    }
    if (!received) return;
    auto decoded = DecodeEnvelope(message.data(), message.size(), SIZE_MAX);
    if (!decoded.ok()) {
      spdlog::warn("undecodable frame from broker: {}", decoded.status().ToString());
      continue;
    }
    last_heard_ms_ = SteadyNowMs();
    Handle(std::move(decoded).value());
  }
}

void BrokerLink::Rehello(const std::string& why) {
  spdlog::warn("broker {} forgot this session ({}); saying Hello again", endpoint(), why);
  ready_ = false;
  subscribed_ = false;
  subscribe_request_id_ = 0;
  subscribe_retry_at_ms_ = 0;
  FailAllPending("session lost: " + why);
  SendHello();
}

void BrokerLink::SendSubscribe() {
  wire::Envelope subscribe;
  subscribe_request_id_ = next_request_id_++;
  subscribe.set_request_id(subscribe_request_id_);
  subscribe.mutable_subscribe()->set_window(window_);
  subscribe_sent_at_ms_ = SteadyNowMs();
  subscribe_retry_at_ms_ = 0;
  SendEnvelope(subscribe);  // a lost one is sent again after kSubscribeTimeoutMs
}

void BrokerLink::OnWelcome(const wire::Welcome& welcome) {
  if (!instance_id_.empty() && welcome.instance_id() != instance_id_) {
    spdlog::info("broker {} restarted (instance {} -> {})", endpoint(), instance_id_,
                 welcome.instance_id());
  }
  instance_id_ = welcome.instance_id();
  hello_backoff_.Reset();
  hello_retry_at_ms_ = 0;
  moves_since_welcome_ = 0;
  staying_since_ms_ = 0;
  ++sessions_;
  subscribed_ = false;
  subscribe_backoff_.Reset();
  if (window_ > 0) SendSubscribe();
  ready_ = true;
  // A broker older than the field says nothing: taken as acknowledging (nothing inferred).
  broker_acknowledging_ = !welcome.has_acknowledging() || welcome.acknowledging();
  spdlog::info("session with broker {} established", endpoint());
  if (on_ready_) on_ready_();
}

void BrokerLink::OnSubscribeAnswer(const wire::Envelope& envelope) {
  subscribe_request_id_ = 0;
  if (!envelope.has_error()) {
    subscribed_ = true;
    subscribe_backoff_.Reset();
    return;
  }
  Status status = StatusOf(envelope);
  if (status.code() == wire::NOT_AUTHENTICATED) return Rehello("Subscribe refused");
  if (IsTransient(status)) {
    int64_t delay = subscribe_backoff_.NextDelayMs(status);
    spdlog::warn("subscribe refused ({}); retrying in {} ms", status.ToString(), delay);
    subscribe_retry_at_ms_ = SteadyNowMs() + delay;
    return;
  }
  // A permanent refusal should not happen to a gateway's own queues; keep asking (slowly)
  // rather than stay "ready" without deliveries until the next reconnection.
  int64_t delay = std::max<int64_t>(Backoff::kDefaultCapMs, subscribe_backoff_.NextDelayMs(status));
  spdlog::error("subscribe refused: {}; asking again in {} ms", status.ToString(), delay);
  subscribe_retry_at_ms_ = SteadyNowMs() + delay;
}

void BrokerLink::Handle(wire::Envelope&& envelope) {
  uint64_t id = envelope.request_id();
  if (envelope.has_delivery()) {
    if (on_delivery_) on_delivery_(std::move(*envelope.mutable_delivery()));
    return;
  }
  if (envelope.has_error() && envelope.error().code() == wire::NOT_LEADER) {
    // A standby, whatever was asked (Hello, a request, Subscribe, Ping). Moving fails every
    // pending request UNREACHABLE, this one included: it is sent again on the leader.
    const std::string& leader = envelope.error().leader_endpoint();
    const std::string why =
        "is not the leader (leader: " + (leader.empty() ? "unknown" : leader) + ")";
    const int64_t retry_after_ms = envelope.error().retry_after_ms();
    if (retry_after_ms > 0 && endpoints_.size() > 1) {
      // A standby that may take over and no longer hears its leader: it is about to win.
      // An answer to an older Hello is dropped: the newer Hello's (perhaps a Welcome) is on
      // its way, or the next Hello is already timed.
      if (!ready_ && id != hello_request_id_) return;
      const int64_t now = SteadyNowMs();
      if (staying_since_ms_ == 0) staying_since_ms_ = now;
      if (now - staying_since_ms_ < kElectionStayMaxMs) {
        return StayForElection(why, retry_after_ms);
      }
      // Hinting for too long without winning: its leader is alive after all.
    }
    return MoveOn(why, leader);
  }
  if (id != 0 && id == hello_request_id_) {
    hello_request_id_ = 0;
    if (!envelope.has_welcome()) {
      // Retry later (the keyring or config may be fixed meanwhile), never at once.
      Status refused = StatusOf(envelope);
      int64_t delay = std::max<int64_t>(kHelloRetryMs, hello_backoff_.NextDelayMs(refused));
      hello_retry_at_ms_ = SteadyNowMs() + delay;
      spdlog::error("broker refused the session: {}; saying Hello again in {} ms",
                    refused.ToString(), delay);
      return;
    }
    OnWelcome(envelope.welcome());
    return;
  }
  if (id != 0 && id == subscribe_request_id_) return OnSubscribeAnswer(envelope);
  if (envelope.has_pong()) {
    const std::string& instance = envelope.pong().instance_id();
    if (ready_ && !instance.empty() && !instance_id_.empty() && instance != instance_id_) {
      Rehello("broker instance " + instance_id_ + " replaced by " + instance);
      return;
    }
    if (!ready_ || !envelope.pong().has_acknowledging()) return;  // a broker that does not say
    // A pair's leader acknowledges again (e.g. strict mode: its standby is back): outboxes
    // that were refused meanwhile send now instead of at the end of their backoff.
    const bool acknowledging = envelope.pong().acknowledging();
    const bool resumed = acknowledging && !broker_acknowledging_;
    broker_acknowledging_ = acknowledging;
    if (resumed) {
      spdlog::info("broker {} acknowledges again", endpoint());
      if (on_ready_) on_ready_();
    }
    return;
  }
  if (envelope.has_error() && envelope.error().code() == wire::NOT_AUTHENTICATED) {
    // The broker restarted and forgot the session. Rehello fails this request (and every
    // other pending one) with UNREACHABLE, so that it is sent again on the new session.
    if (ready_ || hello_request_id_ == 0) Rehello("NOT_AUTHENTICATED");
    auto it = pending_.find(id);
    if (it != pending_.end()) {
      auto handler = std::move(it->second.handler);
      pending_.erase(it);
      handler(Status(wire::UNREACHABLE, "session lost; broker restarted"));
    }
    return;
  }
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // an answer that came after its timeout
  auto handler = std::move(it->second.handler);
  pending_.erase(it);
  handler(std::move(envelope));
}

void BrokerLink::FailAllPending(const std::string& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, entry] : pending) entry.handler(Status(wire::UNREACHABLE, why));
}

void BrokerLink::OnTick() {
  int64_t now = SteadyNowMs();
  // Something from the broker is waiting unread (the gateway's own loop stalled, e.g. in a
  // slow fsync of its outbox, after its last read): then nothing is judged silent or
  // unanswered in this tick; the next turn reads it first. (The broker's loop judges its
  // clients the same way: as of its last complete read.)
  const bool unread = socket_ && (socket_->get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
  for (auto it = pending_.begin(); !unread && it != pending_.end();) {
    if (it->second.deadline_ms <= now) {
      auto handler = std::move(it->second.handler);
      it = pending_.erase(it);
      handler(Status(wire::UNREACHABLE, "no answer from broker " + endpoint() + " in time"));
    } else {
      ++it;
    }
  }
  if (!ready_) {
    // Nothing heard from this endpoint since the link came to it (a broker down, an address
    // that leads nowhere): with other endpoints to try, try the next one.
    int64_t waiting_since = std::max({arrived_at_ms_, last_heard_ms_, hello_retry_at_ms_});
    if (!unread && endpoints_.size() > 1 && now - waiting_since > kSilenceLimitMs) {
      return MoveOn("silent for " + std::to_string(now - waiting_since) + " ms", "");
    }
    bool due = hello_request_id_ == 0 ? now >= hello_retry_at_ms_
                                      : now - hello_sent_at_ms_ >= kHelloRetryMs;  // lost
    if (due && !unread) SendHello();  // (the Welcome may be the unread message)
    return;
  }
  // Silence counts from the first ping left unanswered, not from the last word heard: a
  // gateway whose own loop stalled sent no ping meanwhile, and the broker owed it nothing.
  const bool asking = first_unanswered_ping_ms_ > last_heard_ms_;
  const int64_t silent_ms = asking ? now - first_unanswered_ping_ms_ + kPingEveryMs : 0;
  if (!unread && silent_ms > kSilenceLimitMs) {
    spdlog::warn("broker {} silent for {} ms; link considered down", endpoint(), silent_ms);
    if (endpoints_.size() > 1) {
      return MoveOn("silent for " + std::to_string(silent_ms) + " ms", "");
    }
    FailAllPending("link to broker lost");
    Reconnect();  // a fresh socket: the broker may have restarted and lost our routing id
    return;
  }
  if (window_ > 0 && !subscribed_) {
    bool retry_due = subscribe_retry_at_ms_ != 0 && now >= subscribe_retry_at_ms_;
    bool lost = subscribe_request_id_ != 0 && now - subscribe_sent_at_ms_ >= kSubscribeTimeoutMs;
    if (retry_due || lost) SendSubscribe();
  }
  if (now - last_ping_ms_ >= kPingEveryMs) {
    wire::Envelope ping;
    ping.set_request_id(next_request_id_++);
    auto* body = ping.mutable_ping();
    if (fill_ping_) fill_ping_(*body);
    SendEnvelope(ping);
    last_ping_ms_ = now;
    if (first_unanswered_ping_ms_ <= last_heard_ms_) first_unanswered_ping_ms_ = now;
  }
}

int BrokerLink::NextWakeInMs() const { return 100; }

}  // namespace aplus
