// The webhook sender against a real HTTP receiver (http/http_server.h) in the test that answers
// 500, hangs, refuses (4xx) or accepts on demand: signed, retried by the schedule with the
// same webhook-id, in feed order, every attempt recorded, failing reported, and redelivery.
#include "gateway/webhook_sender.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "http/http_server.h"
#include "tests/support/child_process.h"

namespace {

using namespace aplus;
using aplus::testing::TempDir;

struct Seen {
  std::string id;
  std::string body;
  bool verified;
};

// Answers with `status` (0 = never answers).
class Receiver {
 public:
  explicit Receiver(std::vector<WebhookSecret> secrets) : secrets_(std::move(secrets)) {
    auto started = http::HttpServer::Start({}, [this](http::HttpRequest request,
                                                      http::Responder responder) {
      std::lock_guard lock(mutex_);
      int64_t now = SystemClock().NowMs() / 1000;
      std::string id = request.Header("webhook-id").value_or("");
      bool ok = VerifyWebhook(secrets_, id, request.Header("webhook-timestamp").value_or(""),
                              request.Header("webhook-signature").value_or(""), request.body,
                              now)
                    .ok();
      seen_.push_back({id, request.body, ok});
      if (status_ == 0) {
        hanging_.push_back(responder);
      } else {
        responder.Send(http::HttpResponse::Json(status_, "{}"));
      }
    });
    REQUIRE(started.ok());
    server_ = std::move(*started);
  }
  void Answer(int status) {
    std::lock_guard lock(mutex_);
    status_ = status;
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  bool WaitSeen(size_t count, int timeout_ms = 20000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (seen().size() >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/h"; }

 private:
  std::vector<WebhookSecret> secrets_;
  std::mutex mutex_;
  int status_ = 200;
  std::vector<Seen> seen_;
  std::vector<http::Responder> hanging_;
  std::unique_ptr<http::HttpServer> server_;
};

std::unique_ptr<RocksDb> OpenDb(const std::string& path) {
  auto db = RocksDb::Open(path, {kWebhookFamily});
  REQUIRE(db.ok());
  return std::move(*db);
}

void Enqueue(RocksDb& db, uint64_t sequence) {
  Webhook webhook;
  webhook.partner = "caf";
  webhook.sequence = sequence;
  webhook.id = "msg_test_" + std::to_string(sequence);
  webhook.body = "{\"cursor\":\"" + std::to_string(sequence) + "\"}";
  webhook.queued_ms = SystemClock().NowMs();
  webhook.next_try_ms = webhook.queued_ms;
  rocksdb::WriteBatch batch;
  REQUIRE(WebhookQueue(db).Enqueue(batch, webhook).ok());
  REQUIRE(db.Write(batch).ok());
}

WebhookSenderOptions Options(const std::string& url, std::vector<WebhookSecret> secrets,
                             const std::string& schedule) {
  WebhookSenderOptions options;
  options.partner = "caf";
  options.url = url;
  options.secrets = std::move(secrets);
  auto parsed = WebhookSchedule::Parse(schedule);
  REQUIRE(parsed.ok());
  options.schedule = *parsed;
  options.timeout = std::chrono::milliseconds(500);
  return options;
}

std::vector<WebhookSecret> TwoSecrets() {
  auto a = WebhookSecret::Generate();
  auto b = WebhookSecret::Generate();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  return {*a, *b};
}

bool WaitFor(const std::function<bool()>& condition, int timeout_ms = 20000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A sender whose gateway has made every queued webhook durable (SetDurableSequence).
Result<std::unique_ptr<WebhookSender>> StartSender(RocksDb& db, WebhookSenderOptions options,
                                                   const Clock& clock,
                                                   std::function<void(const Status&)> lost) {
  auto sender = WebhookSender::Start(db, std::move(options), clock, std::move(lost));
  if (sender.ok()) {
    (*sender)->SetDurableSequence(UINT64_MAX);
    (*sender)->Wake();
  }
  return sender;
}

constexpr const char* kFast =
    "0s,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms;every=1s;until=1m;jitter=0;"
    "report=1 seconds";

}  // namespace

TEST_CASE("500 and timeouts are retried with the same id, in feed order, until the receiver "
          "accepts" * doctest::timeout(60)) {
  TempDir dir("webhook-sender");
  auto db = OpenDb(dir.Sub("db"));
  auto secrets = TwoSecrets();
  Receiver receiver({secrets[1]});  // the receiver knows only the new secret: rotation
  receiver.Answer(500);
  Enqueue(*db, 1);
  Enqueue(*db, 2);
  SystemClock clock;
  auto sender = StartSender(*db, Options(receiver.url(), secrets, kFast), clock, nullptr);
  REQUIRE(sender.ok());
  REQUIRE(receiver.WaitSeen(3));
  receiver.Answer(0);  // hang: the sender times out
  size_t before = receiver.seen().size();
  REQUIRE(receiver.WaitSeen(before + 2));
  // Failing longer than `report` (1 s): reported.
  CHECK(WaitFor([&] { return (*sender)->failing_since_ms() != 0; }));
  receiver.Answer(200);
  REQUIRE(WaitFor([&] { return (*sender)->counters().delivered.load() == 2; }));
  CHECK((*sender)->failing_since_ms() == 0);

  auto seen = receiver.seen();
  size_t i = 0;
  for (; i + 1 < seen.size(); ++i) {
    CHECK(seen[i].id == "msg_test_1");  // the second waits behind the first
    CHECK(seen[i].verified);
  }
  CHECK(seen.back().id == "msg_test_2");

  auto listed = (*sender)->List(false, 0);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  const Webhook& first = (*listed)[0];
  CHECK(first.state == WebhookState::kDelivered);
  REQUIRE(first.attempts.size() >= 5);
  CHECK(first.attempts[0].status_code == 500);
  CHECK(first.attempts[0].next_try_ms > 0);
  bool timed_out = false;
  for (const auto& attempt : first.attempts) timed_out |= attempt.error == "timeout";
  CHECK(timed_out);
  CHECK(first.attempts.back().status_code == 200);
  CHECK(first.attempts.back().next_try_ms == 0);
}

TEST_CASE("a 4xx fails for good; redelivery sends it again; connection refused is retried" *
          doctest::timeout(60)) {
  TempDir dir("webhook-sender-4xx");
  auto db = OpenDb(dir.Sub("db"));
  auto secrets = TwoSecrets();
  SystemClock clock;
  {
    Receiver receiver(secrets);
    receiver.Answer(410);
    Enqueue(*db, 1);
    auto sender =
        StartSender(*db, Options(receiver.url(), secrets, kFast), clock, nullptr);
    REQUIRE(sender.ok());
    REQUIRE(WaitFor([&] { return (*sender)->counters().failed.load() == 1; }));
    CHECK(receiver.seen().size() == 1);
    auto failed = (*sender)->List(true, 0);
    REQUIRE(failed.ok());
    REQUIRE(failed->size() == 1);
    CHECK((*failed)[0].attempts[0].status_code == 410);

    receiver.Answer(200);
    auto moved = (*sender)->RedeliverFailed();
    REQUIRE(moved.ok());
    CHECK(*moved == 1);
    REQUIRE(WaitFor([&] { return (*sender)->counters().delivered.load() == 1; }));
    CHECK(receiver.seen().back().id == "msg_test_1");
    CHECK((*sender)->Redeliver("msg_nope").code() == wire::INVALID_ARGUMENT);
  }
  // Nobody listens on this port any more: connection refused, retried, recorded.
  int port = aplus::testing::FreePort();
  Enqueue(*db, 2);
  auto sender = StartSender(
      *db, Options("http://127.0.0.1:" + std::to_string(port) + "/h", secrets, kFast), clock,
      nullptr);
  REQUIRE(sender.ok());
  REQUIRE(WaitFor([&] { return (*sender)->counters().attempts.load() >= 2; }));
  auto pending = (*sender)->List(false, 0);
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 2);
  CHECK((*pending)[1].state == WebhookState::kPending);
  REQUIRE(!(*pending)[1].attempts.empty());
  CHECK((*pending)[1].attempts[0].error == "connection refused");
}

TEST_CASE("webhook URLs are checked") {
  CHECK(WebhookUrl::Parse("ftp://x/").status().code() == wire::INVALID_ARGUMENT);
  CHECK(WebhookUrl::Parse("http://u@x/").status().code() == wire::INVALID_ARGUMENT);
  CHECK(WebhookUrl::Parse("http:///x").status().code() == wire::INVALID_ARGUMENT);
  CHECK(WebhookUrl::Parse("http://x:99999/").status().code() == wire::INVALID_ARGUMENT);
  auto url = WebhookUrl::Parse("https://hooks.caf.fr/a?b=c");
  REQUIRE(url.ok());
  CHECK(url->tls);
  CHECK(url->host == "hooks.caf.fr");
  CHECK(url->port == "443");
  CHECK(url->target == "/a?b=c");
  auto local = WebhookUrl::Parse("http://[::1]:8080");
  REQUIRE(local.ok());
  CHECK(local->host == "::1");
  CHECK(local->port == "8080");
  CHECK(local->target == "/");
}

TEST_CASE("webhooks past the durable feed sequence wait for it" * doctest::timeout(60)) {
  TempDir dir("webhook-sender-durable");
  auto db = OpenDb(dir.Sub("db"));
  auto secrets = TwoSecrets();
  Receiver receiver(secrets);
  receiver.Answer(200);
  Enqueue(*db, 1);
  Enqueue(*db, 2);
  SystemClock clock;
  auto sender = WebhookSender::Start(*db, Options(receiver.url(), secrets, kFast), clock, nullptr);
  REQUIRE(sender.ok());
  (*sender)->SetDurableSequence(1);  // the gateway's group commit covered the first only
  (*sender)->Wake();
  REQUIRE(WaitFor([&] { return (*sender)->counters().delivered.load() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(receiver.seen().size() == 1);
  (*sender)->SetDurableSequence(2);
  (*sender)->Wake();
  REQUIRE(WaitFor([&] { return (*sender)->counters().delivered.load() == 2; }));
  CHECK(receiver.seen().back().id == "msg_test_2");
}
