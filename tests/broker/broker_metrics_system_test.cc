// The broker's metrics and health listener end to end (docs/METRICS.md, program "broker"): a
// real aplus-broker with --http-listen on a free loopback port, driven through a submission, a
// delivery, an acknowledgement, a reply, a dead letter and SLA alerts (France Travail gets "8
// secondes", warned 4 seconds before), then scraped with curl: the counters say what happened,
// `promtool check metrics` accepts the text, GET /health answers, the Stats answer carries the
// same numbers, and a queue's oldest age survives a restart. Off loopback without TLS the
// broker refuses to start.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include "common/exit_codes.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::string kQueue = "partner/france-travail";
const std::string kPartner = "france-travail";

// The output of `command` (stdout and stderr) and its exit status.
std::pair<int, std::string> Run(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

struct Scrape {
  int status = 0;
  std::string content_type;
  std::string body;
};

// GET `url` with curl (bounded by --max-time): status, Content-Type, body.
Scrape Get(const std::string& url) {
  auto [code, output] = Run("curl -s -i --max-time 10 '" + url + "'");
  Scrape scrape;
  if (code != 0) return scrape;
  size_t head_end = output.find("\r\n\r\n");
  if (head_end == std::string::npos) return scrape;
  std::istringstream head(output.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.size() > 12) scrape.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string lower = line;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("content-type:", 0) == 0) scrape.content_type = line.substr(14);
  }
  scrape.body = output.substr(head_end + 4);
  return scrape;
}

std::string SubmitOne(SyncClient& agent, const std::string& key,
                      const std::string& partner = kPartner) {
  auto accepted = agent.CallOk(SubmitRequest("Dossier " + key, key, partner), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  return accepted->accepted().case_id();
}

std::string Counter(const std::string& name, const std::string& partner = kPartner) {
  return name + "{partner=\"" + partner + "\"}";
}

}  // namespace

TEST_CASE("the broker's /metrics counts what happened, promtool accepts it, Stats agrees" *
          doctest::timeout(120)) {
  TempDir config_dir("broker-metrics-config");
  std::string config = testing::WriteShortWindowConfig(config_dir, "8 secondes", "4 secondes");
  auto network = std::make_unique<TestNetwork>("broker-metrics");
  std::string url = network->EnableBrokerHttp();
  std::vector<std::string> flags = {"--config", config, "--ack-lease-ms", "1000",
                                    "--max-attempts", "2"};
  REQUIRE(network->StartBroker(flags));
  auto op = network->BrokerClient(wire::OPERATOR, "operator");
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto partner = network->BrokerClient(wire::PARTNER_GATEWAY, kPartner);

  // A goes unacknowledged (redelivered once, then dead-lettered, then warned and breached);
  // B is delivered, acknowledged and answered before its warning.
  std::string case_a = SubmitOne(*agent, "metrics-a");
  std::string case_b = SubmitOne(*agent, "metrics-b");
  REQUIRE(partner->CallOk(SubscribeRequest(10), 5000).ok());
  bool b_acked = false;
  // Acknowledges every delivery but A's escalation (SLA reminders included).
  auto take_deliveries = [&](int wait_ms) {
    while (auto delivery = NextDelivery(*partner, wait_ms)) {
      if (delivery->has_escalation() && delivery->escalation().case_id() == case_a) continue;
      REQUIRE(AckDelivery(*partner, *delivery).ok());
      if (delivery->has_escalation() && delivery->escalation().case_id() == case_b) b_acked = true;
    }
  };
  REQUIRE(WaitUntil([&] { take_deliveries(20); return b_acked; }, 10000));
  REQUIRE(partner->CallOk(AcknowledgeRequest(case_b, "pris en charge", "ack-b"), 5000).ok());
  REQUIRE(partner->CallOk(ReplyRequest(case_b, "Dossier rétabli.", "reply-b"), 5000).ok());
  auto dead_lettered_and_breached = [&] {
    take_deliveries(20);
    auto stats = OperatorStats(*op);
    if (!stats.ok() || QueueStatsOf(*stats, kQueue).dead_lettered() != 1) return false;
    auto alerts = AllAlerts(*op);
    return alerts.ok() && AlertsOf(*alerts, case_a, wire::Alert::BREACH).size() == 1;
  };
  REQUIRE(WaitUntil(dead_lettered_and_breached, 40000, 100));
  take_deliveries(300);  // the breach's reminder

  Scrape scrape = Get(url + "/metrics");  // loopback: no token
  REQUIRE(scrape.status == 200);
  CHECK(scrape.content_type == "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = scrape.body;
  INFO(text);
  CHECK(Sample(text, Counter("aplus_escalations_submitted_total")) == 2);
  CHECK(Sample(text, Counter("aplus_escalations_delivered_total")) == 1);
  CHECK(Sample(text, Counter("aplus_escalations_acknowledged_total")) == 1);
  CHECK(Sample(text, Counter("aplus_escalations_answered_total")) == 1);
  CHECK(Sample(text, Counter("aplus_escalations_redelivered_total")) >= 1);
  CHECK(Sample(text, Counter("aplus_escalations_dead_lettered_total")) == 1);
  // Every partner of the network is there from the start, at zero.
  CHECK(Sample(text, Counter("aplus_escalations_submitted_total", "cpam")) == 0);
  // The SLA alerts counted are the alerts raised (B may have been warned on a slow machine).
  auto alerts = AllAlerts(*op);
  REQUIRE(alerts.ok());
  double warnings = 0, breaches = 0;
  for (const auto& alert : *alerts) {
    if (alert.partner() != kPartner) continue;
    warnings += alert.kind() == wire::Alert::WARNING;
    breaches += alert.kind() == wire::Alert::BREACH;
  }
  CHECK(warnings >= 1);
  CHECK(breaches >= 1);
  CHECK(Sample(text, "aplus_sla_alerts_total{kind=\"warning\",partner=\"france-travail\"}") ==
        warnings);
  CHECK(Sample(text, "aplus_sla_alerts_total{kind=\"breach\",partner=\"france-travail\"}") ==
        breaches);
  CHECK(Sample(text, "aplus_cases_at_risk{partner=\"france-travail\"}") == 0);
  CHECK(Sample(text, "aplus_cases{state=\"ANSWERED\"}") == 1);
  CHECK(Sample(text, "aplus_cases{state=\"SUBMITTED\"}") == 1);
  CHECK(Sample(text, "aplus_queue_messages_ready{queue=\"partner/france-travail\"}") == 0);
  CHECK(Sample(text, "aplus_queue_messages_unacked{queue=\"partner/france-travail\"}") == 0);
  CHECK(Sample(text, "aplus_sessions{role=\"partner_gateway\"}") == 1);
  CHECK(Sample(text, "aplus_sessions{role=\"agent_gateway\"}") == 1);
  CHECK(Sample(text, "aplus_sessions{role=\"operator\"}") == 1);
  CHECK(Sample(text, "aplus_submit_durable_seconds_count") == 2);
  CHECK(Sample(text, "aplus_commit_seconds_count") >= 1);
  CHECK(Sample(text, "aplus_group_commit_requests_count") >= 1);
  CHECK(Sample(text, "aplus_build_info{program=\"aplus-broker\",version=\"0.1.0\"}") == 1);
  // A single broker has no pair: none of the aplus_replication_* families, not even HELP.
  CHECK(text.find("aplus_replication") == std::string::npos);
  double started_at = Sample(text, "process_start_time_seconds").value_or(-1);
  CHECK(started_at > 1.7e9);
  CHECK(text.find(case_a) == std::string::npos);  // no case id in any label
  {
    auto [code, output] = PromtoolCheck(text);
    INFO(output);
    CHECK(code == 0);
  }

  // GetStats: the same figures, from the same function.
  auto stats = OperatorStats(*op);
  REQUIRE(stats.ok());
  CHECK(stats->submitted_total() == 2);
  CHECK(stats->delivered_total() == 1);
  CHECK(stats->answered_total() == 1);
  auto partners = stats->sessions_by_role().find("partner_gateway");
  REQUIRE(partners != stats->sessions_by_role().end());
  CHECK(partners->second == 1);
  CHECK(stats->started_at_ms() / 1000 == static_cast<int64_t>(started_at));
  auto queue = QueueStatsOf(*stats, kQueue);
  CHECK(queue.partner() == kPartner);
  CHECK(queue.territory().empty());
  CHECK(queue.ready() == 0);
  CHECK(queue.dead_lettered() == 1);

  // Health: the instance the Stats answer names.
  Scrape health = Get(url + "/health");
  REQUIRE(health.status == 200);
  auto json = nlohmann::json::parse(health.body, nullptr, false);
  REQUIRE(json.is_object());
  CHECK(json["status"] == "ok");
  CHECK(json["program"] == "aplus-broker");
  CHECK(json["version"] == "0.1.0");
  CHECK(json["instance_id"] == stats->instance_id());
  CHECK(json["started_at"].get<std::string>().size() == 20);  // 2026-11-30T02:10:04Z
  CHECK(Get(url + "/nothing-here").status == 404);
}

TEST_CASE("a waiting item's age shows in Stats and /metrics, also after a restart" *
          doctest::timeout(90)) {
  auto network = std::make_unique<TestNetwork>("broker-metrics-age");
  std::string url = network->EnableBrokerHttp();
  REQUIRE(network->StartBroker());
  auto op = network->BrokerClient(wire::OPERATOR, "operator");
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  SubmitOne(*agent, "age-1", "cpam");  // no CPAM gateway: it waits
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto stats = OperatorStats(*op);
  REQUIRE(stats.ok());
  auto queue = QueueStatsOf(*stats, "partner/cpam");
  CHECK(queue.ready() == 1);
  CHECK(queue.partner() == "cpam");
  CHECK(queue.oldest_age_ms() >= 1500);
  CHECK(queue.oldest_age_ms() < 60000);
  Scrape scrape = Get(url + "/metrics");
  REQUIRE(scrape.status == 200);
  CHECK(Sample(scrape.body, "aplus_queue_oldest_message_age_seconds{queue=\"partner/cpam\"}") >=
        1.5);
  CHECK(Sample(scrape.body, "aplus_queue_messages_ready{queue=\"partner/cpam\"}") == 1);

  // Enqueue times are not stored: after a restart the oldest item's age comes from its case.
  REQUIRE(RestartBroker(*network));
  op = network->BrokerClient(wire::OPERATOR, "operator");
  auto restarted = OperatorStats(*op);
  REQUIRE(restarted.ok());
  CHECK(QueueStatsOf(*restarted, "partner/cpam").oldest_age_ms() >= 1500);
  CHECK(QueueStatsOf(*restarted, "partner/cpam").ready() == 1);
  // A restart is a new process: its start time moved on, its counters start again.
  Scrape again = Get(url + "/metrics");
  REQUIRE(again.status == 200);
  CHECK(Sample(again.body, Counter("aplus_escalations_submitted_total", "cpam")) == 0);
  CHECK(Sample(again.body, "aplus_queue_oldest_message_age_seconds{queue=\"partner/cpam\"}") >=
        1.5);
}

TEST_CASE("the broker refuses a non-loopback metrics listener without TLS" *
          doctest::timeout(60)) {
  TestNetwork network("broker-metrics-exposed");
  CHECK_FALSE(network.StartBroker({"--http-listen", "0.0.0.0:" + std::to_string(FreePort()),
                                           "--token-dir", network.dir().Sub("tokens")}));
  REQUIRE(WaitUntil([&] { return !network.broker().Running(); }, 10000));
  CHECK(network.broker().ExitCode() == kExitStartupError);
  INFO(network.broker().Log());
  CHECK(network.broker().Log().find("TLS") != std::string::npos);
}
