// The partner gateway in-process, against a fake broker (a ROUTER socket on 127.0.0.1 run by
// a thread of this test) and driven on its local endpoint by a SyncClient.
#include "partner-gateway/partner_gateway.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <zmq_addon.hpp>

#include "common/sync_client.h"
#include "common/wire.h"

namespace aplus {
namespace {

constexpr const char* kQueue = "partner/france-travail";
constexpr int kWaitMs = 5000;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/aplus-partner-gateway-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Sub(const std::string& name) const {
    std::filesystem::create_directories(path_ + "/" + name);
    return path_ + "/" + name;
  }

 private:
  std::string path_;
};

// A broker stand-in: welcomes any Hello, confirms Subscribe, answers Ping, answers partner
// requests with CaseUpdated (or a configured error), pushes deliveries the test hands it and
// records everything it receives.
class FakeBroker {
 public:
  // port 0: a random free port in 20000-60000. Otherwise that port (retrying while the
  // previous owner releases it).
  FakeBroker(zmq::context_t& context, int port = 0) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    std::mt19937 random(std::random_device{}());
    int64_t deadline = SteadyNowMs() + kWaitMs;
    while (true) {
      int candidate = port != 0 ? port : 20000 + static_cast<int>(random() % 40000);
      try {
        socket_.bind("tcp://127.0.0.1:" + std::to_string(candidate));
        port_ = candidate;
        break;
      } catch (const zmq::error_t& e) {
        if (e.num() != EADDRINUSE || SteadyNowMs() > deadline) throw;
      }
    }
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeBroker() {
    stop_ = true;
    thread_.join();
  }

  int port() const { return port_; }
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  void Push(const wire::Delivery& delivery) {
    std::lock_guard lock(mutex_);
    to_push_.push_back(delivery);
  }
  // Partner requests are answered with this error instead of CaseUpdated (ERROR_UNSPECIFIED
  // = answer normally).
  void SetMutationError(wire::ErrorCode code) {
    std::lock_guard lock(mutex_);
    mutation_error_ = code;
  }
  // Called on the broker thread for every envelope received, before it is recorded.
  void SetObserver(std::function<void(const wire::Envelope&)> observer) {
    std::lock_guard lock(mutex_);
    observer_ = std::move(observer);
  }

  // The first received envelope (in arrival order, after `skip` matches) satisfying `match`.
  std::optional<wire::Envelope> WaitFor(const std::function<bool(const wire::Envelope&)>& match,
                                        int skip = 0) {
    std::unique_lock lock(mutex_);
    std::optional<wire::Envelope> found;
    changed_.wait_for(lock, std::chrono::milliseconds(kWaitMs), [&] {
      int seen = 0;
      for (const auto& envelope : received_) {
        if (match(envelope) && seen++ == skip) {
          found = envelope;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  int Count(const std::function<bool(const wire::Envelope&)>& match) {
    std::lock_guard lock(mutex_);
    int count = 0;
    for (const auto& envelope : received_) count += match(envelope) ? 1 : 0;
    return count;
  }

 private:
  void Loop() {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(10));
      PushPending();
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        continue;
      }
      if (frames.size() != 2) continue;
      auto decoded = DecodeEnvelope(frames[1].data(), frames[1].size(), SIZE_MAX);
      if (!decoded.ok()) continue;
      Handle(frames[0].to_string(), *decoded);
    }
  }

  void Handle(const std::string& peer, const wire::Envelope& request) {
    wire::Envelope answer;
    bool answer_it = true;
    {
      std::lock_guard lock(mutex_);
      if (observer_) observer_(request);
      received_.push_back(request);
      switch (request.body_case()) {
        case wire::Envelope::kHello:
          gateway_ = peer;
          answer.mutable_welcome()->set_broker_id("fake");
          answer.mutable_welcome()->add_queues(kQueue);
          break;
        case wire::Envelope::kSubscribe:
          answer.mutable_subscribed()->add_queues(kQueue);
          break;
        case wire::Envelope::kPing:
          answer.mutable_pong();
          break;
        case wire::Envelope::kAcknowledgeCase:
        case wire::Envelope::kReplyCase:
          if (mutation_error_ != wire::ERROR_UNSPECIFIED) {
            answer = MakeErrorEnvelope(0, Status(mutation_error_, "refused by the fake broker"));
          } else {
            auto* updated = answer.mutable_case_updated();
            updated->set_case_id(request.has_reply_case() ? request.reply_case().case_id()
                                                          : request.acknowledge_case().case_id());
            updated->set_state(request.has_reply_case() ? wire::ANSWERED : wire::ACKNOWLEDGED);
          }
          break;
        default:
          answer_it = false;
      }
    }
    changed_.notify_all();
    if (!answer_it) return;
    answer.set_request_id(request.request_id());
    Send(peer, answer);
  }

  void PushPending() {
    std::deque<wire::Delivery> deliveries;
    std::string peer;
    {
      std::lock_guard lock(mutex_);
      if (gateway_.empty()) return;  // no session yet: keep them
      deliveries.swap(to_push_);
      peer = gateway_;
    }
    for (const auto& delivery : deliveries) {
      wire::Envelope envelope;
      *envelope.mutable_delivery() = delivery;
      Send(peer, envelope);
    }
  }

  void Send(const std::string& peer, const wire::Envelope& envelope) {
    socket_.send(zmq::buffer(peer), zmq::send_flags::sndmore);
    socket_.send(EncodeEnvelope(envelope), zmq::send_flags::none);
  }

  zmq::socket_t socket_;  // broker thread only after construction
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<wire::Envelope> received_;                      // guarded by mutex_
  std::deque<wire::Delivery> to_push_;                        // guarded by mutex_
  std::string gateway_;                                       // guarded by mutex_
  wire::ErrorCode mutation_error_ = wire::ERROR_UNSPECIFIED;  // guarded by mutex_
  std::function<void(const wire::Envelope&)> observer_;       // guarded by mutex_
};

// A PartnerGateway running on its own thread for the life of this object.
class RunningGateway {
 public:
  RunningGateway(zmq::context_t& context, const PartnerGatewayOptions& options) {
    auto opened = PartnerGateway::Open(context, options, clock_);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    gateway_ = std::move(opened).value();
    thread_ = std::thread([this] { gateway_->Run(stop_); });
  }
  ~RunningGateway() {
    stop_ = true;
    thread_.join();
  }
  PartnerGateway& operator*() { return *gateway_; }
  PartnerGateway* operator->() { return gateway_.get(); }

 private:
  SystemClock clock_;
  std::unique_ptr<PartnerGateway> gateway_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

PartnerGatewayOptions OptionsFor(const TempDir& dir, const FakeBroker& broker) {
  PartnerGatewayOptions options;
  options.partner = "france-travail";
  options.broker_endpoint = broker.endpoint();
  options.listen_endpoint = "tcp://127.0.0.1:*";
  options.data_dir = dir.Sub("db");
  options.window = 8;
  options.forward_timeout_ms = 2000;
  return options;
}

wire::Delivery MakeDelivery(const std::string& case_id, uint64_t delivery_id, uint32_t attempt) {
  wire::Delivery delivery;
  delivery.set_queue(kQueue);
  delivery.set_delivery_id(delivery_id);
  delivery.set_attempt(attempt);
  auto* escalation = delivery.mutable_escalation();
  escalation->set_case_id(case_id);
  escalation->set_contact_point("mairie-perche-en-noce");
  escalation->set_agent("agent-1");
  escalation->set_partner("france-travail");
  escalation->set_territory("perche");
  escalation->set_category("unemployment-benefits");
  escalation->set_subject("Allocation suspendue");
  escalation->set_body("Mme Martin n'a plus d'allocation depuis mars.");
  escalation->set_citizen_name("Jeanne Martin");
  escalation->set_submitted_at_ms(1714642200000);  // 2024-05-02T09:30:00Z
  escalation->set_deadline_ms(1714987800123);      // 2024-05-06T09:30:00.123Z
  return delivery;
}

std::function<bool(const wire::Envelope&)> IsAckOf(uint64_t delivery_id) {
  return [delivery_id](const wire::Envelope& envelope) {
    if (!envelope.has_delivery_ack()) return false;
    for (auto id : envelope.delivery_ack().delivery_ids()) {
      if (id == delivery_id) return true;
    }
    return false;
  };
}

bool IsSubscribe(const wire::Envelope& envelope) { return envelope.has_subscribe(); }
bool IsReply(const wire::Envelope& envelope) { return envelope.has_reply_case(); }
bool IsAcknowledge(const wire::Envelope& envelope) { return envelope.has_acknowledge_case(); }

wire::Inbox GetInbox(SyncClient& client) {
  wire::Envelope request;
  request.mutable_get_inbox();
  auto answer = client.CallOk(request, kWaitMs);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  REQUIRE(answer->has_inbox());
  return answer->inbox();
}

Result<wire::Envelope> Reply(SyncClient& client, const std::string& case_id,
                             const std::string& text, const std::string& key = "") {
  wire::Envelope request;
  request.mutable_reply_case()->set_case_id(case_id);
  request.mutable_reply_case()->set_text(text);
  request.mutable_reply_case()->set_idempotency_key(key);
  return client.Call(request, kWaitMs);
}

Result<wire::Envelope> Acknowledge(SyncClient& client, const std::string& case_id) {
  wire::Envelope request;
  request.mutable_acknowledge_case()->set_case_id(case_id);
  request.mutable_acknowledge_case()->set_note("pris en charge");
  return client.Call(request, kWaitMs);
}

// Delivers `case_id` and waits for the gateway's ack of it.
void DeliverAndWait(FakeBroker& broker, const std::string& case_id, uint64_t delivery_id) {
  broker.Push(MakeDelivery(case_id, delivery_id, 1));
  REQUIRE(broker.WaitFor(IsAckOf(delivery_id)).has_value());
}

}  // namespace

TEST_CASE(
    "a delivery is stored and spooled before it is acked; a redelivery is acked again "
    "and listed once") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  auto options = OptionsFor(dir, broker);
  options.spool_dir = dir.Sub("spool");
  const std::string spool_file = options.spool_dir + "/PER-7K3M-Q9XD.json";
  std::atomic<bool> spooled_at_ack{false};
  broker.SetObserver([&](const wire::Envelope& envelope) {
    if (IsAckOf(1)(envelope)) spooled_at_ack = std::filesystem::exists(spool_file);
  });
  {
    RunningGateway gateway(context, options);
    auto subscribe = broker.WaitFor(IsSubscribe);
    REQUIRE(subscribe.has_value());
    CHECK(subscribe->subscribe().window() == 8);
    auto hello = broker.WaitFor([](const wire::Envelope& e) { return e.has_hello(); });
    CHECK(hello->hello().role() == wire::PARTNER_GATEWAY);
    CHECK(hello->hello().principal() == "france-travail");

    broker.Push(MakeDelivery("PER-7K3M-Q9XD", 1, 1));
    auto ack = broker.WaitFor(IsAckOf(1));
    REQUIRE(ack.has_value());
    CHECK(ack->delivery_ack().queue() == kQueue);
    CHECK(spooled_at_ack.load());

    SyncClient client(context, gateway->local_endpoint(), std::nullopt);
    wire::Inbox inbox = GetInbox(client);
    REQUIRE(inbox.escalations_size() == 1);
    CHECK(inbox.escalations(0).case_id() == "PER-7K3M-Q9XD");
    CHECK(inbox.escalations(0).body() == "Mme Martin n'a plus d'allocation depuis mars.");
    CHECK(inbox.states(0) == wire::DELIVERED);

    // The broker did not see our ack and delivers again.
    broker.Push(MakeDelivery("PER-7K3M-Q9XD", 2, 2));
    REQUIRE(broker.WaitFor(IsAckOf(2)).has_value());
    CHECK(GetInbox(client).escalations_size() == 1);
    CHECK(gateway->counters().duplicate_deliveries.load() == 1);

    std::ifstream file(spool_file);
    auto json = nlohmann::json::parse(file);
    CHECK(json["case_id"] == "PER-7K3M-Q9XD");
    CHECK(json["contact_point"] == "mairie-perche-en-noce");
    CHECK(json["agent"] == "agent-1");
    CHECK(json["partner"] == "france-travail");
    CHECK(json["territory"] == "perche");
    CHECK(json["category"] == "unemployment-benefits");
    CHECK(json["subject"] == "Allocation suspendue");
    CHECK(json["citizen_name"] == "Jeanne Martin");
    CHECK(json["submitted_at"] == "2024-05-02T09:30:00.000Z");
    CHECK(json["deadline"] == "2024-05-06T09:30:00.123Z");
    CHECK(json["attempt"] == 1);
    CHECK_FALSE(std::filesystem::exists(options.spool_dir + "/.PER-7K3M-Q9XD.json.tmp"));
  }
  // What was acked survives a restart.
  RunningGateway gateway(context, options);
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);
  wire::Envelope get_case;
  get_case.mutable_get_case()->set_case_id("per-7k3m-q9xd");  // as typed by a person
  auto view = client.CallOk(get_case, kWaitMs);
  REQUIRE_MESSAGE(view.ok(), view.status().ToString());
  CHECK(view->case_view().summary().case_id() == "PER-7K3M-Q9XD");
  CHECK(view->case_view().summary().state() == wire::DELIVERED);
  CHECK(view->case_view().citizen_name() == "Jeanne Martin");
  CHECK(view->case_view().summary().delivery_attempts() == 1);
}

TEST_CASE(
    "deliveries of one turn are stored together, newest last, and a limit keeps the "
    "newest") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  RunningGateway gateway(context, OptionsFor(dir, broker));
  REQUIRE(broker.WaitFor(IsSubscribe).has_value());
  broker.Push(MakeDelivery("PER-0000-0001", 1, 1));
  broker.Push(MakeDelivery("PER-0000-0002", 2, 1));
  broker.Push(MakeDelivery("PER-0000-0001", 3, 2));  // a duplicate inside the same turn
  broker.Push(MakeDelivery("PER-0000-0003", 4, 1));
  for (uint64_t id = 1; id <= 4; ++id) REQUIRE(broker.WaitFor(IsAckOf(id)).has_value());

  SyncClient client(context, gateway->local_endpoint(), std::nullopt);
  wire::Inbox inbox = GetInbox(client);
  REQUIRE(inbox.escalations_size() == 3);
  CHECK(inbox.escalations(0).case_id() == "PER-0000-0001");
  CHECK(inbox.escalations(2).case_id() == "PER-0000-0003");
  wire::Envelope limited;
  limited.mutable_get_inbox()->set_limit(2);
  auto answer = client.CallOk(limited, kWaitMs);
  REQUIRE(answer.ok());
  REQUIRE(answer->inbox().escalations_size() == 2);
  CHECK(answer->inbox().escalations(0).case_id() == "PER-0000-0002");
  CHECK(answer->inbox().escalations(1).case_id() == "PER-0000-0003");
}

TEST_CASE("AcknowledgeCase is forwarded to the broker and its answer passed through") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  RunningGateway gateway(context, OptionsFor(dir, broker));
  REQUIRE(broker.WaitFor(IsSubscribe).has_value());
  DeliverAndWait(broker, "PER-7K3M-Q9XD", 1);
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);

  auto answer = Acknowledge(client, "PER-7K3M-Q9XD");
  REQUIRE(answer.ok());
  REQUIRE_MESSAGE(answer->has_case_updated(), BodyName(*answer));
  CHECK(answer->case_updated().state() == wire::ACKNOWLEDGED);
  CHECK_FALSE(answer->case_updated().queued_locally());
  auto forwarded = broker.WaitFor(IsAcknowledge);
  REQUIRE(forwarded.has_value());
  CHECK(forwarded->acknowledge_case().case_id() == "PER-7K3M-Q9XD");
  CHECK(forwarded->acknowledge_case().note() == "pris en charge");
  CHECK_FALSE(forwarded->acknowledge_case().idempotency_key().empty());
  CHECK(GetInbox(client).states(0) == wire::ACKNOWLEDGED);

  SUBCASE("a final error from the broker is passed through and does not block the outbox") {
    broker.SetMutationError(wire::INVALID_TRANSITION);
    auto refused = Reply(client, "PER-7K3M-Q9XD", "first");
    REQUIRE(refused.ok());
    CHECK(StatusOf(*refused).code() == wire::INVALID_TRANSITION);
    broker.SetMutationError(wire::ERROR_UNSPECIFIED);
    auto replied = Reply(client, "PER-7K3M-Q9XD", "Votre dossier est rétabli.");
    REQUIRE(replied.ok());
    REQUIRE(replied->has_case_updated());
    CHECK(replied->case_updated().state() == wire::ANSWERED);
    wire::Envelope get_case;
    get_case.mutable_get_case()->set_case_id("PER-7K3M-Q9XD");
    auto view = client.CallOk(get_case, kWaitMs);
    REQUIRE(view.ok());
    CHECK(view->case_view().summary().state() == wire::ANSWERED);
    CHECK(view->case_view().reply_text() == "Votre dossier est rétabli.");
    CHECK(broker.Count(IsReply) == 2);
  }
}

TEST_CASE(
    "a retryable broker error keeps the request queued and it is sent again with the "
    "same idempotency key") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  auto options = OptionsFor(dir, broker);
  options.forward_timeout_ms = 300;
  RunningGateway gateway(context, options);
  REQUIRE(broker.WaitFor(IsSubscribe).has_value());
  DeliverAndWait(broker, "PER-7K3M-Q9XD", 1);
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);

  broker.SetMutationError(wire::UNAVAILABLE);
  auto answer = Acknowledge(client, "PER-7K3M-Q9XD");
  REQUIRE(answer.ok());
  REQUIRE_MESSAGE(answer->has_case_updated(), BodyName(*answer));
  CHECK(answer->case_updated().queued_locally());
  auto first = broker.WaitFor(IsAcknowledge);
  REQUIRE(first.has_value());
  broker.SetMutationError(wire::ERROR_UNSPECIFIED);

  auto second = broker.WaitFor(IsAcknowledge, 1);
  REQUIRE(second.has_value());
  CHECK(second->acknowledge_case().idempotency_key() ==
        first->acknowledge_case().idempotency_key());
  wire::Inbox inbox;
  for (int64_t deadline = SteadyNowMs() + kWaitMs; SteadyNowMs() < deadline;) {
    inbox = GetInbox(client);
    if (inbox.states(0) == wire::ACKNOWLEDGED) break;
  }
  CHECK(inbox.states(0) == wire::ACKNOWLEDGED);
}

TEST_CASE("requests the gateway can refuse never reach the broker") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  RunningGateway gateway(context, OptionsFor(dir, broker));
  REQUIRE(broker.WaitFor(IsSubscribe).has_value());
  DeliverAndWait(broker, "PER-7K3M-Q9XD", 1);
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);

  auto unknown = Reply(client, "PER-AAAA-BBBB", "bonjour");
  REQUIRE(unknown.ok());
  CHECK(StatusOf(*unknown).code() == wire::UNKNOWN_CASE);
  auto unknown_ack = Acknowledge(client, "nonsense");
  REQUIRE(unknown_ack.ok());
  CHECK(StatusOf(*unknown_ack).code() == wire::UNKNOWN_CASE);
  auto empty = Reply(client, "PER-7K3M-Q9XD", "  ");
  REQUIRE(empty.ok());
  CHECK(StatusOf(*empty).code() == wire::INVALID_ARGUMENT);

  // Ping travels the same path as any request: once it is answered, nothing above reached it.
  wire::Envelope ping;
  ping.mutable_ping();
  auto pong = client.CallOk(ping, kWaitMs);
  REQUIRE(pong.ok());
  CHECK(pong->has_pong());
  CHECK(broker.Count(IsReply) == 0);
  CHECK(broker.Count(IsAcknowledge) == 0);
}

TEST_CASE("the local endpoint answers bad input with typed errors") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  RunningGateway gateway(context, OptionsFor(dir, broker));
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);

  wire::Envelope submit;
  submit.mutable_submit()->set_partner("france-travail");
  auto unknown = client.Call(submit, kWaitMs);
  REQUIRE(unknown.ok());
  CHECK(StatusOf(*unknown).code() == wire::UNKNOWN_MESSAGE);

  wire::Envelope get_case;
  get_case.mutable_get_case()->set_case_id("PER-7K3M-Q9XD");
  auto missing = client.Call(get_case, kWaitMs);
  REQUIRE(missing.ok());
  CHECK(StatusOf(*missing).code() == wire::UNKNOWN_CASE);

  zmq::socket_t raw(context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(gateway->local_endpoint());
  for (std::string garbage : {std::string("\xff\xff\xff garbage"), std::string()}) {
    raw.send(zmq::buffer(garbage), zmq::send_flags::none);
    zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(zmq::poll(&item, 1, std::chrono::milliseconds(kWaitMs)) == 1);
    zmq::message_t message;
    REQUIRE(raw.recv(message).has_value());
    auto answer = DecodeEnvelope(message.data(), message.size(), SIZE_MAX);
    REQUIRE(answer.ok());
    CHECK(StatusOf(*answer).code() == wire::MALFORMED);
  }
  // Still serving.
  wire::Envelope ping;
  ping.mutable_ping();
  CHECK(client.CallOk(ping, kWaitMs).ok());
}

TEST_CASE(
    "a reply made while the broker is gone is queued locally and forwarded after a "
    "gateway restart") {
  TempDir dir;
  zmq::context_t context;
  auto broker = std::make_unique<FakeBroker>(context);
  const int port = broker->port();
  auto options = OptionsFor(dir, *broker);
  options.forward_timeout_ms = 300;
  {
    RunningGateway gateway(context, options);
    REQUIRE(broker->WaitFor(IsSubscribe).has_value());
    DeliverAndWait(*broker, "PER-7K3M-Q9XD", 1);
    broker.reset();  // the broker goes away

    SyncClient client(context, gateway->local_endpoint(), std::nullopt);
    auto answer = Reply(client, "PER-7K3M-Q9XD", "Rappel prévu lundi.", "reply-key-1");
    REQUIRE(answer.ok());
    REQUIRE_MESSAGE(answer->has_case_updated(), BodyName(*answer));
    CHECK(answer->case_updated().queued_locally());
    CHECK(answer->case_updated().case_id() == "PER-7K3M-Q9XD");
    CHECK(answer->case_updated().state() == wire::DELIVERED);
  }
  broker = std::make_unique<FakeBroker>(context, port);  // back, on the same endpoint
  RunningGateway gateway(context, options);
  auto forwarded = broker->WaitFor(IsReply);
  REQUIRE(forwarded.has_value());
  CHECK(forwarded->reply_case().case_id() == "PER-7K3M-Q9XD");
  CHECK(forwarded->reply_case().text() == "Rappel prévu lundi.");
  CHECK(forwarded->reply_case().idempotency_key() == "reply-key-1");

  // The broker's CaseUpdated reaches the inbox.
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);
  wire::Envelope get_case;
  get_case.mutable_get_case()->set_case_id("PER-7K3M-Q9XD");
  wire::CaseView view;
  for (int64_t deadline = SteadyNowMs() + kWaitMs; SteadyNowMs() < deadline;) {
    auto answer = client.CallOk(get_case, kWaitMs);
    REQUIRE(answer.ok());
    view = answer->case_view();
    if (view.summary().state() == wire::ANSWERED) break;
  }
  CHECK(view.summary().state() == wire::ANSWERED);
  CHECK(view.reply_text() == "Rappel prévu lundi.");
  CHECK(broker->Count(IsReply) == 1);
}

}  // namespace aplus

namespace aplus {

TEST_CASE("a data directory serves one partner only") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  auto options = OptionsFor(dir, broker);
  SystemClock clock;
  REQUIRE(PartnerGateway::Open(context, options, clock).ok());
  options.partner = "msa";
  auto other = PartnerGateway::Open(context, options, clock);
  REQUIRE_FALSE(other.ok());
  CHECK(other.status().code() == wire::UNAVAILABLE);
}

}  // namespace aplus
