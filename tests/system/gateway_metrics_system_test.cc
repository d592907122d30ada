// GET /metrics on both gateways' HTTP API listeners with the real programs (docs/METRICS.md):
// a network with both gateways' HTTP on free loopback ports, a submission, its delivery, a
// reply over the partner's API, and webhooks to a receiver in the test that first answers 500
// (retried, then "failing"), then 410 (failed for good), then 200 (delivered). Each scrape needs
// no token on loopback, answers text/plain; version=0.0.4, and passes `promtool check metrics`.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "common/token_store.h"
#include "gateway/webhook_signature.h"
#include "http/http_server.h"
#include "tests/support/curl_client.h"
#include "tests/support/network.h"
#include "tests/support/prometheus_text.h"

using namespace aplus;
using namespace aplus::testing;
using nlohmann::json;

namespace {

// The partner's webhook endpoint: answers every POST with the status of the moment.
// Thread rules: the server thread answers and counts; the test sets the status.
class Receiver {
 public:
  explicit Receiver(int port) {
    http::HttpServerOptions options;
    options.port = static_cast<uint16_t>(port);
    auto started = http::HttpServer::Start(
        options, [this](http::HttpRequest, http::Responder responder) {
          attempts_++;
          responder.Send(http::HttpResponse::Json(status_.load(), "{}"));
        });
    REQUIRE(started.ok());
    server_ = std::move(started).value();
  }
  void SetStatus(int status) { status_.store(status); }
  int attempts() const { return attempts_.load(); }

 private:
  std::atomic<int> status_{500};
  std::atomic<int> attempts_{0};
  std::unique_ptr<http::HttpServer> server_;
};

// One scrape of `base_url`/metrics without a token (checked against docs/openapi.yaml).
std::string Scrape(TestNetwork& network, const std::string& base_url) {
  HttpReply reply = CurlRequest(network.dir().path().string(), "GET", base_url, "/metrics", "");
  INFO(base_url << " -> " << reply.status << " " << reply.body.substr(0, 300));
  REQUIRE(reply.status == 200);
  CHECK(reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");
  return reply.body;
}

// Scrapes until `series` has at least `at_least` (bounded); returns the last text.
std::string ScrapeUntil(TestNetwork& network, const std::string& base_url,
                        const std::string& series, double at_least, int timeout_ms = 30000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string text;
  while (std::chrono::steady_clock::now() < deadline) {
    text = Scrape(network, base_url);
    auto value = Sample(text, series);
    if (value && *value >= at_least) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return text;
}

std::string SubmitCase(TestNetwork& network, const std::string& subject) {
  auto [code, output] = network.Aplus(
      "--json submit --agent agent-noce-1 --partner france-travail --category "
      "unemployment-benefits --subject '" +
      subject + "' --body 'Versement interrompu' --citizen 'Jeanne Martin' --mandate M-1");
  INFO(output);
  REQUIRE(code == 0);
  auto start = output.find('{');
  REQUIRE(start != std::string::npos);
  std::string id = json::parse(output.substr(start)).value("caseId", "");
  REQUIRE_MESSAGE(!id.empty(), output);
  return id;
}

}  // namespace

TEST_CASE("both gateways serve /metrics on loopback without a token: commits, outbox, HTTP "
          "requests by route pattern, submissions, webhook outcomes; promtool accepts them" *
          doctest::timeout(240)) {
  TestNetwork network("gateway-metrics");
  const std::string agent_url = network.EnableAgentHttp();
  const int partner_port = FreePort();
  const std::string partner_url = "http://127.0.0.1:" + std::to_string(partner_port);
  const int receiver_port = FreePort();
  std::string token_dir = network.dir().Sub("partner-tokens");
  ::mkdir(token_dir.c_str(), 0700);
  auto token = AddToken(token_dir, "france-travail-si", {}, 0);
  REQUIRE(token.ok());
  auto secret = WebhookSecret::Generate();
  REQUIRE(secret.ok());
  std::string secret_file = network.dir().Sub("webhook-secret");
  std::ofstream(secret_file) << secret->ToString() << "\n";
  ::chmod(secret_file.c_str(), 0600);

  Receiver receiver(receiver_port);  // 500 first: retried
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartAgentGateway());
  REQUIRE(network.StartPartnerGateway(
      "france-travail",
      {"--http-listen", "127.0.0.1:" + std::to_string(partner_port), "--token-dir", token_dir,
       "--webhook-url", "http://127.0.0.1:" + std::to_string(receiver_port) + "/hooks",
       "--webhook-secret-file", secret_file, "--webhook-schedule",
       "0s,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms;every=1s;until=5m;jitter=0",
       "--webhook-failing-after", "2 seconds", "--webhook-timeout-ms", "2000"}));

  // Before anything happened: the process metrics and zeroes, in the text format.
  std::string agent_text = Scrape(network, agent_url);
  INFO(agent_text);
  CHECK(agent_text.find(R"(aplus_build_info{program="aplus-agent-gateway",version=")") !=
        std::string::npos);
  CHECK(Sample(agent_text, "process_start_time_seconds").value_or(0) > 1.7e9);
  CHECK(Sample(agent_text, R"(aplus_outbox_entries{state="queued"})") == 0);
  CHECK(Sample(agent_text, R"(aplus_outbox_entries{state="failed"})") == 0);

  // A submission (through the agent gateway's local endpoint) reaches the partner; its webhook
  // is refused 500 and retried until the partner gateway calls it failing.
  std::string first = SubmitCase(network, "Allocation suspendue");
  std::string partner_text =
      ScrapeUntil(network, partner_url, "aplus_webhooks_failing", 1, 30000);
  INFO(partner_text);
  CHECK(Sample(partner_text, "aplus_webhooks_failing") == 1);
  CHECK(Sample(partner_text, "aplus_webhooks_pending") == 1);
  CHECK(Sample(partner_text, R"(aplus_webhook_deliveries_total{outcome="retried"})")
            .value_or(0) >= 2);
  CHECK(Sample(partner_text, R"(aplus_webhook_deliveries_total{outcome="delivered"})") == 0);

  // 410: refused for good (failed), then 200 for the next event (delivered).
  receiver.SetStatus(410);
  partner_text = ScrapeUntil(network, partner_url,
                             R"(aplus_webhook_deliveries_total{outcome="failed"})", 1);
  CHECK(Sample(partner_text, R"(aplus_webhook_deliveries_total{outcome="failed"})") == 1);
  receiver.SetStatus(200);
  std::string second = SubmitCase(network, "Radiation contestée");
  partner_text = ScrapeUntil(network, partner_url,
                             R"(aplus_webhook_deliveries_total{outcome="delivered"})", 1);
  CHECK(Sample(partner_text, R"(aplus_webhook_deliveries_total{outcome="delivered"})") == 1);

  // A reply over the partner's API (with its token), a 401 without one: counted by pattern.
  HttpReply reply = CurlRequest(network.dir().path().string(), "POST", partner_url,
                                "/v1/cases/" + second + "/reply", *token,
                                R"({"text":"Dossier rétabli"})");
  CHECK(reply.status == 200);
  CHECK(CurlRequest(network.dir().path().string(), "GET", partner_url, "/v1/cases/" + second, "").status ==
        401);
  // The contact point gets the reply.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (network.Aplus("--json status " + second).second.find("Dossier rétabli") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  partner_text = ScrapeUntil(network, partner_url, "aplus_webhooks_pending", 0);
  CHECK(Sample(partner_text, R"(aplus_http_requests_total{code="200",route="/v1/cases/{id}/reply"})") ==
        1);
  CHECK(Sample(partner_text, R"(aplus_http_requests_total{code="401",route="/v1/cases/{id}"})") ==
        1);
  CHECK(Sample(partner_text, R"(aplus_http_requests_total{code="200",route="/metrics"})")
            .value_or(0) >= 3);
  CHECK(partner_text.find(first) == std::string::npos);   // no case id in any label
  CHECK(partner_text.find(second) == std::string::npos);
  CHECK(Sample(partner_text, "aplus_commit_seconds_count").value_or(0) >= 2);
  CHECK(Sample(partner_text, R"(aplus_outbox_entries{state="queued"})") == 0);
  CHECK(Sample(partner_text, "aplus_webhooks_failing") == 0);
  CHECK(partner_text.find(R"(aplus_build_info{program="aplus-partner-gateway")") !=
        std::string::npos);

  agent_text = Scrape(network, agent_url);
  CHECK(Sample(agent_text, "aplus_submit_durable_seconds_count") == 2);
  CHECK(Sample(agent_text, R"(aplus_submit_durable_seconds_bucket{le="+Inf"})") == 2);
  CHECK(Sample(agent_text, "aplus_commit_seconds_count").value_or(0) >= 2);
  CHECK(Sample(agent_text, R"(aplus_outbox_entries{state="queued"})") == 0);
  CHECK(Sample(agent_text, R"(aplus_http_requests_total{code="200",route="/metrics"})") >= 1);

  for (const auto& text : {agent_text, partner_text}) {
    auto [code, output] = PromtoolCheck(text);
    INFO(output);
    CHECK(code == 0);
  }
}
