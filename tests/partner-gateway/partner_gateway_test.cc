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
#include <thread>
#include <zmq_addon.hpp>

#include "common/sync_client.h"
#include "common/wire.h"
#include "tests/support/child_process.h"

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
  // port 0: a free port no other suite can pick (testing::FreePort; still ours after a restart
  // of this broker on it). Otherwise that port (retrying while the previous owner releases it).
  FakeBroker(zmq::context_t& context, int port = 0) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    int64_t deadline = SteadyNowMs() + kWaitMs;
    while (true) {
      int candidate = port != 0 ? port : testing::FreePort();
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
  // Everything received so far, in arrival order.
  std::vector<wire::Envelope> Received() {
    std::lock_guard lock(mutex_);
    return received_;
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
        case wire::Envelope::kAskInfo:
        case wire::Envelope::kTransferCase:
          if (mutation_error_ != wire::ERROR_UNSPECIFIED) {
            answer = MakeErrorEnvelope(0, Status(mutation_error_, "refused by the fake broker"));
          } else {
            auto* updated = answer.mutable_case_updated();
            switch (request.body_case()) {
              case wire::Envelope::kReplyCase:
                updated->set_case_id(request.reply_case().case_id());
                updated->set_state(wire::ANSWERED);
                break;
              case wire::Envelope::kAskInfo:
                updated->set_case_id(request.ask_info().case_id());
                updated->set_state(wire::INFO_REQUESTED);
                break;
              case wire::Envelope::kTransferCase:
                updated->set_case_id(request.transfer_case().case_id());
                updated->set_state(wire::TRANSFERRED);
                break;
              default:
                updated->set_case_id(request.acknowledge_case().case_id());
                updated->set_state(wire::ACKNOWLEDGED);
            }
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

namespace aplus {
namespace {

constexpr const char* kCaseId = "PER-7K3M-Q9XD";

wire::Delivery AlertFor(const std::string& case_id, wire::Alert::Kind kind, uint64_t delivery_id,
                        uint32_t attempt = 1) {
  wire::Delivery delivery;
  delivery.set_queue(kQueue);
  delivery.set_delivery_id(delivery_id);
  delivery.set_attempt(attempt);
  auto* alert = delivery.mutable_alert();
  alert->set_alert_id(case_id + "/" + wire::Alert::Kind_Name(kind) + "/1");
  alert->set_kind(kind);
  alert->set_case_id(case_id);
  alert->set_partner("france-travail");
  alert->set_territory("perche");
  alert->set_contact_point("mairie-perche-en-noce");
  alert->set_deadline_ms(1714987800123);
  alert->set_raised_at_ms(1714900000000);
  alert->set_text("case " + case_id + " (france-travail): the reply window is about to lapse");
  return delivery;
}

wire::Delivery NoticeFor(const std::string& case_id, const std::string& text,
                         uint64_t delivery_id) {
  wire::Delivery delivery;
  delivery.set_queue(kQueue);
  delivery.set_delivery_id(delivery_id);
  delivery.set_attempt(1);
  auto* mail = delivery.mutable_mail();
  mail->set_case_id(case_id);
  mail->set_kind(wire::MailItem::NOTICE);
  mail->set_partner("france-travail");
  mail->set_text(text);
  mail->set_at_ms(1714950000000);
  mail->set_state(wire::ACKNOWLEDGED);
  return delivery;
}

Result<wire::Envelope> AskInfo(SyncClient& client, const std::string& case_id,
                               const std::string& question) {
  wire::Envelope request;
  request.mutable_ask_info()->set_case_id(case_id);
  request.mutable_ask_info()->set_question(question);
  return client.Call(request, kWaitMs);
}

Result<wire::Envelope> Transfer(SyncClient& client, const std::string& case_id,
                                const std::string& to_partner, const std::string& reason) {
  wire::Envelope request;
  request.mutable_transfer_case()->set_case_id(case_id);
  request.mutable_transfer_case()->set_to_partner(to_partner);
  request.mutable_transfer_case()->set_reason(reason);
  return client.Call(request, kWaitMs);
}

wire::CaseView GetCaseView(SyncClient& client, const std::string& case_id) {
  wire::Envelope request;
  request.mutable_get_case()->set_case_id(case_id);
  auto answer = client.CallOk(request, kWaitMs);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  REQUIRE(answer->has_case_view());
  return answer->case_view();
}

int CountEvents(const wire::CaseView& view, const std::string& kind) {
  int count = 0;
  for (const auto& event : view.timeline()) count += event.kind() == kind ? 1 : 0;
  return count;
}

bool IsAsk(const wire::Envelope& envelope) { return envelope.has_ask_info(); }
bool IsTransfer(const wire::Envelope& envelope) { return envelope.has_transfer_case(); }

}  // namespace

TEST_CASE(
    "a question is forwarded; alerts and the contact point's answer are stored (and "
    "spooled) before they are acked; unknown deliveries are not acked") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  auto options = OptionsFor(dir, broker);
  options.spool_dir = dir.Sub("spool");
  const std::string alert_file = options.spool_dir + "/" + kCaseId + ".alert-warning.json";
  std::atomic<bool> spooled_at_ack{false};
  broker.SetObserver([&](const wire::Envelope& envelope) {
    if (IsAckOf(2)(envelope)) spooled_at_ack = std::filesystem::exists(alert_file);
  });
  const std::string question = "Pouvez-vous joindre l'attestation employeur ?";
  {
    RunningGateway gateway(context, options);
    REQUIRE(broker.WaitFor(IsSubscribe).has_value());
    DeliverAndWait(broker, kCaseId, 1);
    SyncClient client(context, gateway->local_endpoint(), std::nullopt);

    auto asked = AskInfo(client, kCaseId, question);
    REQUIRE(asked.ok());
    REQUIRE_MESSAGE(asked->has_case_updated(), BodyName(*asked));
    CHECK(asked->case_updated().state() == wire::INFO_REQUESTED);
    CHECK_FALSE(asked->case_updated().queued_locally());
    auto forwarded = broker.WaitFor(IsAsk);
    REQUIRE(forwarded.has_value());
    CHECK(forwarded->ask_info().case_id() == kCaseId);
    CHECK(forwarded->ask_info().question() == question);
    CHECK_FALSE(forwarded->ask_info().idempotency_key().empty());
    wire::CaseView view = GetCaseView(client, kCaseId);
    CHECK(view.summary().state() == wire::INFO_REQUESTED);
    CHECK(view.question() == question);
    CHECK(GetInbox(client).states(0) == wire::INFO_REQUESTED);

    broker.Push(AlertFor(kCaseId, wire::Alert::WARNING, 2));
    REQUIRE(broker.WaitFor(IsAckOf(2)).has_value());
    CHECK(spooled_at_ack.load());
    broker.Push(NoticeFor(kCaseId, "Attestation envoyée par courrier.", 3));
    REQUIRE(broker.WaitFor(IsAckOf(3)).has_value());
    // Redeliveries (our acks were lost) are acked again and applied once.
    broker.Push(AlertFor(kCaseId, wire::Alert::WARNING, 2, 2));
    broker.Push(NoticeFor(kCaseId, "Attestation envoyée par courrier.", 3));
    // Not for a partner: a REPLY mail item, an empty delivery.
    wire::Delivery reply_mail = NoticeFor(kCaseId, "x", 4);
    reply_mail.mutable_mail()->set_kind(wire::MailItem::REPLY);
    broker.Push(reply_mail);
    wire::Delivery empty;
    empty.set_queue(kQueue);
    empty.set_delivery_id(5);
    broker.Push(empty);
    broker.Push(AlertFor(kCaseId, wire::Alert::BREACH, 6));
    REQUIRE(broker.WaitFor(IsAckOf(6)).has_value());
    CHECK(broker.Count(IsAckOf(2)) == 2);
    CHECK(broker.Count(IsAckOf(3)) == 2);
    CHECK(broker.Count(IsAckOf(4)) == 0);
    CHECK(broker.Count(IsAckOf(5)) == 0);
    CHECK(gateway->counters().notices_stored.load() == 3);

    std::ifstream file(alert_file);
    auto json = nlohmann::json::parse(file);
    CHECK(json["kind"] == "warning");
    CHECK(json["case_id"] == kCaseId);
    CHECK(json["deadline"] == "2024-05-06T09:30:00.123Z");
    CHECK(json["alert_id"] == std::string(kCaseId) + "/WARNING/1");
    CHECK(std::filesystem::exists(options.spool_dir + "/" + kCaseId + ".alert-breach.json"));
  }
  // Durable: what was acked is there after a restart.
  RunningGateway gateway(context, options);
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);
  wire::CaseView view = GetCaseView(client, kCaseId);
  CHECK(view.summary().state() == wire::ACKNOWLEDGED);  // the answer restarted the clock
  CHECK(view.question().empty());
  CHECK(view.summary().warned());
  CHECK(view.summary().breached());
  CHECK(CountEvents(view, "SLA_WARNING") == 1);
  CHECK(CountEvents(view, "SLA_BREACH") == 1);
  REQUIRE(CountEvents(view, "INFO_ANSWERED") == 1);
  for (const auto& event : view.timeline()) {
    if (event.kind() == "INFO_ANSWERED") {
      CHECK(event.detail() == "Attestation envoyée par courrier.");
      CHECK(event.actor() == "mairie-perche-en-noce");
    }
  }
  for (int i = 0; i < view.timeline_size(); ++i) {
    CHECK(view.timeline(i).sequence() == static_cast<uint32_t>(i));
  }
  CHECK(GetInbox(client).states(0) == wire::ACKNOWLEDGED);
}

TEST_CASE("AskInfo and TransferCase the gateway can refuse never reach the broker") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  RunningGateway gateway(context, OptionsFor(dir, broker));
  REQUIRE(broker.WaitFor(IsSubscribe).has_value());
  DeliverAndWait(broker, kCaseId, 1);
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);

  auto code = [](const Result<wire::Envelope>& answer) {
    REQUIRE(answer.ok());
    return StatusOf(*answer).code();
  };
  CHECK(code(AskInfo(client, "PER-AAAA-BBBB", "question")) == wire::UNKNOWN_CASE);
  CHECK(code(AskInfo(client, kCaseId, " \n")) == wire::INVALID_ARGUMENT);
  CHECK(code(Transfer(client, "PER-AAAA-BBBB", "msa", "raison")) == wire::UNKNOWN_CASE);
  CHECK(code(Transfer(client, kCaseId, "", "raison")) == wire::INVALID_ARGUMENT);
  CHECK(code(Transfer(client, kCaseId, "msa", "")) == wire::INVALID_ARGUMENT);
  CHECK(code(Transfer(client, kCaseId, "france-travail", "raison")) == wire::INVALID_ARGUMENT);

  wire::Envelope ping;
  ping.mutable_ping();
  REQUIRE(client.CallOk(ping, kWaitMs).ok());
  CHECK(broker.Count(IsAsk) == 0);
  CHECK(broker.Count(IsTransfer) == 0);
}

TEST_CASE(
    "acknowledge, question and transfer are forwarded in order; a transfer erases the case's "
    "content here, and a transfer back brings it again") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  auto options = OptionsFor(dir, broker);
  options.forward_timeout_ms = 300;
  options.spool_dir = dir.Sub("spool");
  const std::string spool_file = options.spool_dir + "/" + kCaseId + ".json";
  RunningGateway gateway(context, options);
  REQUIRE(broker.WaitFor(IsSubscribe).has_value());
  DeliverAndWait(broker, kCaseId, 1);
  REQUIRE(std::filesystem::exists(spool_file));
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);

  // The broker cannot take them now: all three wait in the outbox.
  broker.SetMutationError(wire::UNAVAILABLE);
  for (auto answer : {Acknowledge(client, kCaseId), AskInfo(client, kCaseId, "Adresse ?"),
                      Transfer(client, kCaseId, "msa", "relève du régime agricole")}) {
    REQUIRE(answer.ok());
    REQUIRE_MESSAGE(answer->has_case_updated(), BodyName(*answer));
    CHECK(answer->case_updated().queued_locally());
    CHECK(answer->case_updated().case_id() == kCaseId);
  }
  broker.SetMutationError(wire::ERROR_UNSPECIFIED);
  auto transfer = broker.WaitFor(IsTransfer);
  REQUIRE(transfer.has_value());
  CHECK(transfer->transfer_case().to_partner() == "msa");
  CHECK(transfer->transfer_case().reason() == "relève du régime agricole");
  CHECK_FALSE(transfer->transfer_case().idempotency_key().empty());
  // In order: every acknowledgement before the first question, every question before the
  // transfer (retries repeat the head only).
  std::vector<std::string> order;
  for (const auto& envelope : broker.Received()) {
    std::string kind = envelope.has_acknowledge_case() ? "ack"
                       : envelope.has_ask_info()       ? "ask"
                       : envelope.has_transfer_case()  ? "transfer"
                                                       : "";
    if (!kind.empty() && (order.empty() || order.back() != kind)) order.push_back(kind);
  }
  CHECK(order == std::vector<std::string>{"ack", "ask", "transfer"});

  wire::CaseView view;
  for (int64_t deadline = SteadyNowMs() + kWaitMs; SteadyNowMs() < deadline;) {
    view = GetCaseView(client, kCaseId);
    if (view.summary().state() == wire::TRANSFERRED) break;
  }
  REQUIRE(view.summary().state() == wire::TRANSFERRED);
  // Ids and dates stay; nothing a person wrote does.
  CHECK(view.summary().case_id() == kCaseId);
  CHECK(view.summary().partner() == "msa");
  CHECK(view.summary().transferred_from() == "france-travail");
  CHECK(view.summary().contact_point() == "mairie-perche-en-noce");
  CHECK(view.summary().submitted_at_ms() == 1714642200000);
  CHECK(view.summary().deadline_ms() == 1714987800123);
  CHECK(view.summary().subject().empty());
  CHECK(view.body().empty());
  CHECK(view.citizen_name().empty());
  CHECK(view.question().empty());
  CHECK(view.SerializeAsString().find("Adresse") == std::string::npos);
  CHECK(view.SerializeAsString().find("Martin") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(spool_file));
  wire::Inbox inbox = GetInbox(client);
  REQUIRE(inbox.escalations_size() == 1);
  CHECK(inbox.states(0) == wire::TRANSFERRED);
  CHECK(inbox.escalations(0).body().empty());

  // The case is another partner's now: refused here.
  auto late = Reply(client, kCaseId, "trop tard");
  REQUIRE(late.ok());
  CHECK(StatusOf(*late).code() == wire::UNKNOWN_CASE);
  CHECK(broker.Count(IsReply) == 0);

  // A late redelivery naming the new partner is acked without bringing the content back.
  wire::Delivery stale = MakeDelivery(kCaseId, 2, 2);
  stale.mutable_escalation()->set_partner("msa");
  broker.Push(stale);
  REQUIRE(broker.WaitFor(IsAckOf(2)).has_value());
  CHECK(GetCaseView(client, kCaseId).body().empty());

  // MSA sends it back: it arrives again, whole, and is listed once.
  DeliverAndWait(broker, kCaseId, 3);
  view = GetCaseView(client, kCaseId);
  CHECK(view.summary().state() == wire::DELIVERED);
  CHECK(view.summary().partner() == "france-travail");
  CHECK(view.citizen_name() == "Jeanne Martin");
  CHECK(CountEvents(view, "TRANSFERRED") == 1);
  CHECK(std::filesystem::exists(spool_file));
  inbox = GetInbox(client);
  REQUIRE(inbox.escalations_size() == 1);
  CHECK(inbox.states(0) == wire::DELIVERED);
}

}  // namespace aplus

namespace aplus {
namespace {

wire::Envelope LocalEntryRequest(const std::string& ref, bool retry) {
  wire::Envelope request;
  if (retry) {
    request.mutable_retry_local()->set_local_ref(ref);
  } else {
    request.mutable_discard_local()->set_local_ref(ref);
  }
  return request;
}

// Polls GetInbox until its outbox satisfies `done`.
wire::Inbox WaitForOutbox(SyncClient& client, const std::function<bool(const wire::Inbox&)>& done) {
  wire::Inbox inbox;
  for (int64_t deadline = SteadyNowMs() + kWaitMs; SteadyNowMs() < deadline;) {
    inbox = GetInbox(client);
    if (done(inbox)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return inbox;
}

}  // namespace

TEST_CASE("partner outbox: RATE_LIMITED keeps the request; a permanent refusal after the client "
          "left is set aside with a local ref, shown in the inbox, then retried or discarded" *
          doctest::timeout(60)) {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  auto options = OptionsFor(dir, broker);
  options.forward_timeout_ms = 200;
  RunningGateway gateway(context, options);
  REQUIRE(broker.WaitFor(IsSubscribe).has_value());
  DeliverAndWait(broker, "PER-7K3M-Q9XD", 1);
  DeliverAndWait(broker, "PER-8A2B-C3DE", 2);
  SyncClient client(context, gateway->local_endpoint(), std::nullopt);

  // A transient refusal (finding 2): before the fix, RATE_LIMITED was final and the
  // acknowledgement left the outbox.
  broker.SetMutationError(wire::RATE_LIMITED);
  auto queued = Acknowledge(client, "PER-7K3M-Q9XD");
  REQUIRE(queued.ok());
  CHECK(queued->case_updated().queued_locally());
  REQUIRE(broker.WaitFor(IsAcknowledge, 1).has_value());  // sent again
  auto inbox = GetInbox(client);
  REQUIRE(inbox.outbox_size() == 1);
  CHECK(inbox.outbox(0).state() == wire::QUEUED_LOCALLY);
  CHECK(inbox.outbox(0).local_ref() == "LOC-1");
  CHECK(inbox.outbox(0).request() == "AcknowledgeCase");

  // Now a permanent refusal: the client is gone (it was told queued_locally), so the entry is
  // set aside and the next request is not blocked behind it.
  broker.SetMutationError(wire::INVALID_TRANSITION);
  inbox = WaitForOutbox(client, [](const wire::Inbox& inbox) {
    return inbox.outbox_size() == 1 && inbox.outbox(0).state() == wire::FAILED_LOCALLY;
  });
  REQUIRE(inbox.outbox_size() == 1);
  CHECK(inbox.outbox(0).state() == wire::FAILED_LOCALLY);
  CHECK(inbox.outbox(0).error().code() == wire::INVALID_TRANSITION);
  CHECK(inbox.outbox(0).case_id() == "PER-7K3M-Q9XD");
  broker.SetMutationError(wire::ERROR_UNSPECIFIED);
  auto other = Acknowledge(client, "PER-8A2B-C3DE");
  REQUIRE(other.ok());
  REQUIRE(other->has_case_updated());
  CHECK_FALSE(other->case_updated().queued_locally());  // answered by the broker itself

  // Unknown ref, and discard of an entry in line: typed errors.
  auto unknown = client.Call(LocalEntryRequest("LOC-42", true), kWaitMs);
  REQUIRE(unknown.ok());
  CHECK(StatusOf(*unknown).code() == wire::UNKNOWN_CASE);

  // Retry: sent again with its idempotency key, accepted, gone from the outbox.
  int acks_before = broker.Count(IsAcknowledge);
  auto retried = client.Call(LocalEntryRequest("LOC-1", true), kWaitMs);
  REQUIRE(retried.ok());
  REQUIRE(retried->has_local_entry());
  CHECK(retried->local_entry().state() == wire::QUEUED_LOCALLY);
  inbox = WaitForOutbox(client, [](const wire::Inbox& inbox) { return inbox.outbox_size() == 0; });
  CHECK(inbox.outbox_size() == 0);
  CHECK(broker.Count(IsAcknowledge) > acks_before);

  // Discard: a reply refused for good, then dropped.
  broker.SetMutationError(wire::RATE_LIMITED);
  auto reply = Reply(client, "PER-8A2B-C3DE", "Dossier régularisé");
  REQUIRE(reply.ok());
  CHECK(reply->case_updated().queued_locally());  // the client goes away
  broker.SetMutationError(wire::INVALID_TRANSITION);
  inbox = WaitForOutbox(client, [](const wire::Inbox& inbox) {
    return inbox.outbox_size() == 1 && inbox.outbox(0).state() == wire::FAILED_LOCALLY;
  });
  REQUIRE(inbox.outbox_size() == 1);
  const std::string ref = inbox.outbox(0).local_ref();
  auto discarded = client.Call(LocalEntryRequest(ref, false), kWaitMs);
  REQUIRE(discarded.ok());
  REQUIRE(discarded->has_local_entry());
  CHECK(discarded->local_entry().state() == wire::STATE_UNSPECIFIED);
  CHECK(GetInbox(client).outbox_size() == 0);
}

// The local-ref counter is kept in memory and written with each outbox entry (one write per
// request): the refs of the entries held across a restart are never handed out again.
TEST_CASE("partner outbox: local refs go on after a restart, never reused" *
          doctest::timeout(60)) {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  auto options = OptionsFor(dir, broker);
  options.forward_timeout_ms = 200;
  broker.SetMutationError(wire::RATE_LIMITED);  // everything stays in the outbox
  {
    RunningGateway gateway(context, options);
    REQUIRE(broker.WaitFor(IsSubscribe).has_value());
    DeliverAndWait(broker, "PER-7K3M-Q9XD", 1);
    DeliverAndWait(broker, "PER-8A2B-C3DE", 2);
    SyncClient client(context, gateway->local_endpoint(), std::nullopt);
    REQUIRE(Acknowledge(client, "PER-7K3M-Q9XD").ok());
    REQUIRE(Acknowledge(client, "PER-8A2B-C3DE").ok());
    auto inbox = GetInbox(client);
    REQUIRE(inbox.outbox_size() == 2);
    CHECK(inbox.outbox(0).local_ref() == "LOC-1");
    CHECK(inbox.outbox(1).local_ref() == "LOC-2");
  }
  RunningGateway restarted(context, options);
  SyncClient client(context, restarted->local_endpoint(), std::nullopt);
  auto replied = Reply(client, "PER-7K3M-Q9XD", "Dossier traité.");
  REQUIRE(replied.ok());
  REQUIRE(replied->has_case_updated());
  CHECK(replied->case_updated().queued_locally());
  auto inbox = GetInbox(client);
  REQUIRE(inbox.outbox_size() == 3);
  CHECK(inbox.outbox(0).local_ref() == "LOC-1");
  CHECK(inbox.outbox(1).local_ref() == "LOC-2");
  CHECK(inbox.outbox(2).local_ref() == "LOC-3");
}

}  // namespace aplus
