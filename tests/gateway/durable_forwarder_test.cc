// The durable forwarder both gateways share (gateway/durable_forwarder.h), without a broker:
// set-aside entries survive a restart, RetryLocal / DiscardLocal act on them and only on them,
// and a client waiting past the forward timeout gets the queued answer. What the broker's
// answers do (transient kept, permanent set aside or answered) is exercised against fake
// brokers in tests/agent-gateway/agent_gateway_test.cc and
// tests/partner-gateway/partner_gateway_test.cc.
#include "gateway/durable_forwarder.h"

#include <doctest/doctest.h>

#include <deque>
#include <thread>
#include <zmq_addon.hpp>

#include "common/clock.h"
#include "common/wire.h"
#include "tests/support/child_process.h"
#include "tests/support/fake_endpoint.h"

using namespace aplus;

namespace {

constexpr const char* kNobodyListens = "tcp://127.0.0.1:1";

records::OutboxEntry Entry(const std::string& ref, bool failed) {
  records::OutboxEntry entry;
  auto* ack = entry.mutable_request()->mutable_acknowledge_case();
  ack->set_case_id("PER-7K3M-Q9XD");
  ack->set_idempotency_key("key-" + ref);
  entry.set_local_ref(ref);
  entry.set_queued_at_ms(1'700'000'000'000);
  entry.set_attempts(failed ? 3 : 0);
  if (failed) {
    entry.set_failed(true);
    entry.mutable_error()->set_code(wire::INVALID_TRANSITION);
    entry.mutable_error()->set_message("the case is closed");
  }
  return entry;
}

// A forwarder over `db` whose link never reaches a broker; records its final answers.
struct Harness {
  explicit Harness(RocksDb& db)
      : link(context, kNobodyListens, wire::Hello(), 0, std::nullopt),
        forwarder(db, link, fail_stop, Options(), Hooks()) {}
  static DurableForwarder::Options Options() {
    DurableForwarder::Options options;
    options.forward_timeout_ms = 50;
    return options;
  }
  DurableForwarder::Hooks Hooks() {
    DurableForwarder::Hooks hooks;
    hooks.prepare = [](const records::OutboxEntry& entry) -> Result<wire::Envelope> {
      return entry.request();
    };
    hooks.on_final = [this](uint64_t, const records::OutboxEntry& entry,
                            const wire::Envelope& answer) {
      finals.emplace_back(entry.local_ref(), answer);
      return answer;
    };
    hooks.queued_answer = [](const records::OutboxEntry& entry) {
      wire::Envelope answer;
      answer.mutable_case_updated()->set_queued_locally(true);
      answer.mutable_case_updated()->set_case_id(entry.request().acknowledge_case().case_id());
      return answer;
    };
    return hooks;
  }
  zmq::context_t context;
  FailStop fail_stop;
  BrokerLink link;
  std::vector<std::pair<std::string, wire::Envelope>> finals;
  DurableForwarder forwarder;
};

}  // namespace

TEST_CASE("set-aside entries survive a restart; retry and discard act on them only") {
  testing::TempDir dir("durable-forwarder");
  const std::string path = dir.Sub("db");
  {
    auto db = RocksDb::Open(path, {kOutboxFamily});
    REQUIRE(db.ok());
    Outbox outbox(**db);
    REQUIRE(outbox.Append(Entry("LOC-1", true)).ok());
    REQUIRE(outbox.Append(Entry("LOC-2", false)).ok());
    REQUIRE(outbox.Append(Entry("LOC-3", true)).ok());
  }
  {
    auto db = RocksDb::Open(path, {kOutboxFamily});
    REQUIRE(db.ok());
    Harness harness(**db);
    auto& forwarder = harness.forwarder;
    auto entries = forwarder.LocalEntries();
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].local_ref() == "LOC-1");
    CHECK(entries[0].request() == "AcknowledgeCase");
    CHECK(entries[0].case_id() == "PER-7K3M-Q9XD");
    CHECK(entries[0].state() == wire::FAILED_LOCALLY);
    CHECK(entries[0].error().code() == wire::INVALID_TRANSITION);
    CHECK(entries[0].attempts() == 3);
    CHECK(entries[1].state() == wire::QUEUED_LOCALLY);
    CHECK_FALSE(entries[1].has_error());

    CHECK(forwarder.Retry("LOC-9").status().code() == wire::UNKNOWN_CASE);
    CHECK(forwarder.Discard("LOC-9").status().code() == wire::UNKNOWN_CASE);
    CHECK(forwarder.Discard("LOC-2").status().code() == wire::INVALID_ARGUMENT);
    auto unchanged = forwarder.Retry("LOC-2");
    REQUIRE(unchanged.ok());
    CHECK(unchanged->state() == wire::QUEUED_LOCALLY);

    // Discard: the FinalHandler gets the stored refusal, then the entry is gone.
    auto discarded = forwarder.Discard("LOC-1");
    REQUIRE(discarded.ok());
    CHECK(discarded->state() == wire::STATE_UNSPECIFIED);
    REQUIRE(harness.finals.size() == 1);
    CHECK(harness.finals[0].first == "LOC-1");
    CHECK(StatusOf(harness.finals[0].second).code() == wire::INVALID_TRANSITION);
    // Retry: back in line, same request and key.
    auto retried = forwarder.Retry("LOC-3");
    REQUIRE(retried.ok());
    CHECK(retried->state() == wire::QUEUED_LOCALLY);
    CHECK(forwarder.size() == 2);
    CHECK_FALSE(harness.fail_stop.tripped());
  }
  // Both decisions were stored.
  auto db = RocksDb::Open(path, {kOutboxFamily});
  REQUIRE(db.ok());
  Outbox outbox(**db);
  auto listed = outbox.All();
  REQUIRE(listed.ok());
  auto& all = *listed;
  REQUIRE(all.size() == 2);
  CHECK(all[0].second.local_ref() == "LOC-2");
  CHECK(all[1].second.local_ref() == "LOC-3");
  CHECK_FALSE(all[1].second.failed());
  CHECK(all[1].second.request().acknowledge_case().idempotency_key() == "key-LOC-3");
}

TEST_CASE("a client still waiting after the forward timeout gets the queued answer, once" *
          doctest::timeout(30)) {
  testing::TempDir dir("durable-forwarder-wait");
  auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
  REQUIRE(db.ok());
  Harness harness(**db);
  int answers = 0;
  wire::Envelope answer;
  auto sequence = harness.forwarder.Enqueue(Entry("LOC-1", false), [&](wire::Envelope reply) {
    ++answers;
    answer = std::move(reply);
  });
  REQUIRE(sequence.ok());
  int64_t deadline = SteadyNowMs() + 5000;
  while (answers == 0 && SteadyNowMs() < deadline) {
    harness.forwarder.OnTick();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int i = 0; i < 10; ++i) harness.forwarder.OnTick();
  CHECK(answers == 1);
  CHECK(answer.case_updated().queued_locally());
  CHECK(harness.forwarder.size() == 1);  // still held, waiting for the broker
  CHECK(harness.finals.empty());
}

// --- pipelining ----------------------------------------------------------------------------

namespace {

// A broker driven from the test's own thread: it welcomes the link, answers pings, and holds
// every other request until the test answers it, so that what is in flight at once is seen.
class HeldBroker {
 public:
  explicit HeldBroker(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    endpoint_ = testing::BindSomewhere(socket_);
  }
  const std::string& endpoint() const { return endpoint_; }
  zmq::socket_t& socket() { return socket_; }

  void Drain() {
    while (true) {
      std::vector<zmq::message_t> frames;
      auto received =
          zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait);
      if (!received) return;
      if (frames.size() != 2) continue;
      auto request = DecodeEnvelope(frames[1].data(), frames[1].size(), SIZE_MAX);
      if (!request.ok()) continue;
      route_ = frames[0].to_string();
      wire::Envelope answer;
      if (request->has_hello()) {
        answer.mutable_welcome()->set_instance_id("instance-1");
      } else if (request->has_ping()) {
        answer.mutable_pong()->set_instance_id("instance-1");
      } else {
        held.push_back(*request);
        continue;
      }
      Send(*request, std::move(answer));
    }
  }
  // Answers the held request `index` (in arrival order) and forgets it.
  void Answer(size_t index, wire::Envelope answer) {
    wire::Envelope request = held[index];
    held.erase(held.begin() + static_cast<std::ptrdiff_t>(index));
    Send(request, std::move(answer));
  }
  static wire::Envelope Updated(const wire::Envelope& request) {
    wire::Envelope answer;
    answer.mutable_case_updated()->set_case_id(CaseIdOfRequest(request));
    return answer;
  }
  static std::string CaseIdOfRequest(const wire::Envelope& request) {
    if (request.has_acknowledge_case()) return request.acknowledge_case().case_id();
    if (request.has_close_case()) return request.close_case().case_id();
    return "";
  }

  std::deque<wire::Envelope> held;

 private:
  void Send(const wire::Envelope& request, wire::Envelope answer) {
    answer.set_request_id(request.request_id());
    socket_.send(zmq::buffer(route_), zmq::send_flags::sndmore);
    socket_.send(EncodeEnvelope(answer), zmq::send_flags::none);
  }
  zmq::socket_t socket_;
  std::string endpoint_;
  std::string route_;
};

records::OutboxEntry AckOf(const std::string& ref, const std::string& case_id) {
  records::OutboxEntry entry;
  entry.mutable_request()->mutable_acknowledge_case()->set_case_id(case_id);
  entry.mutable_request()->mutable_acknowledge_case()->set_idempotency_key("key-" + ref);
  entry.set_local_ref(ref);
  return entry;
}

records::OutboxEntry SubmitOf(const std::string& ref) {
  records::OutboxEntry entry;
  entry.mutable_request()->mutable_submit()->set_subject("subject " + ref);
  entry.mutable_request()->mutable_submit()->set_idempotency_key("key-" + ref);
  entry.set_local_ref(ref);
  return entry;
}

// A forwarder linked to a HeldBroker, with local refs resolved as a gateway would (LOC-n ->
// the case id the test says its submission got).
struct Pipeline {
  explicit Pipeline(RocksDb& db, int window)
      : broker(context),
        link(context, broker.endpoint(), wire::Hello(), 0, std::nullopt),
        forwarder(db, link, fail_stop, MakeOptions(window), MakeHooks()) {}
  static DurableForwarder::Options MakeOptions(int window) {
    DurableForwarder::Options options;
    options.window = window;
    options.forward_timeout_ms = 60'000;
    options.request_timeout_ms = 60'000;
    options.backoff_base_ms = 50;
    options.backoff_cap_ms = 100;
    return options;
  }
  DurableForwarder::Hooks MakeHooks() {
    DurableForwarder::Hooks hooks;
    hooks.prepare = [this](const records::OutboxEntry& entry) -> Result<wire::Envelope> {
      wire::Envelope request = entry.request();
      if (request.has_acknowledge_case()) {
        auto it = resolved.find(request.acknowledge_case().case_id());
        if (it != resolved.end()) request.mutable_acknowledge_case()->set_case_id(it->second);
      }
      return request;
    };
    hooks.on_final = [this](uint64_t, const records::OutboxEntry& entry,
                            const wire::Envelope& answer) {
      finals.push_back(entry.local_ref());
      return answer;
    };
    hooks.queued_answer = [](const records::OutboxEntry&) { return wire::Envelope(); };
    hooks.may_send = [this] { return !holding; };
    return hooks;
  }
  // Runs link, forwarder and broker until `done` or the time is up.
  bool SpinUntil(const std::function<bool()>& done, int64_t within_ms = 10'000) {
    int64_t deadline = SteadyNowMs() + within_ms;
    while (SteadyNowMs() < deadline) {
      zmq::pollitem_t items[] = {{link.socket().handle(), 0, ZMQ_POLLIN, 0},
                                 {broker.socket().handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(5));
      if (items[0].revents & ZMQ_POLLIN) link.OnReadable();
      broker.Drain();
      link.OnTick();
      forwarder.OnTick();
      if (done()) return true;
    }
    return false;
  }
  // Spins a little longer to show that nothing more arrives.
  void Settle() {
    SpinUntil([] { return false; }, 300);
  }

  zmq::context_t context;
  HeldBroker broker;
  FailStop fail_stop;
  BrokerLink link;
  std::map<std::string, std::string> resolved;
  std::vector<std::string> finals;
  bool holding = false;
  DurableForwarder forwarder;
};

std::vector<std::string> HeldCaseIds(const HeldBroker& broker) {
  std::vector<std::string> ids;
  for (const auto& request : broker.held) {
    ids.push_back(request.has_submit() ? "submit:" + request.submit().subject()
                                       : HeldBroker::CaseIdOfRequest(request));
  }
  return ids;
}

}  // namespace

TEST_CASE("entries about different cases go out together, up to the window" *
          doctest::timeout(60)) {
  testing::TempDir dir("durable-forwarder-window");
  auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
  REQUIRE(db.ok());
  Pipeline pipeline(**db, 3);
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.link.ready(); }));
  for (int i = 1; i <= 5; ++i) {
    REQUIRE(pipeline.forwarder.Enqueue(AckOf("LOC-" + std::to_string(i),
                                             "PER-CASE-" + std::to_string(i)),
                                       nullptr)
                .ok());
  }
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 3; }));
  pipeline.Settle();
  // Three at once (the window), in outbox order; the others wait for room.
  CHECK(HeldCaseIds(pipeline.broker) ==
        std::vector<std::string>{"PER-CASE-1", "PER-CASE-2", "PER-CASE-3"});
  CHECK(pipeline.forwarder.in_flight() == 3);
  for (int i = 0; i < 3; ++i) {
    pipeline.broker.Answer(0, HeldBroker::Updated(pipeline.broker.held[0]));
  }
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 2; }));
  CHECK(HeldCaseIds(pipeline.broker) == std::vector<std::string>{"PER-CASE-4", "PER-CASE-5"});
  while (!pipeline.broker.held.empty()) {
    pipeline.broker.Answer(0, HeldBroker::Updated(pipeline.broker.held[0]));
  }
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.forwarder.size() == 0; }));
  CHECK(pipeline.finals ==
        std::vector<std::string>{"LOC-1", "LOC-2", "LOC-3", "LOC-4", "LOC-5"});
}

TEST_CASE("an entry about the same case, or about a submission still in line, waits for it" *
          doctest::timeout(60)) {
  testing::TempDir dir("durable-forwarder-depends");
  auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
  REQUIRE(db.ok());
  Pipeline pipeline(**db, 16);
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.link.ready(); }));
  auto& forwarder = pipeline.forwarder;
  REQUIRE(forwarder.Enqueue(AckOf("LOC-1", "PER-A"), nullptr).ok());
  REQUIRE(forwarder.Enqueue(SubmitOf("LOC-2"), nullptr).ok());
  REQUIRE(forwarder.Enqueue(AckOf("LOC-3", "PER-A"), nullptr).ok());  // same case as LOC-1
  REQUIRE(forwarder.Enqueue(AckOf("LOC-4", "LOC-2"), nullptr).ok());  // about the submission
  REQUIRE(forwarder.Enqueue(AckOf("LOC-5", "PER-B"), nullptr).ok());  // independent
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 3; }));
  pipeline.Settle();
  CHECK(HeldCaseIds(pipeline.broker) ==
        std::vector<std::string>{"PER-A", "submit:subject LOC-2", "PER-B"});

  // The submission is answered first (the test's broker may answer out of order): LOC-4 goes,
  // its ref resolved; LOC-3 still waits for LOC-1.
  pipeline.resolved["LOC-2"] = "PER-C";
  wire::Envelope accepted;
  accepted.mutable_accepted()->set_case_id("PER-C");
  pipeline.broker.Answer(1, accepted);
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 3; }));
  pipeline.Settle();
  CHECK(HeldCaseIds(pipeline.broker) == std::vector<std::string>{"PER-A", "PER-B", "PER-C"});

  pipeline.broker.Answer(0, HeldBroker::Updated(pipeline.broker.held[0]));  // LOC-1
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 3; }));
  CHECK(HeldCaseIds(pipeline.broker) == std::vector<std::string>{"PER-B", "PER-C", "PER-A"});
  while (!pipeline.broker.held.empty()) {
    pipeline.broker.Answer(0, HeldBroker::Updated(pipeline.broker.held[0]));
  }
  REQUIRE(pipeline.SpinUntil([&] { return forwarder.size() == 0; }));
  CHECK(pipeline.finals ==
        std::vector<std::string>{"LOC-2", "LOC-1", "LOC-5", "LOC-4", "LOC-3"});
}

TEST_CASE("a transient refusal keeps the entry and what depends on it; the others go on" *
          doctest::timeout(60)) {
  testing::TempDir dir("durable-forwarder-transient");
  auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
  REQUIRE(db.ok());
  Pipeline pipeline(**db, 16);
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.link.ready(); }));
  auto& forwarder = pipeline.forwarder;
  REQUIRE(forwarder.Enqueue(AckOf("LOC-1", "PER-A"), nullptr).ok());
  REQUIRE(forwarder.Enqueue(AckOf("LOC-2", "PER-B"), nullptr).ok());
  REQUIRE(forwarder.Enqueue(AckOf("LOC-3", "PER-A"), nullptr).ok());
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 2; }));
  pipeline.broker.Answer(0, testing::ErrorAnswer(wire::UNAVAILABLE, "busy"));  // LOC-1
  pipeline.broker.Answer(0, HeldBroker::Updated(pipeline.broker.held[0]));     // LOC-2
  // After the backoff LOC-1 is sent again, and only then LOC-3 (same case).
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 1; }));
  pipeline.Settle();
  CHECK(HeldCaseIds(pipeline.broker) == std::vector<std::string>{"PER-A"});
  CHECK(forwarder.entries().front().entry.local_ref() == "LOC-1");
  CHECK(forwarder.entries().front().entry.attempts() == 2);
  pipeline.broker.Answer(0, HeldBroker::Updated(pipeline.broker.held[0]));
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 1; }));
  CHECK(forwarder.entries().front().entry.local_ref() == "LOC-3");
  pipeline.broker.Answer(0, HeldBroker::Updated(pipeline.broker.held[0]));
  REQUIRE(pipeline.SpinUntil([&] { return forwarder.size() == 0; }));
  CHECK(pipeline.finals == std::vector<std::string>{"LOC-2", "LOC-1", "LOC-3"});
}

TEST_CASE("nothing is sent while the owner holds writes that are not durable yet" *
          doctest::timeout(60)) {
  testing::TempDir dir("durable-forwarder-hold");
  auto db = RocksDb::Open(dir.Sub("db"), {kOutboxFamily});
  REQUIRE(db.ok());
  Pipeline pipeline(**db, 16);
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.link.ready(); }));
  pipeline.holding = true;
  REQUIRE(pipeline.forwarder.Enqueue(AckOf("LOC-1", "PER-A"), nullptr).ok());
  pipeline.Settle();
  CHECK(pipeline.broker.held.empty());
  pipeline.holding = false;
  pipeline.forwarder.MarkDurable();
  REQUIRE(pipeline.SpinUntil([&] { return pipeline.broker.held.size() == 1; }));
}
