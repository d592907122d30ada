#include "tools/bench/load_worker.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

#include "common/retry_policy.h"
#include "common/wire.h"
#include "tools/bench/broker_process.h"
#include "tools/bench/steady_clock.h"

namespace aplus::bench {
namespace {

enum RequestKind { kHello, kSubscribe, kSubmit, kKeepalive, kFlush };

// A connection silent this long sends a Ping, so that the broker (which drops sessions silent
// for 10 s) keeps every session of a run, idle phases included.
constexpr int64_t kKeepaliveNs = 2'000'000'000;
// At most this many frames are read from one socket per turn, so that no connection starves
// the others of the thread.
constexpr int kMaxReadsPerTurn = 2048;

int64_t ParseScheduledNs(const std::string& subject) {
  auto at = subject.rfind(" t=");
  if (at == std::string::npos) return -1;
  try {
    return std::stoll(subject.substr(at + 3));
  } catch (...) {
    return -1;
  }
}

}  // namespace

struct LoadWorker::Connection {
  struct Pending {
    RequestKind kind;
    int64_t stamp_ns;  // submits: scheduled (open loop) or sent (closed loop) time
  };
  bool is_agent = false;
  const AgentConnectionSpec* agent = nullptr;
  const PartnerConnectionSpec* partner = nullptr;
  std::unique_ptr<zmq::socket_t> socket;
  uint64_t next_request_id = 1;
  std::unordered_map<uint64_t, Pending> pending;
  uint32_t submits_in_flight = 0;
  bool ready = false;
  bool counted_ready = false;    // counted in ready_connections (once, whatever the rehellos)
  bool hello_in_flight = false;
  std::string instance_id;       // the broker instance of the current session
  wire::Envelope hello;          // sent again when the broker forgot the session
  int64_t subscribe_retry_ns = 0;  // a transient Subscribe refusal: sent again then (0 = none)
  Backoff subscribe_backoff;
  int64_t last_send_ns = 0;
  uint64_t flush_seen = 0;
  // Agent connections.
  wire::Envelope submit;  // fixed fields set once; per-request fields overwritten
  uint64_t submits_sent = 0;  // also the open-loop schedule index
  size_t next_partner = 0;
  size_t next_agent = 0;
  bool known_case_recorded = false;
  // Partner connections: delivery ids received this turn, by queue.
  std::map<std::string, std::vector<uint64_t>> acks;
};

LoadWorker::LoadWorker(zmq::context_t& context, std::string endpoint, const Workload& workload,
                       LoadControl& control, std::vector<AgentConnectionSpec> agents,
                       std::vector<PartnerConnectionSpec> partners)
    : context_(context),
      endpoint_(std::move(endpoint)),
      workload_(workload),
      control_(control),
      agent_specs_(std::move(agents)),
      partner_specs_(std::move(partners)) {}

LoadWorker::~LoadWorker() { Join(); }

void LoadWorker::Start() { thread_ = std::thread([this] { Run(); }); }

void LoadWorker::Join() {
  if (thread_.joinable()) thread_.join();
}

bool LoadWorker::InWindow(int64_t stamp_ns) const {
  return stamp_ns >= control_.window_start_ns.load(std::memory_order_relaxed) &&
         stamp_ns < control_.window_end_ns.load(std::memory_order_relaxed);
}

bool LoadWorker::SendFrame(Connection& connection, const wire::Envelope& envelope) {
  zmq::message_t message = EncodeEnvelope(envelope);
  try {
    if (!connection.socket->send(message, zmq::send_flags::dontwait)) {
      LoadCounters::Add(counters_.send_would_block);
      return false;
    }
  } catch (const zmq::error_t&) {
    LoadCounters::Add(counters_.send_would_block);
    return false;
  }
  connection.last_send_ns = SteadyNowNs();
  return true;
}

bool LoadWorker::SendRequest(Connection& connection, wire::Envelope& envelope, int kind,
                             int64_t stamp_ns) {
  uint64_t id = connection.next_request_id++;
  envelope.set_request_id(id);
  if (!SendFrame(connection, envelope)) return false;
  connection.pending.emplace(id, Connection::Pending{static_cast<RequestKind>(kind), stamp_ns});
  return true;
}

bool LoadWorker::SendSubmit(Connection& connection, int64_t scheduled_ns) {
  const AgentConnectionSpec& spec = *connection.agent;
  auto* submit = connection.submit.mutable_submit();
  submit->set_agent(spec.agents[connection.next_agent % spec.agents.size()]);
  submit->set_partner(
      workload_.partners[(spec.index + connection.next_partner) % workload_.partners.size()]);
  std::string serial = workload_.run_tag + "-" + std::to_string(spec.index) + "-" +
                       std::to_string(connection.submits_sent);
  // The scheduled time rides in the subject, so the partner side can time the delivery
  // without any state shared between threads.
  submit->set_subject("Dossier bench " + serial + " t=" + std::to_string(scheduled_ns));
  submit->set_idempotency_key("bench-" + serial);
  if (!SendRequest(connection, connection.submit, kSubmit, scheduled_ns)) return false;
  ++connection.next_agent;
  ++connection.next_partner;
  ++connection.submits_sent;
  ++connection.submits_in_flight;
  LoadCounters::Add(counters_.submits_sent);
  LoadCounters::Add(counters_.outstanding);
  return true;
}

int64_t LoadWorker::NextDueNs(const Connection& connection) const {
  // Connection j of M sends its i-th submit at start + (j + i*M) / rate: together the
  // connections offer exactly `rate` submits per second, evenly spaced.
  uint64_t slot = connection.agent->index +
                  connection.submits_sent * static_cast<uint64_t>(workload_.total_agent_connections);
  return OpenLoopSchedule(control_.schedule_start_ns.load(std::memory_order_relaxed), workload_.rate)
      .DueNs(slot);
}

void LoadWorker::SendSubmits(Connection& connection, int64_t now_ns) {
  if (!connection.is_agent || !connection.ready) return;
  if (!control_.sending.load(std::memory_order_relaxed)) return;
  int64_t until = control_.send_until_ns.load(std::memory_order_relaxed);
  if (workload_.open_loop) {
    while (true) {
      int64_t due = NextDueNs(connection);
      if (due > now_ns || due >= until) return;
      if (!SendSubmit(connection, due)) return;  // retried next turn, still timed from `due`
    }
  }
  if (now_ns >= until) return;
  while (connection.submits_in_flight < workload_.pipeline) {
    if (control_.budget.fetch_sub(1, std::memory_order_relaxed) <= 0) {
      control_.budget.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!SendSubmit(connection, SteadyNowNs())) {
      control_.budget.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
}

void LoadWorker::OnDelivery(Connection& connection, const wire::Delivery& delivery,
                            int64_t now_ns) {
  if (!delivery.has_escalation()) {
    LoadCounters::Add(counters_.unexpected);
  } else {
    LoadCounters::Add(counters_.deliveries);
    if (delivery.attempt() > 1) LoadCounters::Add(counters_.redeliveries);
    int64_t scheduled = ParseScheduledNs(delivery.escalation().subject());
    if (delivery.attempt() == 1 && scheduled > 0 && InWindow(scheduled)) {
      delivery_samples_.push_back(now_ns - scheduled);
    }
  }
  // Everything delivered is acknowledged, as a partner gateway does once it has stored it.
  connection.acks[delivery.queue()].push_back(delivery.delivery_id());
}

void LoadWorker::OnAnswer(Connection& connection, const wire::Envelope& envelope,
                          int64_t now_ns) {
  if (envelope.has_error()) {
    LoadCounters::Add(counters_.errors);
    size_t code = static_cast<size_t>(envelope.error().code());
    LoadCounters::Add(counters_.errors_by_code[std::min(code, kErrorCodeSlots - 1)]);
  }
  // The session heals like a gateway's (common/broker_link.h): a Pong from another broker
  // instance, or NOT_AUTHENTICATED, means the broker restarted and forgot this session.
  bool forgotten =
      (envelope.has_error() && envelope.error().code() == wire::NOT_AUTHENTICATED) ||
      (envelope.has_pong() && !envelope.pong().instance_id().empty() &&
       !connection.instance_id.empty() && envelope.pong().instance_id() != connection.instance_id);
  if (forgotten && !connection.hello_in_flight) Rehello(connection, now_ns);
  auto it = connection.pending.find(envelope.request_id());
  if (it == connection.pending.end()) {
    if (!envelope.has_error()) LoadCounters::Add(counters_.unexpected);
    return;
  }
  Connection::Pending pending = it->second;
  connection.pending.erase(it);
  switch (pending.kind) {
    case kHello:
      connection.hello_in_flight = false;
      if (!envelope.has_welcome()) {
        if (!connection.counted_ready) LoadCounters::Add(counters_.failed_connections);
      } else {
        connection.instance_id = envelope.welcome().instance_id();
        if (connection.is_agent) {
          MarkReady(connection);
        } else {
          connection.subscribe_backoff.Reset();
          SendSubscribe(connection, now_ns);
        }
      }
      break;
    case kSubscribe:
      if (envelope.has_subscribed()) {
        MarkReady(connection);
      } else if (envelope.has_error() && envelope.error().code() == wire::NOT_AUTHENTICATED) {
        // Rehello above already asked for a new session; it subscribes again.
      } else if (IsTransient(StatusOf(envelope))) {
        int64_t delay_ms = connection.subscribe_backoff.NextDelayMs(StatusOf(envelope));
        connection.subscribe_retry_ns = now_ns + delay_ms * 1'000'000;
      } else if (!connection.counted_ready) {
        LoadCounters::Add(counters_.failed_connections);
      }
      break;
    case kSubmit:
      --connection.submits_in_flight;
      LoadCounters::Sub(counters_.outstanding);
      if (envelope.has_accepted()) {
        LoadCounters::Add(counters_.accepted);
        if (envelope.accepted().duplicate()) LoadCounters::Add(counters_.duplicates);
        if (InWindow(pending.stamp_ns)) accept_samples_.push_back(now_ns - pending.stamp_ns);
        if (!connection.known_case_recorded) {
          known_cases_.push_back({envelope.accepted().case_id(), connection.agent->contact_point});
          connection.known_case_recorded = true;
        }
      } else if (!envelope.has_error()) {
        LoadCounters::Add(counters_.unexpected);
      }
      break;
    case kFlush:
      if (envelope.has_pong()) LoadCounters::Add(counters_.pongs);
      break;
    case kKeepalive:
      break;
  }
}

void LoadWorker::MarkReady(Connection& connection) {
  connection.ready = true;
  if (!connection.counted_ready) LoadCounters::Add(counters_.ready_connections);
  connection.counted_ready = true;
}

void LoadWorker::SendSubscribe(Connection& connection, int64_t now_ns) {
  connection.subscribe_retry_ns = 0;
  wire::Envelope subscribe;
  subscribe.mutable_subscribe()->set_window(workload_.window);
  if (!SendRequest(connection, subscribe, kSubscribe, now_ns) && !connection.counted_ready) {
    LoadCounters::Add(counters_.failed_connections);
  }
}

void LoadWorker::Rehello(Connection& connection, int64_t now_ns) {
  connection.ready = false;
  connection.subscribe_retry_ns = 0;
  // Submits sent to the old session get no answer: forget them, as a gateway's link fails
  // its pending requests, so that the pipeline refills on the new session.
  for (auto it = connection.pending.begin(); it != connection.pending.end();) {
    if (it->second.kind == kSubmit) {
      --connection.submits_in_flight;
      LoadCounters::Sub(counters_.outstanding);
      it = connection.pending.erase(it);
    } else {
      ++it;
    }
  }
  connection.hello_in_flight = SendRequest(connection, connection.hello, kHello, now_ns);
}

void LoadWorker::Receive(Connection& connection, int64_t now_ns) {
  for (int read = 0; read < kMaxReadsPerTurn; ++read) {
    zmq::message_t message;
    std::optional<size_t> received;
    try {
      received = connection.socket->recv(message, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      return;
    }
    if (!received) return;
    now_ns = SteadyNowNs();
    if (!incoming_.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
      LoadCounters::Add(counters_.unexpected);
      continue;
    }
    if (incoming_.has_delivery()) {
      OnDelivery(connection, incoming_.delivery(), now_ns);
    } else {
      OnAnswer(connection, incoming_, now_ns);
    }
  }
}

void LoadWorker::FlushAcks(Connection& connection) {
  for (auto it = connection.acks.begin(); it != connection.acks.end();) {
    if (it->second.empty()) {
      it = connection.acks.erase(it);
      continue;
    }
    wire::Envelope envelope;
    envelope.set_request_id(connection.next_request_id++);
    auto* ack = envelope.mutable_delivery_ack();
    ack->set_queue(it->first);
    for (uint64_t id : it->second) ack->add_delivery_ids(id);
    if (!SendFrame(connection, envelope)) return;  // kept, sent next turn
    LoadCounters::Add(counters_.acked, it->second.size());
    it = connection.acks.erase(it);
  }
}

void LoadWorker::Run() {
  for (const auto& spec : agent_specs_) {
    auto connection = std::make_unique<Connection>();
    connection->is_agent = true;
    connection->agent = &spec;
    auto* submit = connection->submit.mutable_submit();
    submit->set_category("bench-escalation");
    submit->set_body(workload_.body);
    submit->set_citizen_name("Citoyen Bench");
    submit->set_citizen_consent(true);
    connections_.push_back(std::move(connection));
  }
  for (const auto& spec : partner_specs_) {
    auto connection = std::make_unique<Connection>();
    connection->partner = &spec;
    connections_.push_back(std::move(connection));
  }
  std::vector<zmq::pollitem_t> items;
  for (auto& connection : connections_) {
    connection->socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    connection->socket->set(zmq::sockopt::linger, 0);
    // Unbounded pipes: a full pipe would make the benchmark, not the broker, decide the pace.
    connection->socket->set(zmq::sockopt::sndhwm, 0);
    connection->socket->set(zmq::sockopt::rcvhwm, 0);
    connection->socket->set(zmq::sockopt::reconnect_ivl, 10);
    if (workload_.keys) {
      auto keys = connection->is_agent
                      ? workload_.keys->ClientKeys(wire::AGENT_GATEWAY, connection->agent->contact_point)
                      : workload_.keys->ClientKeys(wire::PARTNER_GATEWAY, connection->partner->partner,
                                                   connection->partner->territory);
      if (keys) ApplyCurveClient(*connection->socket, *keys);
    }
    connection->socket->connect(endpoint_);
    wire::Envelope hello;
    auto* body = hello.mutable_hello();
    body->set_software("aplus-bench");
    if (connection->is_agent) {
      body->set_role(wire::AGENT_GATEWAY);
      body->set_principal(connection->agent->contact_point);
    } else {
      body->set_role(wire::PARTNER_GATEWAY);
      body->set_principal(connection->partner->partner);
      body->set_territory(connection->partner->territory);
    }
    connection->hello = hello;
    connection->hello_in_flight = SendRequest(*connection, hello, kHello, SteadyNowNs());
    if (!connection->hello_in_flight) LoadCounters::Add(counters_.failed_connections);
    items.push_back(zmq::pollitem_t{connection->socket->handle(), 0, ZMQ_POLLIN, 0});
  }
  // The open-loop timer: wakes the loop at the next scheduled send with nanosecond precision
  // (zmq::poll alone only counts milliseconds).
  int timer_fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  items.push_back(zmq::pollitem_t{nullptr, timer_fd, ZMQ_POLLIN, 0});

  while (!control_.stop.load(std::memory_order_relaxed)) {
    int64_t now = SteadyNowNs();
    std::chrono::milliseconds timeout(10);
    if (workload_.open_loop && control_.sending.load(std::memory_order_relaxed)) {
      int64_t next_due = INT64_MAX;
      for (auto& connection : connections_) {
        if (connection->is_agent && connection->ready) {
          next_due = std::min(next_due, NextDueNs(*connection));
        }
      }
      if (next_due <= now) {
        timeout = std::chrono::milliseconds(0);
      } else if (next_due != INT64_MAX) {
        itimerspec when{};
        when.it_value.tv_sec = next_due / 1'000'000'000;
        when.it_value.tv_nsec = next_due % 1'000'000'000;
        ::timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &when, nullptr);
      }
    }
    zmq::poll(items.data(), items.size(), timeout);
    if (items.back().revents & ZMQ_POLLIN) {
      uint64_t expirations;
      [[maybe_unused]] auto n = ::read(timer_fd, &expirations, sizeof expirations);
    }
    now = SteadyNowNs();
    for (size_t i = 0; i < connections_.size(); ++i) {
      if (items[i].revents & ZMQ_POLLIN) Receive(*connections_[i], now);
    }
    now = SteadyNowNs();
    uint64_t flush = control_.flush_generation.load(std::memory_order_relaxed);
    for (auto& connection : connections_) {
      if (connection->subscribe_retry_ns != 0 && now >= connection->subscribe_retry_ns) {
        SendSubscribe(*connection, now);
      }
      if (!connection->is_agent) FlushAcks(*connection);
      SendSubmits(*connection, now);
      if (connection->flush_seen != flush && connection->ready) {
        wire::Envelope ping;
        ping.mutable_ping();
        if (SendRequest(*connection, ping, kFlush, now)) connection->flush_seen = flush;
      } else if (now - connection->last_send_ns > kKeepaliveNs) {
        wire::Envelope ping;
        ping.mutable_ping();
        SendRequest(*connection, ping, kKeepalive, now);
      }
    }
  }
  ::close(timer_fd);
  connections_.clear();  // sockets close on the thread that used them
}

}  // namespace aplus::bench
