// The operator's command line against the real broker (issue 8): `aplus case CASE` (finding 11),
// `aplus dlq list | requeue` (finding 5) and `aplus alerts --follow` catching up after a broker
// restart (finding 12).
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/support/audit_test_helpers.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;
using nlohmann::json;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs `aplus` against the network's broker with the key of `role` "operator".
std::pair<int, std::string> AplusAs(TestNetwork& network, wire::Role role,
                                    const std::string& arguments) {
  std::string command = BinPath("aplus") + " --broker " + network.broker_endpoint() +
                        " --alerts " + network.alerts_endpoint() + " --key " +
                        network.KeyFile(role, role == wire::ADMINISTRATOR ? "administration" : "operator") + " --broker-key " +
                        network.BrokerPublicKeyFile() + " --timeout-ms 10000 " + arguments +
                        " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string SubmitOne(SyncClient& agent, const std::string& key) {
  auto accepted = agent.CallOk(
      ConsentedSubmit("Allocation suspendue " + key, "Versement interrompu", "Jeanne Martin", key),
      5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  return accepted->accepted().case_id();
}

// The JSON lines of a follower's log that parse as alerts, by alert id, with their count.
std::map<std::string, int> FollowedAlerts(const std::string& log) {
  std::map<std::string, int> seen;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    json alert = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (alert.is_discarded() || !alert.contains("alertId")) continue;
    ++seen[alert["alertId"].get<std::string>()];
  }
  return seen;
}

}  // namespace

TEST_CASE("aplus case: an operator looks a case up at the broker; personal data for administrators only" *
          doctest::timeout(60)) {
  TestNetwork network("operator-case-cli");
  REQUIRE(network.StartBroker());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  std::string case_id = SubmitOne(*agent, "case-cli-1");

  auto [code, human] = AplusAs(network, wire::OPERATOR, "case " + case_id);
  INFO(human);
  CHECK(code == 0);
  CHECK(Contains(human, "Case:"));
  CHECK(Contains(human, case_id));
  CHECK(Contains(human, "SUBMITTED"));
  CHECK(Contains(human, "france-travail"));
  CHECK(Contains(human, "Timeline:"));
  CHECK_FALSE(Contains(human, "Jeanne Martin"));
  CHECK_FALSE(Contains(human, "Versement interrompu"));

  auto [admin_code, admin_human] = AplusAs(network, wire::ADMINISTRATOR, "case " + case_id);
  INFO(admin_human);
  CHECK(admin_code == 0);
  CHECK(Contains(admin_human, "Jeanne Martin"));
  CHECK(Contains(admin_human, "Versement interrompu"));

  auto [json_code, json_out] = AplusAs(network, wire::OPERATOR, "--json case " + case_id);
  INFO(json_out);
  CHECK(json_code == 0);
  json view = json::parse(json_out);
  CHECK(view["summary"]["caseId"] == case_id);
  CHECK(view["summary"]["state"] == "SUBMITTED");

  auto [missing_code, missing_out] = AplusAs(network, wire::OPERATOR, "case PER-0000-0000");
  INFO(missing_out);
  CHECK(missing_code == 1);
  CHECK(Contains(missing_out, "UNKNOWN_CASE"));
}

TEST_CASE("aplus dlq: list the parked items, requeue a case, then a partner's queues" *
          doctest::timeout(90)) {
  const std::vector<std::string> short_lease = {"--ack-lease-ms", "300", "--max-attempts", "1"};
  auto started = StartNetwork("operator-dlq-cli", short_lease);
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  std::string first = SubmitOne(*agent, "dlq-cli-1");
  std::string second = SubmitOne(*agent, "dlq-cli-2");
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  {
    auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
    REQUIRE(partner->CallOk(SubscribeRequest(10), 5000).ok());
    auto parked = [&] {
      while (NextDelivery(*partner, 20)) {
      }
      auto stats = OperatorStats(*op);
      return stats.ok() && stats->dead_lettered() == 2;
    };
    REQUIRE(WaitUntil(parked, 15000));
  }

  auto [code, human] = AplusAs(network, wire::OPERATOR, "dlq list --partner france-travail");
  INFO(human);
  CHECK(code == 0);
  CHECK(Contains(human, "PARKED AT"));
  CHECK(Contains(human, "partner/france-travail"));
  CHECK(Contains(human, first));
  CHECK(Contains(human, second));
  CHECK(Contains(human, "escalation"));

  auto [json_code, json_out] = AplusAs(network, wire::OPERATOR, "--json dlq list");
  INFO(json_out);
  CHECK(json_code == 0);
  CHECK(json::parse(json_out)["items"].size() == 2);

  // The alerts say what to type.
  auto [alerts_code, alerts_out] = AplusAs(network, wire::OPERATOR, "alerts --kind dead-letter");
  INFO(alerts_out);
  CHECK(alerts_code == 0);
  CHECK(Contains(alerts_out, first + "/DEAD_LETTER/1"));
  CHECK(Contains(alerts_out, second + "/DEAD_LETTER/1"));

  auto [requeue_code, requeue_out] = AplusAs(network, wire::OPERATOR, "dlq requeue " + first);
  INFO(requeue_out);
  CHECK(requeue_code == 0);
  CHECK(Contains(requeue_out, "requeued 1 item of 1 case"));
  CHECK(Contains(requeue_out, first));
  auto [again_code, again_out] = AplusAs(network, wire::OPERATOR, "dlq requeue " + first);
  INFO(again_out);
  CHECK(again_code == 1);
  CHECK(Contains(again_out, "NOT_DEAD_LETTERED"));

  auto [usage_code, usage_out] = AplusAs(network, wire::OPERATOR, "dlq requeue --partner france-travail");
  INFO(usage_out);
  CHECK(usage_code == 2);
  auto [all_code, all_out] =
      AplusAs(network, wire::OPERATOR, "--json dlq requeue --partner france-travail --all");
  INFO(all_out);
  CHECK(all_code == 0);
  json requeued = json::parse(all_out);
  CHECK(requeued["items"] == 1);
  CHECK(requeued["caseIds"][0] == second);

  auto view = GetCaseView(*op, first);
  REQUIRE(view.ok());
  CHECK_FALSE(view->summary().dead_lettered());
  CHECK(EventsOf(*view, "REQUEUED").size() == 1);
}

TEST_CASE("aplus alerts --follow shows every alert exactly once across broker restarts" *
          doctest::timeout(150)) {
  TempDir config_dir("operator-follow-config");
  std::vector<std::string> flags = {"--config", testing::WriteShortWindowConfig(config_dir, "3 secondes", "1 secondes")};
  auto started = StartNetwork("operator-follow", flags);
  REQUIRE(started);
  TestNetwork& network = *started;

  ChildProcess follower(
      "aplus",
      {"--broker", network.broker_endpoint(), "--alerts", network.alerts_endpoint(), "--key",
       network.KeyFile(wire::OPERATOR, "operator"), "--broker-key", network.BrokerPublicKeyFile(),
       "--json", "alerts", "--follow", "--for-seconds", "120"},
      network.dir().Sub("follower.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  std::vector<std::string> cases;
  auto submit_some = [&](int n, const std::string& round) {
    auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
    for (int i = 0; i < n; ++i) cases.push_back(SubmitOne(*agent, round + "-" + std::to_string(i)));
  };
  // Round 1: the broker is killed before the warnings (2 s) and restarted after the deadlines
  // (3 s): every alert is raised at start-up, while the follower's stream reconnects.
  submit_some(3, "r1");
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  network.broker().Kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  REQUIRE_MESSAGE(RestartBroker(network, flags), network.broker().Log());
  // Round 2: a quick restart (as `systemctl restart` does) while the alerts fall due.
  submit_some(3, "r2");
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));
  REQUIRE_MESSAGE(RestartBroker(network, flags), network.broker().Log());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE_MESSAGE(RestartBroker(network, flags), network.broker().Log());

  // The broker's stored alerts are the truth: a warning and a breach per case.
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  std::vector<wire::Alert> stored;
  auto all_raised = [&] {
    auto alerts = AllAlerts(*op, /*include_acked=*/true);
    if (!alerts.ok()) return false;
    stored = *alerts;
    return stored.size() == 2 * cases.size();
  };
  REQUIRE_MESSAGE(WaitUntil(all_raised, 20000, 100), stored.size() << " alerts stored");
  auto all_followed = [&] { return FollowedAlerts(follower.Log()).size() >= stored.size(); };
  bool followed = WaitUntil(all_followed, 15000, 100);
  follower.Stop();
  std::string log = follower.Log();
  INFO(log);
  CHECK(followed);
  auto seen = FollowedAlerts(log);
  for (const auto& alert : stored) {
    CHECK_MESSAGE(seen[alert.alert_id()] == 1,
                  alert.alert_id() << " shown " << seen[alert.alert_id()] << " times");
  }
  CHECK(seen.size() == stored.size());
}
