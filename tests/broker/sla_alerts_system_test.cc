// SLA alerts end to end, with the real aplus-broker and the wall clock: France Travail gets
// "8 secondes" to reply (an "urgent" category gets 2) and the network warns 4 seconds before a
// deadline. Alerts must reach the PUB endpoint, the contact point's mailbox and the partner's
// queue, survive a SIGKILL without being lost or doubled, catch up on a deadline that passed
// while the broker was down, and follow the deadline when a question pauses the clock.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "tests/support/alert_subscriber.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";
const std::string kMailbox = "mailbox/mairie-perche-en-noce";
const std::string kPartnerQueue = "partner/france-travail";
constexpr int64_t kWindowMs = 8000;
constexpr int64_t kLeadMs = 4000;
constexpr int64_t kUrgentWindowMs = 2000;

// A network whose broker serves the short-window config.
struct SlaNetwork {
  explicit SlaNetwork(const std::string& label) : config_dir(label + "-config") {
    config_path = testing::WriteShortWindowConfig(
        config_dir, "8 secondes", "4 secondes",
        "\n[partners.category_policies]\nurgent = \"2 secondes\"\n");
    network = StartNetwork(label, BrokerFlags());
    REQUIRE(network);
    operator_client = network->BrokerClient(wire::OPERATOR, "operator");
    agent = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
    partner = network->BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  }
  std::vector<std::string> BrokerFlags() const { return {"--config", config_path}; }
  bool Restart() { return RestartBroker(*network, BrokerFlags()); }

  TempDir config_dir;
  std::string config_path;
  std::unique_ptr<TestNetwork> network;
  std::unique_ptr<SyncClient> operator_client, agent, partner;
};

wire::Accepted Submit(SyncClient& agent, const std::string& key,
                      const std::string& category = "unemployment-benefits") {
  wire::Envelope request = SubmitRequest("Dossier " + key, key);
  request.mutable_submit()->set_category(category);
  auto accepted = agent.CallOk(request, 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  REQUIRE(accepted->has_accepted());
  return accepted->accepted();
}

wire::CaseView View(SyncClient& client, const std::string& case_id) {
  auto view = GetCaseView(client, case_id);
  REQUIRE_MESSAGE(view.ok(), view.status().ToString());
  return *view;
}

// The next Delivery carrying an alert (other items are acknowledged and skipped).
std::optional<wire::Alert> NextAlertDelivery(SyncClient& client, int timeout_ms) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (true) {
    int64_t left = deadline - SteadyNowMs();
    if (left <= 0) return std::nullopt;
    auto delivery = NextDelivery(client, static_cast<int>(left));
    if (!delivery) return std::nullopt;
    CHECK(AckDelivery(client, *delivery).ok());
    if (delivery->has_alert()) return delivery->alert();
  }
}

bool FollowCommandExists() {
  std::string command = BinPath("aplus") + " alerts --help 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return false;
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  ::pclose(pipe);
  return output.find("--follow") != std::string::npos &&
         output.find("--for-seconds") != std::string::npos;
}

// The alerts printed as JSON lines by `aplus --json alerts --follow`, in order.
std::vector<nlohmann::json> FollowedAlerts(const std::string& log) {
  std::vector<nlohmann::json> alerts;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) alerts.push_back(std::move(parsed));
  }
  return alerts;
}

}  // namespace

TEST_CASE("a warning and then a breach reach the PUB endpoint, the mailbox and the partner") {
  SlaNetwork sla("sla-alerts-flow");
  TestNetwork& network = *sla.network;
  AlertSubscriber subscriber(network.context(), network.alerts_endpoint(),
                             network.Keys(wire::OPERATOR, "operator"));
  REQUIRE(sla.agent->CallOk(SubscribeRequest(8), 5000).ok());
  REQUIRE(sla.partner->CallOk(SubscribeRequest(8), 5000).ok());
  std::unique_ptr<ChildProcess> follow;
  bool follow_exists = FollowCommandExists();
  if (follow_exists) {
    follow = std::make_unique<ChildProcess>(
        "aplus",
        std::vector<std::string>{"--broker", network.broker_endpoint(), "--alerts",
                                 network.alerts_endpoint(), "--key",
                                 network.KeyFile(wire::OPERATOR, "operator"), "--broker-key",
                                 network.BrokerPublicKeyFile(), "--json", "alerts", "--follow",
                                 "--for-seconds", "60"},
        network.dir().Sub("follow.log"));
  } else {
    MESSAGE("`aplus alerts --follow --for-seconds` is not there yet: not checked");
  }
  // The subscriptions connect while the window runs: the warning is 4 s away.
  wire::Accepted accepted = Submit(*sla.agent, "flow-1");
  const std::string case_id = accepted.case_id();
  wire::CaseView view = View(*sla.operator_client, case_id);
  const int64_t submitted = view.summary().submitted_at_ms();
  CHECK(view.summary().reply_policy() == "8 secondes");
  CHECK(accepted.deadline_ms() == submitted + kWindowMs);
  CHECK(view.summary().deadline_ms() == submitted + kWindowMs);
  CHECK(view.summary().warning_at_ms() == submitted + kWindowMs - kLeadMs);

  // The partner receives the escalation itself first.
  auto escalation = NextDelivery(*sla.partner);
  REQUIRE(escalation);
  CHECK(escalation->escalation().case_id() == case_id);
  REQUIRE(AckDelivery(*sla.partner, *escalation).ok());

  auto warning = subscriber.Next(kWindowMs + 5000);
  REQUIRE_MESSAGE(warning, "no WARNING published");
  CHECK(warning->first == "alert.WARNING.france-travail.perche");
  CHECK(warning->second.kind() == wire::Alert::WARNING);
  CHECK(warning->second.case_id() == case_id);
  CHECK(warning->second.contact_point() == kContactPoint);
  CHECK(warning->second.deadline_ms() == submitted + kWindowMs);
  CHECK(warning->second.raised_at_ms() >= submitted + kWindowMs - kLeadMs);
  CHECK(UnixNowMs() < submitted + kWindowMs);  // warned before the window lapsed

  auto breach = subscriber.Next(kWindowMs + 5000);
  REQUIRE_MESSAGE(breach, "no BREACH published");
  CHECK(breach->first == "alert.BREACH.france-travail.perche");
  CHECK(breach->second.kind() == wire::Alert::BREACH);
  CHECK(breach->second.case_id() == case_id);
  CHECK(breach->second.raised_at_ms() >= submitted + kWindowMs);
  CHECK(breach->second.sequence() > warning->second.sequence());
  CHECK(breach->second.alert_id() != warning->second.alert_id());

  // The contact point's mailbox and the partner's queue carry the same two alerts, in order.
  for (auto* client : {sla.agent.get(), sla.partner.get()}) {
    auto first = NextAlertDelivery(*client, 5000);
    REQUIRE_MESSAGE(first, "no WARNING delivered");
    CHECK(first->alert_id() == warning->second.alert_id());
    CHECK(first->kind() == wire::Alert::WARNING);
    auto second = NextAlertDelivery(*client, 5000);
    REQUIRE_MESSAGE(second, "no BREACH delivered");
    CHECK(second->alert_id() == breach->second.alert_id());
    CHECK(second->kind() == wire::Alert::BREACH);
  }

  view = View(*sla.operator_client, case_id);
  CHECK(view.summary().warned());
  CHECK(view.summary().breached());
  CHECK(EventsOf(view, "SLA_WARNING").size() == 1);
  CHECK(EventsOf(view, "SLA_BREACH").size() == 1);
  CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));

  if (follow) {
    std::vector<nlohmann::json> printed;
    bool both = WaitUntil([&] {
      printed = FollowedAlerts(follow->Log());
      return printed.size() >= 2;
    }, 5000);
    CHECK_MESSAGE(both, "aplus alerts --follow printed:\n" << follow->Log());
    if (both) {
      CHECK(printed.size() == 2);
      CHECK(printed[0].value("alertId", "") == warning->second.alert_id());
      CHECK(printed[0].value("kind", "") == "WARNING");
      CHECK(printed[0].value("caseId", "") == case_id);
      CHECK(printed[1].value("alertId", "") == breach->second.alert_id());
      CHECK(printed[1].value("kind", "") == "BREACH");
    }
    CHECK(follow->Stop() == 0);
  }
}

TEST_CASE("a SIGKILL between the warning and the breach loses nothing and doubles nothing") {
  SlaNetwork sla("sla-alerts-kill");
  wire::Accepted accepted = Submit(*sla.agent, "kill-1");
  const std::string case_id = accepted.case_id();
  REQUIRE(WaitUntil([&] { return CountAlerts(*sla.operator_client, case_id, wire::Alert::WARNING) == 1; },
                    kWindowMs + 5000));
  bool breached_before_kill = CountAlerts(*sla.operator_client, case_id, wire::Alert::BREACH) != 0;
  REQUIRE(sla.Restart());
  if (breached_before_kill || UnixNowMs() >= accepted.deadline_ms()) {
    MESSAGE("the machine was slow: the breach was not due to a live timer after the restart");
  }
  REQUIRE(WaitUntil([&] { return CountAlerts(*sla.operator_client, case_id, wire::Alert::BREACH) >= 1; },
                    kWindowMs + 10000));
  // Once more, after the breach: a restart must not raise it again.
  REQUIRE(sla.Restart());
  REQUIRE(sla.operator_client->CallOk(PingRequest(), 5000).ok());
  auto alerts = AllAlerts(*sla.operator_client, /*include_acked=*/true);
  REQUIRE_MESSAGE(alerts.ok(), alerts.status().ToString());
  auto warnings = AlertsOf(*alerts, case_id, wire::Alert::WARNING);
  auto breaches = AlertsOf(*alerts, case_id, wire::Alert::BREACH);
  REQUIRE(warnings.size() == 1);
  REQUIRE(breaches.size() == 1);
  // The order of raising survives the restart.
  CHECK(breaches[0].sequence() > warnings[0].sequence());
  CHECK(breaches[0].deadline_ms() == accepted.deadline_ms());
  wire::CaseView view = View(*sla.operator_client, case_id);
  CHECK(view.summary().breached());
  CHECK(EventsOf(view, "SLA_WARNING").size() == 1);
  CHECK(EventsOf(view, "SLA_BREACH").size() == 1);
  CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));

  // The mailbox holds each alert once too.
  REQUIRE(sla.agent->CallOk(SubscribeRequest(8), 5000).ok());
  std::vector<std::string> delivered;
  while (auto alert = NextAlertDelivery(*sla.agent, 1000)) delivered.push_back(alert->alert_id());
  CHECK(delivered.size() == 2);
}

TEST_CASE("a deadline that passed while the broker was down breaches when it starts") {
  SlaNetwork sla("sla-alerts-catchup");
  wire::Accepted accepted = Submit(*sla.agent, "catchup-1", "urgent");
  const std::string case_id = accepted.case_id();
  sla.network->broker().Kill();
  // Down across the deadline (2 s): a wait on the wall clock, which is what is under test.
  REQUIRE(WaitUntil([&] { return UnixNowMs() > accepted.deadline_ms() + 300; }, kUrgentWindowMs + 5000));
  const int64_t restarted_at = UnixNowMs();
  REQUIRE(sla.Restart());
  REQUIRE(WaitUntil([&] { return CountAlerts(*sla.operator_client, case_id, wire::Alert::BREACH) == 1; },
                    5000));
  auto alerts = AllAlerts(*sla.operator_client);
  REQUIRE(alerts.ok());
  auto breaches = AlertsOf(*alerts, case_id, wire::Alert::BREACH);
  REQUIRE(breaches.size() == 1);
  CHECK(breaches[0].deadline_ms() == accepted.deadline_ms());
  CHECK(breaches[0].raised_at_ms() >= restarted_at);
  wire::CaseView view = View(*sla.operator_client, case_id);
  CHECK(view.summary().reply_policy() == "2 secondes");
  CHECK(view.summary().breached());
  CHECK(EventsOf(view, "SLA_BREACH").size() == 1);
  CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));
}

TEST_CASE("a question pauses the clock: the deadline moves and the old one passes in silence") {
  SlaNetwork sla("sla-alerts-pause");
  wire::Accepted accepted = Submit(*sla.agent, "pause-1");
  const std::string case_id = accepted.case_id();
  const int64_t old_deadline = View(*sla.operator_client, case_id).summary().deadline_ms();
  CHECK(old_deadline == accepted.deadline_ms());
  auto asked = sla.partner->CallOk(AskInfoRequest(case_id, "Numéro d'allocataire ?", "ask-1"), 5000);
  REQUIRE_MESSAGE(asked.ok(), asked.status().ToString());
  // The pause itself is what is under test: the contact point takes 2.5 s to answer.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto answered = sla.agent->CallOk(AnswerInfoRequest(case_id, "1234567", "answer-1"), 5000);
  REQUIRE_MESSAGE(answered.ok(), answered.status().ToString());

  wire::CaseView view = View(*sla.operator_client, case_id);
  REQUIRE(view.pauses_size() == 1);
  const int64_t paused = view.pauses(0).end_ms() - view.pauses(0).start_ms();
  CHECK(paused >= 2500);
  CHECK(view.summary().paused_ms() == paused);
  const int64_t new_deadline = view.summary().deadline_ms();
  CHECK(new_deadline == old_deadline + paused);
  CHECK(view.summary().warning_at_ms() == new_deadline - kLeadMs);

  // The old deadline passes without a breach...
  REQUIRE(WaitUntil([&] { return UnixNowMs() > old_deadline + 500; }, kWindowMs + 5000));
  if (UnixNowMs() < new_deadline) {
    CHECK(CountAlerts(*sla.operator_client, case_id, wire::Alert::BREACH) == 0);
    CHECK_FALSE(View(*sla.operator_client, case_id).summary().breached());
  } else {
    MESSAGE("the machine was slow: the new deadline passed before the old one could be checked");
  }
  // ...and the moved one is still enforced.
  REQUIRE(WaitUntil([&] { return CountAlerts(*sla.operator_client, case_id, wire::Alert::BREACH) == 1; },
                    static_cast<int>(paused) + 10000));
  auto alerts = AllAlerts(*sla.operator_client);
  REQUIRE(alerts.ok());
  auto breaches = AlertsOf(*alerts, case_id, wire::Alert::BREACH);
  REQUIRE(breaches.size() == 1);
  CHECK(breaches[0].deadline_ms() == new_deadline);
  CHECK(breaches[0].raised_at_ms() >= new_deadline);
  auto warnings = AlertsOf(*alerts, case_id, wire::Alert::WARNING);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].raised_at_ms() >= new_deadline - kLeadMs);
}
