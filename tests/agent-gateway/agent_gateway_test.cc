// Component tests of the agent gateway: an AgentGateway runs in-process on its own thread,
// driven over its real local endpoint by SyncClient; the broker is either absent or a fake
// ROUTER in this file that speaks just enough of the protocol.
#include "agent-gateway/agent_gateway.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "agent-gateway/local_case_cache.h"
#include "common/clock.h"
#include "common/network_config.h"
#include "common/sync_client.h"
#include "common/wire.h"
#include "store/outbox.h"
#include "store/rocks_db.h"

namespace aplus {
namespace {

constexpr const char* kContactPoint = "mairie-test";
constexpr const char* kNobodyListens = "tcp://127.0.0.1:1";  // privileged port, never ours
constexpr int kClientTimeoutMs = 5000;

class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("aplus-agent-gateway-test-" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// An AgentGateway serving on a thread of its own until destroyed.
class RunningGateway {
 public:
  RunningGateway(const std::string& data_dir, const std::string& broker, int forward_timeout_ms) {
    AgentGatewayOptions options;
    options.contact_point = kContactPoint;
    options.listen_endpoint = "tcp://127.0.0.1:*";
    options.broker_endpoint = broker;
    options.data_dir = data_dir;
    options.forward_timeout_ms = forward_timeout_ms;
    options.outbox_request_timeout_ms = 2000;
    options.outbox_retry_ms = 100;
    auto gateway = AgentGateway::Open(options, config_);
    REQUIRE_MESSAGE(gateway.ok(), gateway.status().ToString());
    gateway_ = std::move(gateway).value();
    endpoint_ = gateway_->bound_endpoint();
    thread_ = std::thread([this] { gateway_->Run(stop_); });
  }
  ~RunningGateway() {
    stop_.store(true);
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  NetworkConfig config_;
  std::unique_ptr<AgentGateway> gateway_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Just enough broker: Welcome, Subscribed, Pong, Accepted, CaseUpdated, CaseView; records
// what it received. While offline it swallows everything, as an unreachable broker would.
class FakeBroker {
 public:
  struct Seen {
    std::vector<wire::Envelope> requests;  // submits, closes, cancels, answers, in arrival order
    std::vector<uint64_t> acked;
    bool subscribed = false;
    int refused = 0;
  };

  explicit FakeBroker(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeBroker() {
    stop_.store(true);
    thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }
  void SetOnline(bool online) { online_.store(online); }
  // Refuses the requests for which `refuse` returns an error (recorded in seen() all the same).
  void SetRefusal(std::function<Status(const wire::Envelope&)> refuse) {
    std::lock_guard lock(mutex_);
    refuse_ = std::move(refuse);
  }
  void Push(const wire::Delivery& delivery) {
    std::lock_guard lock(mutex_);
    outgoing_.push_back(delivery);
  }
  // Waits until `done(seen)` holds; false after `timeout_ms`.
  bool WaitFor(const std::function<bool(const Seen&)>& done, int timeout_ms = kClientTimeoutMs) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                             [&] { return done(seen_); });
  }
  Seen seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  void Loop() {
    while (!stop_.load()) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (item.revents & ZMQ_POLLIN) {
        std::vector<zmq::message_t> frames;
        if (zmq::recv_multipart(socket_, std::back_inserter(frames)) && frames.size() == 2 &&
            online_.load()) {
          auto request = DecodeEnvelope(frames[1].data(), frames[1].size(), kDefaultMaxFrameBytes);
          if (request.ok()) Handle(frames[0].to_string(), *request);
        }
      }
      std::vector<wire::Delivery> outgoing;
      {
        std::lock_guard lock(mutex_);
        if (!online_.load() || peer_.empty()) continue;
        outgoing.swap(outgoing_);
      }
      for (const auto& delivery : outgoing) {
        wire::Envelope push;
        *push.mutable_delivery() = delivery;
        Send(peer_, push);
      }
    }
  }

  void Handle(const std::string& peer, const wire::Envelope& request) {
    wire::Envelope answer;
    answer.set_request_id(request.request_id());
    std::lock_guard lock(mutex_);
    if (refuse_ && (request.has_submit() || request.has_close_case() ||
                    request.has_cancel_case() || request.has_answer_info())) {
      Status refusal = refuse_(request);
      if (!refusal.ok()) {
        seen_.requests.push_back(request);
        ++seen_.refused;
        changed_.notify_all();
        Send(peer, MakeErrorEnvelope(request.request_id(), refusal));
        return;
      }
    }
    switch (request.body_case()) {
      case wire::Envelope::kHello:
        answer.mutable_welcome()->set_broker_id("fake");
        break;
      case wire::Envelope::kSubscribe:
        answer.mutable_subscribed()->add_queues(MailboxQueueName());
        peer_ = peer;
        seen_.subscribed = true;
        break;
      case wire::Envelope::kPing:
        answer.mutable_pong();
        break;
      case wire::Envelope::kSubmit: {
        seen_.requests.push_back(request);
        auto* accepted = answer.mutable_accepted();
        accepted->set_case_id("PER-TEST-000" + std::to_string(++cases_));
        accepted->set_state(wire::SUBMITTED);
        accepted->set_deadline_ms(1'900'000'000'000);
        break;
      }
      case wire::Envelope::kCloseCase:
      case wire::Envelope::kCancelCase: {
        seen_.requests.push_back(request);
        auto* updated = answer.mutable_case_updated();
        updated->set_case_id(request.has_close_case() ? request.close_case().case_id()
                                                      : request.cancel_case().case_id());
        updated->set_state(request.has_close_case() ? wire::CLOSED : wire::CANCELLED);
        break;
      }
      case wire::Envelope::kAnswerInfo: {
        seen_.requests.push_back(request);
        if (request.answer_info().case_id() == "PER-NOT-MINE") {
          answer = MakeErrorEnvelope(request.request_id(), Status(wire::UNKNOWN_CASE, "fake"));
          break;
        }
        auto* updated = answer.mutable_case_updated();
        updated->set_case_id(request.answer_info().case_id());
        updated->set_state(wire::ACKNOWLEDGED);
        break;
      }
      case wire::Envelope::kListCases:
        answer.mutable_case_list();  // the broker knows no case: the outbox's show up
        break;
      case wire::Envelope::kGetCase: {
        auto* summary = answer.mutable_case_view()->mutable_summary();
        summary->set_case_id(request.get_case().case_id());
        summary->set_state(wire::SUBMITTED);
        summary->set_contact_point(kContactPoint);
        break;
      }
      case wire::Envelope::kDeliveryAck:
        for (auto id : request.delivery_ack().delivery_ids()) seen_.acked.push_back(id);
        changed_.notify_all();
        return;  // no answer
      default:
        *answer.mutable_error() =
            MakeErrorEnvelope(0, Status(wire::UNKNOWN_MESSAGE, "fake")).error();
    }
    changed_.notify_all();
    Send(peer, answer);
  }

  void Send(const std::string& peer, const wire::Envelope& envelope) {
    socket_.send(zmq::buffer(peer), zmq::send_flags::sndmore);
    socket_.send(EncodeEnvelope(envelope), zmq::send_flags::none);
  }

  static std::string MailboxQueueName() { return std::string("mailbox/") + kContactPoint; }

  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> online_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  Seen seen_;                             // guarded by mutex_
  std::vector<wire::Delivery> outgoing_;  // guarded by mutex_
  std::string peer_;                      // set under mutex_, read by the loop thread
  std::function<Status(const wire::Envelope&)> refuse_;  // guarded by mutex_
  int cases_ = 0;
  std::thread thread_;
};

wire::Envelope SubmitRequest(const std::string& subject) {
  wire::Envelope request;
  auto* submit = request.mutable_submit();
  submit->set_agent("agent-test-1");
  submit->set_partner("caf");
  submit->set_category("family-benefits");
  submit->set_subject(subject);
  submit->set_body("Le dossier est bloqué depuis trois semaines.");
  submit->set_mandate_reference("MANDAT-2026-0042");
  return request;
}

wire::Envelope GetCaseRequest(const std::string& id) {
  wire::Envelope request;
  request.mutable_get_case()->set_case_id(id);
  return request;
}

wire::Envelope MustCall(SyncClient& client, wire::Envelope request) {
  auto answer = client.Call(std::move(request), kClientTimeoutMs);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  return std::move(answer).value();
}

TEST_CASE("a submission is queued locally while the broker is unreachable and survives a restart") {
  TempDir dir;
  zmq::context_t context;
  {
    RunningGateway gateway(dir.path(), kNobodyListens, /*forward_timeout_ms=*/300);
    SyncClient client(context, gateway.endpoint(), std::nullopt);

    int64_t started = SteadyNowMs();
    auto answer = MustCall(client, SubmitRequest("Allocations suspendues"));
    REQUIRE(answer.has_accepted());
    CHECK(answer.accepted().state() == wire::QUEUED_LOCALLY);
    CHECK(answer.accepted().local_ref() == "LOC-1");
    CHECK(answer.accepted().case_id().empty());
    CHECK(SteadyNowMs() - started < kClientTimeoutMs);

    auto view = MustCall(client, GetCaseRequest("LOC-1"));
    REQUIRE(view.has_case_view());
    CHECK(view.case_view().summary().state() == wire::QUEUED_LOCALLY);
    CHECK(view.case_view().summary().local_ref() == "LOC-1");
    CHECK(view.case_view().summary().subject() == "Allocations suspendues");
    CHECK(view.case_view().from_local_cache());

    wire::Envelope list_request;
    list_request.mutable_list_cases();
    auto list = MustCall(client, list_request);
    REQUIRE(list.has_case_list());
    REQUIRE(list.case_list().cases_size() == 1);
    CHECK(list.case_list().cases(0).local_ref() == "LOC-1");

    auto unknown = MustCall(client, GetCaseRequest("LOC-99"));
    REQUIRE(unknown.has_error());
    CHECK(unknown.error().code() == wire::UNKNOWN_CASE);

    auto not_known_here = MustCall(client, GetCaseRequest("PER-TEST-0042"));
    REQUIRE(not_known_here.has_error());
    CHECK(not_known_here.error().code() == wire::UNREACHABLE);

    wire::Envelope close;
    close.mutable_close_case()->set_case_id("LOC-1");
    auto closed = MustCall(client, close);
    REQUIRE(closed.has_case_updated());
    CHECK(closed.case_updated().queued_locally());
  }

  {
    // What was accepted is on disk: the Submit and the Close, in order, with generated keys.
    auto db = RocksDb::Open(dir.path(), AgentGatewayFamilies());
    REQUIRE(db.ok());
    Outbox outbox(**db);
    auto listed = outbox.All();
    REQUIRE(listed.ok());
    auto& entries = *listed;
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].second.local_ref() == "LOC-1");
    CHECK(entries[0].second.request().submit().idempotency_key().size() == 32);
    CHECK(entries[1].second.request().close_case().case_id() == "LOC-1");
    CHECK_FALSE(entries[1].second.request().close_case().idempotency_key().empty());
  }

  RunningGateway restarted(dir.path(), kNobodyListens, /*forward_timeout_ms=*/300);
  SyncClient client(context, restarted.endpoint(), std::nullopt);
  auto view = MustCall(client, GetCaseRequest("LOC-1"));
  REQUIRE(view.has_case_view());
  CHECK(view.case_view().summary().state() == wire::QUEUED_LOCALLY);
  auto again = MustCall(client, SubmitRequest("Deuxième dossier"));
  REQUIRE(again.has_accepted());
  CHECK(again.accepted().local_ref() == "LOC-3");  // refs are never reused
}

TEST_CASE("local endpoint answers bad input with typed errors") {
  TempDir dir;
  zmq::context_t context;
  RunningGateway gateway(dir.path(), kNobodyListens, /*forward_timeout_ms=*/300);
  SyncClient client(context, gateway.endpoint(), std::nullopt);

  wire::Envelope ping;
  ping.mutable_ping();
  CHECK(MustCall(client, ping).has_pong());

  wire::Envelope stats;
  stats.mutable_get_stats();
  auto unknown = MustCall(client, stats);
  REQUIRE(unknown.has_error());
  CHECK(unknown.error().code() == wire::UNKNOWN_MESSAGE);

  wire::Envelope incomplete = SubmitRequest("x");
  incomplete.mutable_submit()->clear_partner();
  auto invalid = MustCall(client, incomplete);
  REQUIRE(invalid.has_error());
  CHECK(invalid.error().code() == wire::INVALID_ARGUMENT);

  auto no_body = MustCall(client, wire::Envelope());
  REQUIRE(no_body.has_error());
  CHECK(no_body.error().code() == wire::MALFORMED);

  zmq::socket_t raw(context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(gateway.endpoint());
  raw.send(zmq::str_buffer("\xff\xff\xff\xff garbage"), zmq::send_flags::none);
  zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(kClientTimeoutMs));
  REQUIRE((item.revents & ZMQ_POLLIN) != 0);
  zmq::message_t reply;
  REQUIRE(raw.recv(reply, zmq::recv_flags::dontwait));
  auto decoded = DecodeEnvelope(reply.data(), reply.size(), kDefaultMaxFrameBytes);
  REQUIRE(decoded.ok());
  REQUIRE(decoded->has_error());
  CHECK(decoded->error().code() == wire::MALFORMED);

  // The gateway is still serving.
  CHECK(MustCall(client, ping).has_pong());
}

TEST_CASE("queued requests reach the broker in order once it appears; mail is stored, then acked") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  {
    RunningGateway gateway(dir.path(), broker.endpoint(), /*forward_timeout_ms=*/1000);
    SyncClient client(context, gateway.endpoint(), std::nullopt);

    auto queued = MustCall(client, SubmitRequest("Pension de réversion"));
    REQUIRE(queued.has_accepted());
    CHECK(queued.accepted().state() == wire::QUEUED_LOCALLY);
    CHECK(queued.accepted().local_ref() == "LOC-1");
    wire::Envelope cancel;
    cancel.mutable_cancel_case()->set_case_id("LOC-1");
    cancel.mutable_cancel_case()->set_reason("test");
    auto cancelled = MustCall(client, cancel);
    REQUIRE(cancelled.has_case_updated());
    CHECK(cancelled.case_updated().queued_locally());

    broker.SetOnline(true);
    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return seen.requests.size() == 2; }));
    auto seen = broker.seen();
    REQUIRE(seen.requests[0].has_submit());
    CHECK(seen.requests[0].submit().subject() == "Pension de réversion");
    CHECK(seen.requests[0].submit().idempotency_key().size() == 32);
    REQUIRE(seen.requests[1].has_cancel_case());
    // The local ref was replaced by the case id the broker gave the submission.
    CHECK(seen.requests[1].cancel_case().case_id() == "PER-TEST-0001");

    // The answer is recorded under the local ref (poll: the gateway records it asynchronously).
    wire::Envelope resolved;
    int64_t deadline = SteadyNowMs() + kClientTimeoutMs;
    do {
      resolved = MustCall(client, GetCaseRequest("LOC-1"));
      REQUIRE(resolved.has_case_view());
    } while (resolved.case_view().summary().case_id().empty() && SteadyNowMs() < deadline);
    CHECK(resolved.case_view().summary().case_id() == "PER-TEST-0001");
    CHECK(resolved.case_view().summary().local_ref() == "LOC-1");
    CHECK_FALSE(resolved.case_view().from_local_cache());

    // With the broker up, a submission is answered by the broker itself.
    auto direct = MustCall(client, SubmitRequest("Carte vitale"));
    REQUIRE(direct.has_accepted());
    CHECK(direct.accepted().case_id() == "PER-TEST-0002");
    CHECK(direct.accepted().state() == wire::SUBMITTED);
    CHECK(direct.accepted().local_ref() == "LOC-3");

    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return seen.subscribed; }));
    wire::Delivery delivery;
    delivery.set_queue(std::string("mailbox/") + kContactPoint);
    delivery.set_delivery_id(7);
    delivery.set_attempt(1);
    auto* mail = delivery.mutable_mail();
    mail->set_case_id("PER-TEST-0001");
    mail->set_kind(wire::MailItem::REPLY);
    mail->set_partner("caf");
    mail->set_text("Votre dossier est complet.");
    mail->set_state(wire::ANSWERED);
    broker.Push(delivery);
    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return seen.acked.size() == 1; }));
    CHECK(broker.seen().acked[0] == 7);

    // A redelivery (the ack was lost) is acknowledged again but not stored twice.
    delivery.set_attempt(2);
    broker.Push(delivery);
    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return seen.acked.size() == 2; }));

    // The broker goes silent: the case is answered from what the gateway stored.
    broker.SetOnline(false);
    auto cached = MustCall(client, GetCaseRequest("LOC-1"));
    REQUIRE(cached.has_case_view());
    CHECK(cached.case_view().from_local_cache());
    CHECK(cached.case_view().summary().case_id() == "PER-TEST-0001");
    CHECK(cached.case_view().summary().state() == wire::ANSWERED);
    CHECK(cached.case_view().reply_text() == "Votre dossier est complet.");
  }

  auto db = RocksDb::Open(dir.path(), AgentGatewayFamilies());
  REQUIRE(db.ok());
  CHECK(Outbox(**db).size() == 0);
  SystemClock clock;
  LocalCaseCache cache(**db, clock);
  auto mailbox = cache.Mailbox("PER-TEST-0001");
  REQUIRE(mailbox.size() == 1);
  CHECK(mailbox[0].delivery_id() == 7);
  CHECK(mailbox[0].mail().text() == "Votre dossier est complet.");
}

wire::Delivery MailboxDelivery(uint64_t delivery_id) {
  wire::Delivery delivery;
  delivery.set_queue(std::string("mailbox/") + kContactPoint);
  delivery.set_delivery_id(delivery_id);
  delivery.set_attempt(1);
  return delivery;
}

wire::Delivery MailDelivery(uint64_t delivery_id, const std::string& case_id,
                            wire::MailItem::Kind kind, const std::string& partner,
                            const std::string& text, wire::CaseState state) {
  wire::Delivery delivery = MailboxDelivery(delivery_id);
  auto* mail = delivery.mutable_mail();
  mail->set_case_id(case_id);
  mail->set_kind(kind);
  mail->set_partner(partner);
  mail->set_text(text);
  mail->set_at_ms(1'800'000'000'000 + static_cast<int64_t>(delivery_id));
  mail->set_state(state);
  return delivery;
}

wire::Delivery AlertDelivery(uint64_t delivery_id, const std::string& case_id,
                             wire::Alert::Kind kind) {
  wire::Delivery delivery = MailboxDelivery(delivery_id);
  auto* alert = delivery.mutable_alert();
  alert->set_alert_id(case_id + "/" + wire::Alert::Kind_Name(kind) + "/1");
  alert->set_kind(kind);
  alert->set_case_id(case_id);
  alert->set_partner("caf");
  alert->set_contact_point(kContactPoint);
  alert->set_deadline_ms(1'900'000'500'000);
  alert->set_raised_at_ms(1'800'000'000'100);
  alert->set_text("case " + case_id + " (caf): the reply window is about to lapse");
  return delivery;
}

bool Acked(const FakeBroker::Seen& seen, uint64_t delivery_id) {
  return std::find(seen.acked.begin(), seen.acked.end(), delivery_id) != seen.acked.end();
}

wire::Envelope AnswerInfoRequest(const std::string& case_id, const std::string& text) {
  wire::Envelope request;
  request.mutable_answer_info()->set_case_id(case_id);
  request.mutable_answer_info()->set_text(text);
  return request;
}

int CountEvents(const wire::CaseView& view, const std::string& kind) {
  int count = 0;
  for (const auto& event : view.timeline()) count += event.kind() == kind ? 1 : 0;
  return count;
}

TEST_CASE(
    "SLA alerts and questions are stored, acked and shown by the local cache; AnswerInfo goes "
    "through the outbox in order") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  broker.SetOnline(true);
  const std::string question = "Quel est le numéro d'allocataire ?";
  {
    RunningGateway gateway(dir.path(), broker.endpoint(), /*forward_timeout_ms=*/800);
    SyncClient client(context, gateway.endpoint(), std::nullopt);
    auto accepted = MustCall(client, SubmitRequest("Prime d'activité"));
    REQUIRE(accepted.has_accepted());
    const std::string case_id = accepted.accepted().case_id();
    REQUIRE(case_id == "PER-TEST-0001");
    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return seen.subscribed; }));

    // The partner asks a question, then the reply window is about to lapse.
    broker.Push(MailDelivery(1, case_id, wire::MailItem::INFO_REQUESTED, "caf", question,
                             wire::INFO_REQUESTED));
    broker.Push(AlertDelivery(2, case_id, wire::Alert::WARNING));
    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return Acked(seen, 2); }));
    CHECK(Acked(broker.seen(), 1));
    // The alert is redelivered (our ack was lost): acked again, applied once.
    broker.Push(AlertDelivery(2, case_id, wire::Alert::WARNING));
    // Something the gateway does not understand is left unacknowledged.
    broker.Push(MailboxDelivery(3));
    broker.Push(AlertDelivery(4, case_id, wire::Alert::BREACH));
    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return Acked(seen, 4); }));
    auto acked = broker.seen().acked;
    CHECK(std::count(acked.begin(), acked.end(), uint64_t{2}) == 2);
    CHECK_FALSE(Acked(broker.seen(), 3));

    // Broker unreachable: the cache knows the question and the alerts.
    broker.SetOnline(false);
    auto cached = MustCall(client, GetCaseRequest(case_id));
    REQUIRE(cached.has_case_view());
    const auto& view = cached.case_view();
    CHECK(view.from_local_cache());
    CHECK(view.summary().state() == wire::INFO_REQUESTED);
    CHECK(view.question() == question);
    CHECK(view.summary().warned());
    CHECK(view.summary().breached());
    CHECK(view.summary().deadline_ms() == 1'900'000'500'000);
    CHECK(CountEvents(view, "INFO_REQUESTED") == 1);
    CHECK(CountEvents(view, "SLA_WARNING") == 1);
    CHECK(CountEvents(view, "SLA_BREACH") == 1);
    for (int i = 0; i < view.timeline_size(); ++i) {
      CHECK(view.timeline(i).sequence() == static_cast<uint32_t>(i));
    }

    // The answer and a later close wait in the outbox, in order.
    auto queued = MustCall(client, AnswerInfoRequest(case_id, "Numéro 1234567"));
    REQUIRE(queued.has_case_updated());
    CHECK(queued.case_updated().queued_locally());
    CHECK(queued.case_updated().case_id() == case_id);
    wire::Envelope close;
    close.mutable_close_case()->set_case_id(case_id);
    auto close_queued = MustCall(client, close);
    REQUIRE(close_queued.has_case_updated());
    CHECK(close_queued.case_updated().queued_locally());

    // Refused here, never forwarded.
    auto empty = MustCall(client, AnswerInfoRequest(case_id, "  "));
    REQUIRE(empty.has_error());
    CHECK(empty.error().code() == wire::INVALID_ARGUMENT);
    auto no_case = MustCall(client, AnswerInfoRequest("", "texte"));
    REQUIRE(no_case.has_error());
    CHECK(no_case.error().code() == wire::INVALID_ARGUMENT);

    broker.SetOnline(true);
    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return seen.requests.size() == 3; }));
    auto seen = broker.seen();
    REQUIRE(seen.requests[1].has_answer_info());
    CHECK(seen.requests[1].answer_info().case_id() == case_id);
    CHECK(seen.requests[1].answer_info().text() == "Numéro 1234567");
    CHECK(seen.requests[1].answer_info().idempotency_key().size() == 32);
    CHECK(seen.requests[2].has_close_case());

    // With the broker up, its answer (or its error) is passed through.
    auto direct = MustCall(client, AnswerInfoRequest(case_id, "Complément"));
    REQUIRE(direct.has_case_updated());
    CHECK_FALSE(direct.case_updated().queued_locally());
    CHECK(direct.case_updated().state() == wire::ACKNOWLEDGED);
    auto refused = MustCall(client, AnswerInfoRequest("PER-NOT-MINE", "x"));
    REQUIRE(refused.has_error());
    CHECK(refused.error().code() == wire::UNKNOWN_CASE);
    CHECK(broker.seen().requests.size() == 5);
  }

  auto db = RocksDb::Open(dir.path(), AgentGatewayFamilies());
  REQUIRE(db.ok());
  SystemClock clock;
  LocalCaseCache cache(**db, clock);
  auto mailbox = cache.Mailbox("PER-TEST-0001");
  REQUIRE(mailbox.size() == 3);
  CHECK(mailbox[0].mail().kind() == wire::MailItem::INFO_REQUESTED);
  CHECK(mailbox[1].alert().kind() == wire::Alert::WARNING);
  CHECK(mailbox[2].alert().kind() == wire::Alert::BREACH);
  // The broker's answer replaced the question in the cache.
  auto cached = cache.FindCase("PER-TEST-0001");
  REQUIRE(cached.ok());
  REQUIRE(cached->has_value());
  CHECK((*cached)->question().empty());
}

TEST_CASE("a transfer to another partner reaches the local cache") {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  broker.SetOnline(true);
  RunningGateway gateway(dir.path(), broker.endpoint(), /*forward_timeout_ms=*/800);
  SyncClient client(context, gateway.endpoint(), std::nullopt);
  auto accepted = MustCall(client, SubmitRequest("Aide au logement"));
  REQUIRE(accepted.has_accepted());
  const std::string case_id = accepted.accepted().case_id();
  REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return seen.subscribed; }));

  broker.Push(MailDelivery(1, case_id, wire::MailItem::INFO_REQUESTED, "caf", "Adresse ?",
                           wire::INFO_REQUESTED));
  broker.Push(AlertDelivery(2, case_id, wire::Alert::WARNING));
  broker.Push(MailDelivery(3, case_id, wire::MailItem::TRANSFERRED, "msa",
                           "relève du régime agricole", wire::TRANSFERRED));
  REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return Acked(seen, 3); }));

  broker.SetOnline(false);
  auto cached = MustCall(client, GetCaseRequest(case_id));
  REQUIRE(cached.has_case_view());
  const auto& view = cached.case_view();
  CHECK(view.from_local_cache());
  CHECK(view.summary().state() == wire::TRANSFERRED);
  CHECK(view.summary().partner() == "msa");
  CHECK(view.summary().transferred_from() == "caf");
  CHECK_FALSE(view.summary().warned());  // a new window with the new partner
  CHECK(view.question().empty());
  REQUIRE(view.timeline_size() >= 1);
  CHECK(view.timeline(view.timeline_size() - 1).kind() == "TRANSFERRED");
  CHECK(view.timeline(view.timeline_size() - 1).detail() == "relève du régime agricole");

  wire::Envelope list_request;
  list_request.mutable_list_cases();
  auto list = MustCall(client, list_request);
  REQUIRE(list.has_case_list());
  REQUIRE(list.case_list().cases_size() == 1);
  CHECK(list.case_list().cases(0).state() == wire::TRANSFERRED);
}

}  // namespace
}  // namespace aplus

namespace aplus {
namespace {

wire::Envelope ListRequest() {
  wire::Envelope request;
  request.mutable_list_cases();
  return request;
}

wire::Envelope LocalEntryRequest(const std::string& ref, bool retry) {
  wire::Envelope request;
  if (retry) {
    request.mutable_retry_local()->set_local_ref(ref);
  } else {
    request.mutable_discard_local()->set_local_ref(ref);
  }
  return request;
}

// Polls ListCases until `done(list)` holds.
wire::CaseList WaitForList(SyncClient& client,
                           const std::function<bool(const wire::CaseList&)>& done) {
  wire::CaseList list;
  int64_t deadline = SteadyNowMs() + 10000;
  do {
    auto answer = MustCall(client, ListRequest());
    REQUIRE(answer.has_case_list());
    list = answer.case_list();
    if (done(list)) return list;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (SteadyNowMs() < deadline);
  return list;
}

// Polls GetCase(ref) until `done(view)` holds; returns the last view.
wire::CaseView WaitForCase(SyncClient& client, const std::string& ref,
                           const std::function<bool(const wire::CaseView&)>& done) {
  wire::CaseView view;
  int64_t deadline = SteadyNowMs() + 10000;
  do {
    auto answer = MustCall(client, GetCaseRequest(ref));
    if (answer.has_case_view()) {
      view = answer.case_view();
      if (done(view)) return view;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (SteadyNowMs() < deadline);
  return view;
}

bool Forwarded(const wire::CaseView& view) {
  return !view.summary().case_id().empty() && view.summary().state() == wire::SUBMITTED;
}

const wire::CaseSummary* FindSummary(const wire::CaseList& list, const std::string& ref) {
  for (const auto& summary : list.cases()) {
    if (summary.local_ref() == ref) return &summary;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("finding 2: transient refusals never remove accepted work from the outbox" *
          doctest::timeout(60)) {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  // Every request is refused RATE_LIMITED (with a retry-after hint) or TOO_MANY_OPEN_CASES
  // twice before it is taken: before the fix, the first such refusal removed the entry.
  std::map<std::string, int> refusals;
  broker.SetRefusal([&refusals](const wire::Envelope& request) {
    const std::string key = request.has_submit() ? request.submit().idempotency_key()
                                                 : request.close_case().idempotency_key();
    int count = refusals[key]++;
    if (count == 0) return Status(wire::RATE_LIMITED, "slow down").WithRetryAfterMs(50);
    if (count == 1) return Status(wire::TOO_MANY_OPEN_CASES, "ceiling").WithRetryAfterMs(50);
    return Status::Ok();
  });
  RunningGateway gateway(dir.path(), broker.endpoint(), /*forward_timeout_ms=*/200);
  SyncClient client(context, gateway.endpoint(), std::nullopt);
  for (int i = 0; i < 5; ++i) {
    auto queued = MustCall(client, SubmitRequest("Dossier " + std::to_string(i)));
    REQUIRE(queued.has_accepted());
    CHECK(queued.accepted().state() == wire::QUEUED_LOCALLY);  // the client went away
  }
  broker.SetOnline(true);
  for (int i = 1; i <= 5; ++i) {
    std::string ref = "LOC-" + std::to_string(i);
    INFO(ref);
    CHECK(Forwarded(WaitForCase(client, ref, Forwarded)));
  }
  auto list = MustCall(client, ListRequest());
  REQUIRE(list.has_case_list());
  CHECK(list.case_list().cases_size() == 0);  // nothing left in the outbox, nothing FAILED
  CHECK(broker.seen().refused == 10);
}

TEST_CASE("a submission held at the ceiling of open cases does not block the answers and "
          "cancels behind it" *
          doctest::timeout(60)) {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  // Every submission is refused TOO_MANY_OPEN_CASES for a minute: the contact point must be
  // able to answer a question or cancel a case meanwhile (both can lower the count), or the
  // ceiling would never drop.
  broker.SetRefusal([](const wire::Envelope& request) {
    if (request.has_submit()) {
      return Status(wire::TOO_MANY_OPEN_CASES, "ceiling").WithRetryAfterMs(60000);
    }
    return Status::Ok();
  });
  broker.SetOnline(true);
  RunningGateway gateway(dir.path(), broker.endpoint(), /*forward_timeout_ms=*/300);
  SyncClient client(context, gateway.endpoint(), std::nullopt);
  auto held = MustCall(client, SubmitRequest("Dossier au plafond"));
  REQUIRE(held.has_accepted());
  CHECK(held.accepted().state() == wire::QUEUED_LOCALLY);
  // A close of the held submission waits for it: it is about a case not yet made.
  wire::Envelope close;
  close.mutable_close_case()->set_case_id(held.accepted().local_ref());
  auto dependent = MustCall(client, close);
  REQUIRE(dependent.has_case_updated());
  CHECK(dependent.case_updated().queued_locally());
  // An answer about a case the broker knows goes past the held submission at once.
  auto answered = MustCall(client, AnswerInfoRequest("PER-TEST-0042", "Voici le justificatif"));
  INFO(BodyName(answered));
  REQUIRE(answered.has_case_updated());
  CHECK_FALSE(answered.case_updated().queued_locally());
  CHECK(answered.case_updated().state() == wire::ACKNOWLEDGED);
  auto seen = broker.seen();
  for (const auto& request : seen.requests) CHECK_FALSE(request.has_close_case());
}

TEST_CASE("a permanent refusal after the client left is set aside; retry and discard act on it" *
          doctest::timeout(60)) {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  std::atomic<bool> refuse{true};
  broker.SetRefusal([&refuse](const wire::Envelope& request) {
    if (refuse.load() && request.has_submit() && request.submit().subject() == "Refusé") {
      return Status(wire::UNKNOWN_PARTNER, "no partner caf here");
    }
    return Status::Ok();
  });
  RunningGateway gateway(dir.path(), broker.endpoint(), /*forward_timeout_ms=*/200);
  SyncClient client(context, gateway.endpoint(), std::nullopt);
  // Queued while the broker is away: LOC-1 will be refused, LOC-2 (its close) depends on it,
  // LOC-3 is another case and must not be blocked.
  auto refused = MustCall(client, SubmitRequest("Refusé"));
  REQUIRE(refused.has_accepted());
  CHECK(refused.accepted().local_ref() == "LOC-1");
  wire::Envelope close;
  close.mutable_close_case()->set_case_id("LOC-1");
  CHECK(MustCall(client, close).case_updated().queued_locally());
  auto other = MustCall(client, SubmitRequest("Accepté"));
  CHECK(other.accepted().local_ref() == "LOC-3");

  broker.SetOnline(true);
  // LOC-3 is not blocked behind the failed LOC-1.
  CHECK(Forwarded(WaitForCase(client, "LOC-3", Forwarded)));
  auto list = WaitForList(client, [](const wire::CaseList& list) {
    const auto* first = FindSummary(list, "LOC-1");
    return first != nullptr && first->state() == wire::FAILED_LOCALLY &&
           list.local_entries_size() == 1 &&
           list.local_entries(0).state() == wire::FAILED_LOCALLY;
  });
  const auto* failed = FindSummary(list, "LOC-1");
  REQUIRE(failed != nullptr);
  CHECK(failed->state() == wire::FAILED_LOCALLY);
  CHECK(failed->local_error().code() == wire::UNKNOWN_PARTNER);
  // The close of LOC-1 failed too, with an error naming why.
  REQUIRE(list.local_entries_size() == 1);
  CHECK(list.local_entries(0).local_ref() == "LOC-2");
  CHECK(list.local_entries(0).request() == "CloseCase");
  CHECK(list.local_entries(0).state() == wire::FAILED_LOCALLY);
  CHECK(list.local_entries(0).error().message().find("LOC-1") != std::string::npos);
  // `aplus status LOC-1` shows it with its error.
  auto view = MustCall(client, GetCaseRequest("LOC-1"));
  REQUIRE(view.has_case_view());
  CHECK(view.case_view().summary().state() == wire::FAILED_LOCALLY);
  CHECK(view.case_view().summary().local_error().code() == wire::UNKNOWN_PARTNER);

  // Unknown refs and entries still in line are typed errors.
  auto unknown = MustCall(client, LocalEntryRequest("LOC-99", true));
  CHECK(StatusOf(unknown).code() == wire::UNKNOWN_CASE);

  // Retry once the cause is fixed: the submission goes through, then its close.
  refuse = false;
  auto retried = MustCall(client, LocalEntryRequest("LOC-1", true));
  REQUIRE(retried.has_local_entry());
  CHECK(retried.local_entry().state() == wire::QUEUED_LOCALLY);
  CHECK(Forwarded(WaitForCase(client, "LOC-1", Forwarded)));
  auto retried_close = MustCall(client, LocalEntryRequest("LOC-2", true));
  REQUIRE(retried_close.has_local_entry());
  list = WaitForList(client,
                     [](const wire::CaseList& list) { return list.local_entries_size() == 0; });
  CHECK(list.local_entries_size() == 0);
  auto seen = broker.seen();
  REQUIRE_FALSE(seen.requests.empty());
  CHECK(seen.requests.back().has_close_case());

}

TEST_CASE("a permanent refusal is the answer of a client still waiting; discard drops a "
          "set-aside entry" *
          doctest::timeout(60)) {
  TempDir dir;
  zmq::context_t context;
  FakeBroker broker(context);
  broker.SetRefusal([](const wire::Envelope& request) {
    if (request.has_submit() && request.submit().subject() == "Refusé") {
      return Status(wire::UNKNOWN_PARTNER, "no partner caf here");
    }
    return Status::Ok();
  });
  broker.SetOnline(true);
  {
    RunningGateway gateway(dir.path(), broker.endpoint(), /*forward_timeout_ms=*/3000);
    SyncClient client(context, gateway.endpoint(), std::nullopt);
    REQUIRE(broker.WaitFor([](const FakeBroker::Seen& seen) { return seen.subscribed; }));
    auto answer = MustCall(client, SubmitRequest("Refusé"));
    CHECK(StatusOf(answer).code() == wire::UNKNOWN_PARTNER);
    auto list = MustCall(client, ListRequest());
    REQUIRE(list.has_case_list());
    CHECK(FindSummary(list.case_list(), "LOC-1") == nullptr);  // removed: the client has it
  }
  broker.SetOnline(false);
  {
    RunningGateway gateway(dir.path(), broker.endpoint(), /*forward_timeout_ms=*/200);
    SyncClient client(context, gateway.endpoint(), std::nullopt);
    auto queued = MustCall(client, SubmitRequest("Refusé"));
    CHECK(queued.accepted().state() == wire::QUEUED_LOCALLY);
    const std::string ref = queued.accepted().local_ref();
    broker.SetOnline(true);
    WaitForList(client, [&ref](const wire::CaseList& list) {
      const auto* entry = FindSummary(list, ref);
      return entry != nullptr && entry->state() == wire::FAILED_LOCALLY;
    });
    auto still_there = MustCall(client, LocalEntryRequest("LOC-77", false));
    CHECK(StatusOf(still_there).code() == wire::UNKNOWN_CASE);
    auto discarded = MustCall(client, LocalEntryRequest(ref, false));
    REQUIRE(discarded.has_local_entry());
    CHECK(discarded.local_entry().state() == wire::STATE_UNSPECIFIED);
    CHECK(discarded.local_entry().error().code() == wire::UNKNOWN_PARTNER);
    auto list = MustCall(client, ListRequest());
    CHECK(FindSummary(list.case_list(), ref) == nullptr);
    // The ref now reads as the refusal it got.
    auto view = MustCall(client, GetCaseRequest(ref));
    CHECK(StatusOf(view).code() == wire::UNKNOWN_PARTNER);
  }
}

TEST_CASE("finding 10: with the broker down and nothing cached, ListCases is an empty local view" *
          doctest::timeout(30)) {
  TempDir dir;
  zmq::context_t context;
  RunningGateway gateway(dir.path(), kNobodyListens, /*forward_timeout_ms=*/300);
  SyncClient client(context, gateway.endpoint(), std::nullopt);
  int64_t started = SteadyNowMs();
  auto answer = client.Call(ListRequest(), kClientTimeoutMs);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  CHECK(SteadyNowMs() - started < kClientTimeoutMs);
  REQUIRE(answer->has_case_list());  // before the fix: an envelope with no body
  CHECK(answer->case_list().from_local_cache());
  CHECK(answer->case_list().cases_size() == 0);
}

}  // namespace aplus
