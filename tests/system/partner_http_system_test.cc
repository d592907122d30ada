// The partner gateway's HTTP API and signed webhooks with real programs: the broker and both
// gateways as processes, curl as the partner's HTTP client, and the partner's webhook receiver
// as an HttpServer (http/http_server.h) inside the test that verifies every signature with
// VerifyWebhook, the way a partner's system does.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/token_store.h"
#include "gateway/webhook_signature.h"
#include "http/http_server.h"
#include "tests/support/curl_client.h"
#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;
using nlohmann::json;

namespace {

// What the receiver answers.
enum class Mode { kOk, kFail500, kHang };

struct Received {
  std::string id;
  std::string body;
  bool verified = false;
};

// The partner's webhook endpoint. Thread rules: the server thread records, the test reads
// under the mutex.
class Receiver {
 public:
  Receiver(int port, std::vector<WebhookSecret> secrets)
      : port_(port), secrets_(std::move(secrets)) {}
  ~Receiver() { Stop(); }

  void Start() {
    http::HttpServerOptions options;
    options.port = static_cast<uint16_t>(port_);
    auto started = http::HttpServer::Start(options, [this](http::HttpRequest request,
                                                           http::Responder responder) {
      Received received;
      received.id = request.Header("webhook-id").value_or("");
      received.body = request.body;
      int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
      received.verified =
          VerifyWebhook(secrets_, received.id, request.Header("webhook-timestamp").value_or(""),
                        request.Header("webhook-signature").value_or(""), request.body, now)
              .ok();
      std::lock_guard lock(mutex_);
      attempts_.push_back(received);
      switch (mode_) {
        case Mode::kOk:
          delivered_.push_back(received);
          responder.Send(http::HttpResponse::Json(200, "{}"));
          break;
        case Mode::kFail500:
          responder.Send(http::HttpResponse::Json(500, "{}"));
          break;
        case Mode::kHang:
          hanging_.push_back(responder);  // answered never (the sender times out)
          break;
      }
    });
    REQUIRE(started.ok());
    server_ = std::move(started).value();
  }
  void Stop() {
    server_.reset();
    std::lock_guard lock(mutex_);
    hanging_.clear();
  }
  void SetMode(Mode mode) {
    std::lock_guard lock(mutex_);
    mode_ = mode;
  }
  std::vector<Received> delivered() {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  std::vector<Received> attempts() {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  // Waits until `count` webhooks were delivered (answered 200).
  bool WaitDelivered(size_t count, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (delivered().size() >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  bool WaitAttempts(size_t count, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (attempts().size() >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  const int port_;
  const std::vector<WebhookSecret> secrets_;
  std::unique_ptr<http::HttpServer> server_;
  std::mutex mutex_;
  Mode mode_ = Mode::kOk;
  std::vector<Received> attempts_;
  std::vector<Received> delivered_;
  std::vector<http::Responder> hanging_;
};

// Runs a shell command; exit code and stdout.
std::pair<int, std::string> Run(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The partner's HTTP client: the shared curl client (tests/support/curl_client.h, every answer
// checked against docs/openapi.yaml), with the token; returns (HTTP status, body).
struct Curl {
  int port;
  std::string token;
  std::string scratch_dir = std::filesystem::temp_directory_path().string();
  std::pair<int, json> Call(const std::string& method, const std::string& path,
                            const std::string& body = "") {
    HttpReply reply = CurlRequest(scratch_dir, method, "http://127.0.0.1:" + std::to_string(port),
                                  path, token, body);
    INFO(method << " " << path << " -> " << reply.status << " " << reply.body);
    REQUIRE(reply.status != 0);
    return {reply.status, reply.body.empty() ? json() : json::parse(reply.body)};
  }
};

std::string SubmitCase(TestNetwork& network, const std::string& subject) {
  auto [code, output] = network.Aplus(
      "--json submit --agent agent-noce-1 --partner france-travail --category "
      "unemployment-benefits --subject '" +
      subject + "' --body 'Versement interrompu' --citizen 'Jeanne Martin' --mandate M-1");
  INFO(output);
  REQUIRE(code == 0);
  auto start = output.find('{');
  REQUIRE(start != std::string::npos);
  json answer = json::parse(output.substr(start));
  std::string id = answer.value("caseId", "");
  REQUIRE_MESSAGE(!id.empty(), output);
  return id;
}

struct PartnerSetup {
  int http_port = FreePort();
  int receiver_port = FreePort();
  std::string token;
  std::string secret_file;
  std::vector<WebhookSecret> secrets;

  explicit PartnerSetup(TestNetwork& network) {
    std::string token_dir = network.dir().Sub("tokens");
    ::mkdir(token_dir.c_str(), 0700);
    auto added = AddToken(token_dir, "france-travail-si", {}, 0);
    REQUIRE(added.ok());
    token = *added;
    auto secret = WebhookSecret::Generate();
    REQUIRE(secret.ok());
    secrets.push_back(*secret);
    secret_file = network.dir().Sub("webhook-secret");
    std::ofstream(secret_file) << secret->ToString() << "\n";
    ::chmod(secret_file.c_str(), 0600);
  }
  std::vector<std::string> Flags(TestNetwork& network) const {
    return {"--http-listen", "127.0.0.1:" + std::to_string(http_port),
            "--token-dir", network.dir().Sub("tokens"),
            "--webhook-url", "http://127.0.0.1:" + std::to_string(receiver_port) + "/hooks/aplus",
            "--webhook-secret-file", secret_file,
            "--webhook-schedule", "0s,200ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms;every=1s;until=5m;jitter=0",
            "--webhook-failing-after", "2 seconds",
            "--webhook-timeout-ms", "700"};
  }
};

json WaitForEvents(Curl& curl, const std::string& after, size_t count) {
  json events = json::array();
  std::string cursor = after;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (events.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto [status, page] = curl.Call("GET", "/v1/events?wait=5&after=" + cursor);
    REQUIRE(status == 200);
    for (auto& event : page["events"]) events.push_back(event);
    cursor = page["nextCursor"].get<std::string>();
  }
  return events;
}

}  // namespace

TEST_CASE("a delivery reaches the partner as a signed webhook and in /v1/events; ack and reply "
          "over HTTP reach the contact point" * doctest::timeout(120)) {
  TestNetwork network("partner-http");
  PartnerSetup setup(network);
  Receiver receiver(setup.receiver_port, setup.secrets);
  receiver.Start();
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartAgentGateway());
  REQUIRE(network.StartPartnerGateway("france-travail", setup.Flags(network)));
  Curl curl{setup.http_port, setup.token};

  // No token, a wrong token: 401.
  Curl stranger{setup.http_port, "not-a-token"};
  CHECK(stranger.Call("GET", "/v1/inbox").first == 401);

  std::string case_id = SubmitCase(network, "Allocation suspendue");
  REQUIRE(receiver.WaitDelivered(1, 30000));
  Received webhook = receiver.delivered()[0];
  CHECK(webhook.verified);
  json event = json::parse(webhook.body);
  CHECK(event["type"] == "case.delivered");
  CHECK(event["caseId"] == case_id);
  CHECK(event["case"]["subject"] == "Allocation suspendue");
  CHECK(webhook.id.rfind("msg_", 0) == 0);

  // The same event in the feed, with the same cursor.
  json events = WaitForEvents(curl, "", 1);
  REQUIRE(events.size() >= 1);
  CHECK(events[0]["type"] == "case.delivered");
  CHECK(events[0]["cursor"] == event["cursor"]);

  // The inbox page and the case.
  auto [inbox_status, inbox] = curl.Call("GET", "/v1/inbox?limit=10");
  CHECK(inbox_status == 200);
  REQUIRE(inbox["items"].size() == 1);
  CHECK(inbox["items"][0]["caseId"] == case_id);
  CHECK(inbox["nextCursor"].is_null());
  CHECK(curl.Call("GET", "/v1/inbox?state=ANSWERED").second["items"].empty());
  CHECK(curl.Call("GET", "/v1/inbox?state=BOGUS").first == 400);
  auto [case_status, view] = curl.Call("GET", "/v1/cases/" + case_id);
  CHECK(case_status == 200);
  CHECK(view["state"] == "DELIVERED");
  CHECK(curl.Call("GET", "/v1/cases/PER-0000-0000").first == 404);

  // Bad bodies: typed 400s, nothing forwarded.
  CHECK(curl.Call("POST", "/v1/cases/" + case_id + "/reply", R"({"txt":"x"})").first == 400);
  CHECK(curl.Call("POST", "/v1/cases/" + case_id + "/reply", R"({"text":5})").first == 400);
  CHECK(curl.Call("POST", "/v1/cases/" + case_id + "/transfer", R"({"to":"caf"})").first ==
        400);

  auto [ack_status, ack] = curl.Call("POST", "/v1/cases/" + case_id + "/ack", R"({"note":"vu"})");
  CHECK((ack_status == 200 || ack_status == 202));
  CHECK(ack["caseId"] == case_id);
  auto [reply_status, reply] = curl.Call("POST", "/v1/cases/" + case_id + "/reply",
                                         R"({"text":"Versement rétabli le 3"})");
  CHECK(reply_status == 200);
  CHECK(reply["state"] == "ANSWERED");
  CHECK(reply["queuedLocally"] == false);

  // The contact point sees the reply.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::string output;
  while (std::chrono::steady_clock::now() < deadline) {
    output = network.Aplus("--json status " + case_id).second;
    if (output.find("Versement rétabli le 3") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(output.find("Versement rétabli le 3") != std::string::npos);
}

TEST_CASE("failing webhooks (500, timeout, connection refused) are retried across restarts of "
          "the partner gateway and delivered in feed order with the same webhook-id" *
          doctest::timeout(180)) {
  TestNetwork network("partner-webhooks");
  PartnerSetup setup(network);
  Receiver receiver(setup.receiver_port, setup.secrets);
  receiver.SetMode(Mode::kFail500);
  receiver.Start();
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartAgentGateway());
  REQUIRE(network.StartPartnerGateway("france-travail", setup.Flags(network)));

  std::string first = SubmitCase(network, "Premier");
  std::string second = SubmitCase(network, "Second");
  REQUIRE(receiver.WaitAttempts(3, 30000));  // 500, retried
  // Feed order: only the first is tried while it fails.
  for (const auto& attempt : receiver.attempts()) {
    CHECK(json::parse(attempt.body)["caseId"] == first);
  }
  const std::string first_id = receiver.attempts()[0].id;

  // Timeouts.
  receiver.SetMode(Mode::kHang);
  size_t seen = receiver.attempts().size();
  REQUIRE(receiver.WaitAttempts(seen + 2, 30000));

  // A clean stop while failing, then connection refused across a crash.
  CHECK(network.partner_gateway().Stop() == 0);
  receiver.Stop();
  REQUIRE(network.StartPartnerGateway("france-travail", setup.Flags(network)));
  bool refused = network.partner_gateway().WaitForLog("connection refused", 30000);
  REQUIRE_MESSAGE(refused, network.partner_gateway().Log());

  // `aplus partner webhooks` lists the attempts, with their errors.
  auto [list_code, listing] = network.Aplus("partner webhooks");
  INFO(listing);
  CHECK(list_code == 0);
  CHECK(listing.find(first_id) != std::string::npos);
  CHECK(listing.find("connection refused") != std::string::npos);
  CHECK(listing.find("500") != std::string::npos);

  // Failing for longer than --webhook-failing-after: logged once, reported to the broker.
  REQUIRE(network.partner_gateway().WaitForLog("failing since", 30000));
  auto stats_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::string stats;
  while (std::chrono::steady_clock::now() < stats_deadline) {
    stats = network.Aplus("stats").second;
    if (stats.find("FAILING WEBHOOKS: partner france-travail") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK_MESSAGE(stats.find("FAILING WEBHOOKS: partner france-travail") != std::string::npos,
                stats);

  network.partner_gateway().Kill();
  REQUIRE(network.StartPartnerGateway("france-travail", setup.Flags(network)));

  receiver.SetMode(Mode::kOk);
  receiver.Start();
  REQUIRE(receiver.WaitDelivered(2, 60000));
  auto delivered = receiver.delivered();
  CHECK(delivered[0].id == first_id);
  CHECK(delivered[0].verified);
  CHECK(delivered[1].verified);
  CHECK(json::parse(delivered[0].body)["caseId"] == first);
  CHECK(json::parse(delivered[1].body)["caseId"] == second);
  CHECK(delivered[1].id != first_id);
  // Every attempt of the first webhook carried its one id.
  for (const auto& attempt : receiver.attempts()) {
    if (json::parse(attempt.body)["caseId"] == first) CHECK(attempt.id == first_id);
  }
}
