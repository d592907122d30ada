// The durable forwarder both gateways share (gateway/durable_forwarder.h), without a broker:
// set-aside entries survive a restart, RetryLocal / DiscardLocal act on them and only on them,
// and a client waiting past the forward timeout gets the queued answer. What the broker's
// answers do (transient kept, permanent set aside or answered) is exercised against fake
// brokers in tests/agent-gateway/agent_gateway_test.cc and
// tests/partner-gateway/partner_gateway_test.cc.
#include "gateway/durable_forwarder.h"

#include <doctest/doctest.h>

#include <thread>

#include "common/clock.h"
#include "common/wire.h"
#include "tests/support/child_process.h"

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
