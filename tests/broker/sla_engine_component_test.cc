// The SLA engine of the broker in-process, on a fake clock: days of reply windows (Christmas, a
// weekend) run in milliseconds. The broker is the real one (its store, its loop, its sockets on
// loopback); only time is the test's.
//
// The instants checked are computed here from the conventions of sla/deadline_calculator.h, not
// taken from the library: submission Wednesday 2026-12-23 10:00 Paris, 4 jours ouvrés, contact
// point in the Orne: Thu 24 counts, Fri 25 (Noël), Sat 26 and Sun 27 are skipped, Mon 28, Tue 29
// and Wed 30 count, so the deadline is Wednesday 2026-12-30 23:59:59.000 Paris.
#include <doctest/doctest.h>

#include "sla/civil_time.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <rocksdb/db.h>

#include "broker/broker.h"
#include "common/network_config.h"
#include "store/broker_store.h"
#include "store/key_layout.h"
#include "store/read_only_db.h"
#include "store/rocks_db.h"
#include "tests/support/in_process_broker.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";

constexpr std::string_view kConfig = R"(
name = "sla-component"

[sla]
warning_lead = "default"
transfer_keeps_deadline = false

[[territories]]
id = "perche"
case_prefix = "PER"

[[contact_points]]
id = "mairie-perche-en-noce"
kind = "mairie"
territory = "perche"
departement = "61"
agents = [ { id = "agent-noce-1", name = "Agent 1" } ]

[[partners]]
id = "france-travail"
reply_policy = "4 jours-ouvres"

[[partners]]
id = "msa"
reply_policy = "2 jours-ouvres"

[[operators]]
id = "operator"
)";


// Instants of the reference case.
const int64_t kSubmittedMs = ParisWinterMs(2026, 12, 23, 10, 0);
const int64_t kDeadlineMs = ParisWinterMs(2026, 12, 30, 23, 59, 59);
// Default lead: the earlier of the end of counted day N-1 (Tue 29 23:59:59) and deadline - 25%
// of the window (rounded down): the latter, Tue 29 02:29:59.250.
const int64_t kWarningMs =
    std::min(ParisWinterMs(2026, 12, 29, 23, 59, 59), kDeadlineMs - (kDeadlineMs - kSubmittedMs) / 4);

std::string Submit(SyncClient& agent, const std::string& key) {
  auto accepted = agent.CallOk(SubmitRequest("Dossier " + key, key), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  REQUIRE(accepted->has_accepted());
  CHECK(accepted->accepted().deadline_ms() == kDeadlineMs);
  return accepted->accepted().case_id();
}

wire::CaseView View(SyncClient& client, const std::string& case_id) {
  auto view = GetCaseView(client, case_id);
  REQUIRE_MESSAGE(view.ok(), view.status().ToString());
  return *view;
}

// Waits (in real time) until the broker holds `count` alerts of `kind` for the case.
bool WaitForAlerts(SyncClient& operator_client, const std::string& case_id,
                   wire::Alert::Kind kind, int count) {
  return WaitUntil([&] { return CountAlerts(operator_client, case_id, kind) == count; }, 5000, 5);
}

// The SLA timers stored for `case_id` (the `due` family, read from a read-only open of the
// running broker's store, which replays its log): "W@<due ms>", "B@<due ms>", in key order.
std::vector<std::string> StoredTimers(const InProcessBroker& broker, const std::string& case_id) {
  auto opened = ReadOnlyDb::Open(broker.data_dir());
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  auto* due = (*opened)->Family(keys::kDue);
  REQUIRE(due != nullptr);
  std::vector<std::string> timers;
  std::unique_ptr<rocksdb::Iterator> it((*opened)->db().NewIterator(rocksdb::ReadOptions(), due));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string key = it->key().ToString();
    if (key.size() < 10 || keys::DueKeyCaseId(key) != case_id) continue;
    timers.push_back(std::string(1, key.back()) + "@" + std::to_string(ReadBigEndian64(key.data())));
  }
  REQUIRE_MESSAGE(it->status().ok(), it->status().ToString());
  return timers;
}

// The partner's cases at risk as GetStats gives it, checked against the /metrics gauge (one
// figure, two surfaces); -1 when the partner is missing from the stats.
int64_t CasesAtRisk(InProcessBroker& broker, SyncClient& operator_client, const std::string& partner) {
  auto stats = OperatorStats(operator_client);
  REQUIRE_MESSAGE(stats.ok(), stats.status().ToString());
  auto it = stats->cases_at_risk().find(partner);
  int64_t counted = it == stats->cases_at_risk().end() ? -1 : static_cast<int64_t>(it->second);
  auto gauge = Sample(CurlGet(broker.http_url()), "aplus_cases_at_risk{partner=\"" + partner + "\"}");
  CHECK(gauge == std::optional<double>(static_cast<double>(counted)));
  return counted;
}

// Replaces the stored record of `case_id` (the broker stopped) by `value`; returns the record
// it held.
std::string ReplaceCaseRecord(const std::string& data_dir, const std::string& case_id,
                              const std::string& value) {
  auto db = BrokerStore::OpenDatabase(data_dir, RocksDbOptions{});
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  auto* cases = (*db)->Family(keys::kCases);
  auto stored = (*db)->Get(cases, keys::CaseKey(case_id));
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  rocksdb::WriteBatch batch;
  REQUIRE(batch.Put(cases, keys::CaseKey(case_id), value).ok());
  REQUIRE((*db)->Write(batch).ok());
  return **stored;
}

}  // namespace

TEST_CASE("a timer whose case record cannot be read is tried again, not lost") {
  InProcessBroker broker("sla-component-unreadable", kSubmittedMs, kConfig);
  std::string case_id =
      Submit(*broker.Client(wire::AGENT_GATEWAY, kContactPoint), "unreadable-1");
  std::string record;
  // Not a protobuf message: a field tag cut short.
  broker.Restart([&](const std::string& dir) {
    record = ReplaceCaseRecord(dir, case_id, "\xff\xff");
  });

  broker.SetClockAndSettle(kWarningMs);
  const std::string retry = "W@" + std::to_string(kWarningMs + 60'000);
  CHECK(StoredTimers(broker, case_id) == std::vector<std::string>{retry});
  broker.SetClockAndSettle(kWarningMs + 60'000);  // still unreadable: once more
  CHECK(StoredTimers(broker, case_id) ==
        std::vector<std::string>{"W@" + std::to_string(kWarningMs + 120'000)});
  // Operators see it (deploy/prometheus: AplusCaseRecordUnreadable).
  CHECK(Sample(CurlGet(broker.http_url()), "aplus_sla_timers_postponed_total") == 2);

  // Repaired (a restore, say): the next try raises the warning and puts the breach's timer.
  broker.Restart([&](const std::string& dir) { ReplaceCaseRecord(dir, case_id, record); });
  auto operator_client = broker.Client(wire::OPERATOR, "operator");
  CHECK(CountAlerts(*operator_client, case_id, wire::Alert::WARNING) == 0);
  broker.SetClock(kWarningMs + 120'000);
  REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::WARNING, 1));
  broker.Settle();
  CHECK(StoredTimers(broker, case_id) ==
        std::vector<std::string>{"B@" + std::to_string(kDeadlineMs + 1)});
  broker.SetClock(kDeadlineMs + 1);
  REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::BREACH, 1));
}

TEST_CASE("a case has one SLA timer stored at a time: the warning's, then the breach's") {
  InProcessBroker broker("sla-component-one-timer", kSubmittedMs, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, kContactPoint);
  auto partner = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
  auto operator_client = broker.Client(wire::OPERATOR, "operator");
  std::string case_id = Submit(*agent, "one-timer-1");
  const std::string warning = "W@" + std::to_string(kWarningMs);
  const std::string breach = "B@" + std::to_string(kDeadlineMs + 1);
  CHECK(StoredTimers(broker, case_id) == std::vector<std::string>{warning});

  SUBCASE("the warning puts the breach's timer; the breach leaves none") {
    broker.SetClock(kWarningMs);
    REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::WARNING, 1));
    broker.Settle();
    CHECK(StoredTimers(broker, case_id) == std::vector<std::string>{breach});
    broker.SetClock(kDeadlineMs + 1);
    REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::BREACH, 1));
    broker.Settle();
    CHECK(StoredTimers(broker, case_id).empty());
  }

  SUBCASE("a reply after the warning removes the breach's timer") {
    broker.SetClock(kWarningMs);
    REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::WARNING, 1));
    auto replied = partner->CallOk(ReplyRequest(case_id, "Dossier régularisé.", "reply-1"), 5000);
    REQUIRE_MESSAGE(replied.ok(), replied.status().ToString());
    broker.Settle();
    CHECK(StoredTimers(broker, case_id).empty());
    broker.SetClockAndSettle(kDeadlineMs + kDayMs);
    CHECK(CountAlerts(*operator_client, case_id, wire::Alert::BREACH) == 0);
  }

  SUBCASE("a reply before the warning removes the warning's timer") {
    auto replied = partner->CallOk(ReplyRequest(case_id, "Dossier régularisé.", "reply-1"), 5000);
    REQUIRE_MESSAGE(replied.ok(), replied.status().ToString());
    broker.Settle();
    CHECK(StoredTimers(broker, case_id).empty());
  }
}

TEST_CASE("a 4 jours-ouvres window across Christmas warns, then breaches, then counts the late reply") {
  CHECK(kWarningMs == ParisWinterMs(2026, 12, 29, 2, 29, 59, 250));
  InProcessBroker broker("sla-component-breach", kSubmittedMs, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, kContactPoint);
  auto partner = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
  auto operator_client = broker.Client(wire::OPERATOR, "operator");
  std::string case_id = Submit(*agent, "breach-1");

  wire::CaseView view = View(*agent, case_id);
  CHECK(view.summary().deadline_ms() == kDeadlineMs);
  CHECK(view.summary().warning_at_ms() == kWarningMs);
  CHECK(view.summary().reply_policy() == "4 jours-ouvres");
  CHECK_FALSE(view.summary().warned());
  std::string explanation;
  for (const auto& line : view.deadline_explanation()) explanation += line + "\n";
  CHECK_MESSAGE(explanation.find("Noël") != std::string::npos, explanation);
  CHECK_MESSAGE(explanation.find("samedi") != std::string::npos, explanation);

  // What `aplus deadline` would show for the same instant agrees with the case.
  wire::Envelope explain;
  explain.mutable_explain_deadline()->set_at_ms(kSubmittedMs);
  explain.mutable_explain_deadline()->set_partner("france-travail");
  explain.mutable_explain_deadline()->set_contact_point(kContactPoint);
  explain.mutable_explain_deadline()->set_category("unemployment-benefits");
  auto explained = operator_client->CallOk(explain, 5000);
  REQUIRE_MESSAGE(explained.ok(), explained.status().ToString());
  CHECK(explained->deadline_explanation().deadline_ms() == kDeadlineMs);
  CHECK(explained->deadline_explanation().warning_at_ms() == kWarningMs);

  SUBCASE("nothing before the warning, a warning at it, a breach once the deadline is passed") {
    broker.SetClock(kWarningMs - 1);
    broker.Settle();
    auto alerts = AllAlerts(*operator_client);
    REQUIRE(alerts.ok());
    CHECK(alerts->empty());
    CHECK_FALSE(View(*agent, case_id).summary().warned());
    CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 0);
    CHECK(CasesAtRisk(broker, *operator_client, "msa") == 0);  // every partner, 0 included

    broker.SetClock(kWarningMs);
    REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::WARNING, 1));
    alerts = AllAlerts(*operator_client);
    REQUIRE(alerts.ok());
    REQUIRE(alerts->size() == 1);
    const wire::Alert& warning = alerts->front();
    CHECK(warning.kind() == wire::Alert::WARNING);
    CHECK(warning.case_id() == case_id);
    CHECK(warning.partner() == "france-travail");
    CHECK(warning.territory() == "perche");
    CHECK(warning.contact_point() == kContactPoint);
    CHECK(warning.deadline_ms() == kDeadlineMs);
    CHECK(warning.raised_at_ms() == kWarningMs);
    CHECK(warning.acked_by().empty());
    CHECK_FALSE(warning.text().empty());
    CHECK_FALSE(warning.alert_id().empty());
    view = View(*operator_client, case_id);
    CHECK(view.summary().warned());
    CHECK_FALSE(view.summary().breached());
    CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 1);
    auto at_risk_report = PartnerReportOf(*operator_client, "france-travail");
    REQUIRE(at_risk_report.ok());
    CHECK(at_risk_report->at_risk() == 1);
    auto warning_events = EventsOf(view, "SLA_WARNING");
    REQUIRE(warning_events.size() == 1);
    CHECK(warning_events[0].at_ms() == kWarningMs);
    CHECK(warning_events[0].actor() == "broker");
    CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));

    // A reply at deadline_ms is on time (the convention): the window has not lapsed yet.
    broker.SetClock(kDeadlineMs);
    broker.Settle();
    CHECK_MESSAGE(CountAlerts(*operator_client, case_id, wire::Alert::BREACH) == 0,
                  "breach raised at now == deadline_ms, while a reply now would still be on time");

    broker.SetClock(kDeadlineMs + 1);
    REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::BREACH, 1));
    alerts = AllAlerts(*operator_client);
    REQUIRE(alerts.ok());
    auto breaches = AlertsOf(*alerts, case_id, wire::Alert::BREACH);
    REQUIRE(breaches.size() == 1);
    CHECK(breaches[0].deadline_ms() == kDeadlineMs);
    CHECK(breaches[0].raised_at_ms() >= kDeadlineMs);
    CHECK(breaches[0].sequence() > alerts->front().sequence());
    CHECK(breaches[0].alert_id() != alerts->front().alert_id());
    view = View(*operator_client, case_id);
    CHECK(view.summary().breached());
    CHECK(EventsOf(view, "SLA_BREACH").size() == 1);
    CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));
    CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 0);  // breached instead

    // Three hours late, the partner replies: the lateness is recorded and reported.
    broker.SetClock(kDeadlineMs + 3 * kHourMs);
    auto replied = partner->CallOk(ReplyRequest(case_id, "Dossier régularisé.", "reply-1"), 5000);
    REQUIRE_MESSAGE(replied.ok(), replied.status().ToString());
    view = View(*agent, case_id);
    CHECK(view.summary().state() == wire::ANSWERED);
    CHECK(view.summary().answered_at_ms() == kDeadlineMs + 3 * kHourMs);
    CHECK(view.summary().late_by_ms() == 3 * kHourMs);
    auto answered = EventsOf(view, "ANSWERED");
    REQUIRE(answered.size() == 1);
    CHECK_MESSAGE(answered[0].detail().find("after the deadline") != std::string::npos,
                  answered[0].detail());

    broker.SetClock(kDeadlineMs + 20 * kDayMs);
    broker.Settle();
    alerts = AllAlerts(*operator_client);
    REQUIRE(alerts.ok());
    CHECK(alerts->size() == 2);
    auto report = PartnerReportOf(*operator_client, "france-travail");
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    CHECK(report->received() == 1);
    CHECK(report->answered() == 1);
    CHECK(report->answered_on_time() == 0);
    CHECK(report->on_time_percent() == doctest::Approx(0.0));
    CHECK(report->breached() == 1);
    CHECK(report->open() == 0);
    CHECK(report->reply_unit() == "jours-ouvres");
    // Thu 24, Mon 28, Tue 29, Wed 30, Thu 31: five counted days from submission to the reply.
    CHECK(report->median_reply() == doctest::Approx(5.0));
  }

  SUBCASE("a clock that jumps past the deadline raises the warning and the breach, in order") {
    broker.SetClock(kDeadlineMs + kDayMs);
    REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::BREACH, 1));
    auto alerts = AllAlerts(*operator_client);
    REQUIRE(alerts.ok());
    REQUIRE(alerts->size() == 2);
    CHECK((*alerts)[0].kind() == wire::Alert::WARNING);
    CHECK((*alerts)[1].kind() == wire::Alert::BREACH);
    view = View(*operator_client, case_id);
    CHECK(view.summary().warned());
    CHECK(view.summary().breached());
    REQUIRE(EventsOf(view, "SLA_WARNING").size() == 1);
    REQUIRE(EventsOf(view, "SLA_BREACH").size() == 1);
    CHECK(EventsOf(view, "SLA_WARNING")[0].sequence() < EventsOf(view, "SLA_BREACH")[0].sequence());
    CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));
    auto report = PartnerReportOf(*operator_client, "france-travail");
    REQUIRE(report.ok());
    CHECK(report->open() == 1);
    CHECK(report->breached() == 1);
  }

  SUBCASE("a reply takes a warned case out of risk, and a restart keeps the count") {
    broker.SetClock(kWarningMs);
    REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::WARNING, 1));
    // Submitted now, its own window far from its warning: open, not at risk.
    REQUIRE(agent->CallOk(SubmitRequest("Dossier at-risk-2", "at-risk-2"), 5000).ok());
    CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 1);
    broker.Restart();
    operator_client = broker.Client(wire::OPERATOR, "operator");
    partner = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
    CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 1);
    auto replied = partner->CallOk(ReplyRequest(case_id, "Dossier régularisé.", "reply-risk"), 5000);
    REQUIRE_MESSAGE(replied.ok(), replied.status().ToString());
    CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 0);
  }

  SUBCASE("a cancelled case raises nothing") {
    wire::Envelope cancel;
    cancel.mutable_cancel_case()->set_case_id(case_id);
    cancel.mutable_cancel_case()->set_reason("le citoyen a trouvé la réponse");
    cancel.mutable_cancel_case()->set_idempotency_key("cancel-1");
    REQUIRE(agent->CallOk(cancel, 5000).ok());
    broker.SetClock(kDeadlineMs + kDayMs);
    broker.Settle();
    auto alerts = AllAlerts(*operator_client);
    REQUIRE(alerts.ok());
    CHECK(alerts->empty());
  }
}

TEST_CASE("a question pauses the clock: the deadline moves by exactly the paused time") {
  InProcessBroker broker("sla-component-pause", kSubmittedMs, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, kContactPoint);
  auto partner = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
  auto operator_client = broker.Client(wire::OPERATOR, "operator");
  std::string case_id = Submit(*agent, "pause-1");

  const int64_t asked_at = ParisWinterMs(2026, 12, 24, 10, 0);
  const int64_t paused = 2 * kDayMs;
  broker.SetClock(asked_at);
  auto asked = partner->CallOk(AskInfoRequest(case_id, "Quel est le numéro d'allocataire ?", "ask-1"), 5000);
  REQUIRE_MESSAGE(asked.ok(), asked.status().ToString());
  CHECK(asked->case_updated().state() == wire::INFO_REQUESTED);
  wire::CaseView view = View(*agent, case_id);
  CHECK(view.summary().state() == wire::INFO_REQUESTED);
  CHECK(view.question() == "Quel est le numéro d'allocataire ?");
  REQUIRE(view.pauses_size() == 1);
  CHECK(view.pauses(0).start_ms() == asked_at);
  CHECK(view.pauses(0).end_ms() == 0);

  // Two days of silence (Christmas and the Saturday): nothing may fire, whatever the old timers.
  broker.SetClock(asked_at + paused);
  broker.Settle();
  auto answered = agent->CallOk(AnswerInfoRequest(case_id, "Allocataire 1234567.", "answer-1"), 5000);
  REQUIRE_MESSAGE(answered.ok(), answered.status().ToString());
  CHECK(answered->case_updated().state() == wire::ACKNOWLEDGED);

  view = View(*agent, case_id);
  CHECK(view.summary().deadline_ms() == kDeadlineMs + paused);
  CHECK(view.summary().warning_at_ms() == kWarningMs + paused);
  CHECK(view.summary().paused_ms() == paused);
  CHECK(view.question().empty());
  REQUIRE(view.pauses_size() == 1);
  CHECK(view.pauses(0).start_ms() == asked_at);
  CHECK(view.pauses(0).end_ms() == asked_at + paused);
  CHECK(EventsOf(view, "INFO_REQUESTED").size() == 1);
  CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));

  // The old warning instant passes in silence; the moved one warns.
  broker.SetClock(kWarningMs);
  broker.Settle();
  broker.SetClock(kWarningMs + paused - 1);
  broker.Settle();
  CHECK(CountAlerts(*operator_client, case_id, wire::Alert::WARNING) == 0);
  broker.SetClock(kWarningMs + paused);
  REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::WARNING, 1));
  auto alerts = AllAlerts(*operator_client);
  REQUIRE(alerts.ok());
  REQUIRE(alerts->size() == 1);
  CHECK(alerts->front().deadline_ms() == kDeadlineMs + paused);
  CHECK(alerts->front().raised_at_ms() == kWarningMs + paused);

  // The old deadline passes without a breach.
  broker.SetClock(kDeadlineMs + 1);
  broker.Settle();
  CHECK(CountAlerts(*operator_client, case_id, wire::Alert::BREACH) == 0);

  // Answered before the moved deadline: on time, and nothing further, ever.
  const int64_t replied_at = kDeadlineMs + paused - kHourMs;
  broker.SetClock(replied_at);
  auto replied = partner->CallOk(ReplyRequest(case_id, "Versement le 5.", "reply-1"), 5000);
  REQUIRE_MESSAGE(replied.ok(), replied.status().ToString());
  view = View(*agent, case_id);
  CHECK(view.summary().state() == wire::ANSWERED);
  CHECK(view.summary().answered_at_ms() == replied_at);
  CHECK(view.summary().late_by_ms() == 0);
  broker.SetClock(kDeadlineMs + 30 * kDayMs);
  broker.Settle();
  alerts = AllAlerts(*operator_client);
  REQUIRE(alerts.ok());
  CHECK(alerts->size() == 1);
  view = View(*operator_client, case_id);
  CHECK_FALSE(view.summary().breached());
  CHECK(EventsOf(view, "SLA_BREACH").empty());

  auto report = PartnerReportOf(*operator_client, "france-travail");
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->received() == 1);
  CHECK(report->answered() == 1);
  CHECK(report->answered_on_time() == 1);
  CHECK(report->on_time_percent() == doctest::Approx(100.0));
  CHECK(report->breached() == 0);
  CHECK(report->open() == 0);
  CHECK(report->at_risk() == 0);
}

TEST_CASE("a transfer gives the new partner a fresh window and keeps the old deadline in the timeline") {
  InProcessBroker broker("sla-component-transfer", kSubmittedMs, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, kContactPoint);
  auto france_travail = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
  auto msa = broker.Client(wire::PARTNER_GATEWAY, "msa");
  auto operator_client = broker.Client(wire::OPERATOR, "operator");
  std::string case_id = Submit(*agent, "transfer-1");

  broker.SetClock(kWarningMs);
  REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::WARNING, 1));
  CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 1);

  // Wednesday 30 at noon, on the last day of its window, France Travail hands the case to the
  // MSA (2 jours ouvrés): Thu 31 counts, Fri 1 January and the weekend do not, Mon 4 counts.
  const int64_t transferred_at = ParisWinterMs(2026, 12, 30, 12, 0);
  const int64_t new_deadline = ParisWinterMs(2027, 1, 4, 23, 59, 59);
  const int64_t new_warning = std::min(ParisWinterMs(2026, 12, 31, 23, 59, 59),
                                       new_deadline - (new_deadline - transferred_at) / 4);
  broker.SetClock(transferred_at);
  auto transferred = france_travail->CallOk(
      TransferRequest(case_id, "msa", "exploitant agricole : relève de la MSA", "transfer-1"), 5000);
  REQUIRE_MESSAGE(transferred.ok(), transferred.status().ToString());
  CHECK(transferred->case_updated().state() == wire::TRANSFERRED);

  wire::CaseView view = View(*operator_client, case_id);
  CHECK(view.summary().partner() == "msa");
  CHECK(view.summary().transferred_from() == "france-travail");
  CHECK(view.summary().state() == wire::TRANSFERRED);
  CHECK(view.summary().deadline_ms() == new_deadline);
  CHECK(view.summary().warning_at_ms() == new_warning);
  CHECK(view.summary().reply_policy() == "2 jours-ouvres");
  CHECK_FALSE(view.summary().warned());
  CHECK_FALSE(view.summary().breached());
  // The warning belonged to France Travail's window: nobody's case at risk any more.
  CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 0);
  CHECK(CasesAtRisk(broker, *operator_client, "msa") == 0);
  auto changed = EventsOf(view, "DEADLINE_CHANGED");
  REQUIRE(changed.size() == 1);
  // Both deadlines stay readable in the timeline, in the contact point's local time.
  CHECK_MESSAGE(changed[0].detail().find(sla::TimeZone::Paris().Format(kDeadlineMs)) != std::string::npos,
                changed[0].detail());
  CHECK_MESSAGE(changed[0].detail().find(sla::TimeZone::Paris().Format(new_deadline)) != std::string::npos,
                changed[0].detail());
  CHECK(EventsOf(view, "TRANSFERRED").size() == 1);
  CHECK(EventsOf(view, "SLA_WARNING").size() == 1);  // France Travail's, kept
  CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));
  // The old partner no longer sees the case; the new one does.
  CHECK(GetCaseView(*france_travail, case_id).status().code() == wire::PERMISSION_DENIED);
  CHECK(GetCaseView(*msa, case_id).ok());

  // France Travail's deadline passes: it is no longer the one enforced.
  broker.SetClock(kDeadlineMs + 1);
  broker.Settle();
  CHECK(CountAlerts(*operator_client, case_id, wire::Alert::BREACH) == 0);

  broker.SetClock(new_warning - 1);
  broker.Settle();
  CHECK(CountAlerts(*operator_client, case_id, wire::Alert::WARNING) == 1);
  broker.SetClock(new_warning);
  REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::WARNING, 2));
  CHECK(CasesAtRisk(broker, *operator_client, "msa") == 1);
  CHECK(CasesAtRisk(broker, *operator_client, "france-travail") == 0);
  broker.SetClock(new_deadline + 1);
  REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::BREACH, 1));
  CHECK(CasesAtRisk(broker, *operator_client, "msa") == 0);
  auto alerts = AllAlerts(*operator_client);
  REQUIRE(alerts.ok());
  auto warnings = AlertsOf(*alerts, case_id, wire::Alert::WARNING);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].partner() == "france-travail");
  CHECK(warnings[0].deadline_ms() == kDeadlineMs);
  CHECK(warnings[1].partner() == "msa");
  CHECK(warnings[1].deadline_ms() == new_deadline);
  CHECK(warnings[0].alert_id() != warnings[1].alert_id());
  auto breaches = AlertsOf(*alerts, case_id, wire::Alert::BREACH);
  REQUIRE(breaches.size() == 1);
  CHECK(breaches[0].partner() == "msa");
  CHECK(breaches[0].deadline_ms() == new_deadline);
  view = View(*operator_client, case_id);
  CHECK(view.summary().warned());
  CHECK(view.summary().breached());
  CHECK(EventsOf(view, "SLA_BREACH").size() == 1);
  CHECK_MESSAGE(SlaTimelineProblem(view).empty(), SlaTimelineProblem(view));
}

TEST_CASE("acknowledging an alert records who took it, once") {
  InProcessBroker broker("sla-component-ack", kSubmittedMs, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, kContactPoint);
  auto operator_client = broker.Client(wire::OPERATOR, "operator");
  std::string case_id = Submit(*agent, "ack-1");
  broker.SetClock(kDeadlineMs + 1);
  REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::BREACH, 1));
  auto alerts = AllAlerts(*operator_client, /*include_acked=*/false);
  REQUIRE(alerts.ok());
  REQUIRE(alerts->size() == 2);
  const wire::Alert warning = (*alerts)[0];
  const wire::Alert breach = (*alerts)[1];

  const int64_t acked_at = kDeadlineMs + kHourMs;
  broker.SetClock(acked_at);
  wire::Envelope ack;
  ack.mutable_ack_alert()->set_alert_id(breach.alert_id());
  ack.mutable_ack_alert()->set_by("marie.dupont");
  auto acked = operator_client->CallOk(ack, 5000);
  REQUIRE_MESSAGE(acked.ok(), acked.status().ToString());
  REQUIRE(acked->has_alert_acked());
  CHECK(acked->alert_acked().alert().alert_id() == breach.alert_id());
  CHECK(acked->alert_acked().alert().acked_by() == "marie.dupont");
  CHECK(acked->alert_acked().alert().acked_at_ms() == acked_at);

  // A second acknowledgement does not rewrite the first.
  broker.SetClock(acked_at + kHourMs);
  ack.mutable_ack_alert()->set_by("jean.martin");
  acked = operator_client->CallOk(ack, 5000);
  REQUIRE(acked.ok());
  CHECK(acked->alert_acked().alert().acked_by() == "marie.dupont");
  CHECK(acked->alert_acked().alert().acked_at_ms() == acked_at);

  // Without a name, the operator's session names who took it.
  wire::Envelope ack_warning;
  ack_warning.mutable_ack_alert()->set_alert_id(warning.alert_id());
  acked = operator_client->CallOk(ack_warning, 5000);
  REQUIRE(acked.ok());
  CHECK(acked->alert_acked().alert().acked_by() == "operator");

  auto open = AllAlerts(*operator_client, /*include_acked=*/false);
  REQUIRE(open.ok());
  CHECK(open->empty());
  auto all = AllAlerts(*operator_client, /*include_acked=*/true);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  auto breaches = AlertsOf(*all, case_id, wire::Alert::BREACH);
  REQUIRE(breaches.size() == 1);
  CHECK(breaches[0].acked_by() == "marie.dupont");
  CHECK(breaches[0].acked_at_ms() == acked_at);

  // Only operators acknowledge; unknown alerts are refused.
  auto refused = agent->Call(ack, 5000);
  REQUIRE(refused.ok());
  CHECK(StatusOf(*refused).code() == wire::PERMISSION_DENIED);
  wire::Envelope unknown;
  unknown.mutable_ack_alert()->set_alert_id("PER-nope/BREACH/1");
  auto missing = operator_client->Call(unknown, 5000);
  REQUIRE(missing.ok());
  CHECK_FALSE(StatusOf(*missing).ok());
}

// Regression (issue 8, finding 6b): a reply given while the case waits for the contact point's
// answer is judged against the deadline moved by that pause, up to the reply.
TEST_CASE("a reply during INFO_REQUESTED counts the pause up to the reply") {
  InProcessBroker broker("sla-component-reply-in-pause", kSubmittedMs, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, kContactPoint);
  auto partner = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
  auto operator_client = broker.Client(wire::OPERATOR, "operator");
  std::string case_id = Submit(*agent, "reply-in-pause-1");

  const int64_t asked_at = ParisWinterMs(2026, 12, 24, 10, 0);
  broker.SetClock(asked_at);
  REQUIRE(partner->CallOk(AskInfoRequest(case_id, "Numéro d'allocataire ?", "ask-1"), 5000).ok());

  // The contact point never answers; the partner replies an hour after the old deadline, while
  // the clock has been stopped since the question.
  const int64_t replied_at = kDeadlineMs + kHourMs;
  broker.SetClock(replied_at);
  broker.Settle();
  CHECK(CountAlerts(*operator_client, case_id, wire::Alert::BREACH) == 0);
  auto replied = partner->CallOk(ReplyRequest(case_id, "Réglé sans la réponse.", "reply-1"), 5000);
  REQUIRE_MESSAGE(replied.ok(), replied.status().ToString());
  wire::CaseView view = View(*agent, case_id);
  CHECK(view.summary().state() == wire::ANSWERED);
  CHECK(view.summary().answered_at_ms() == replied_at);
  const int64_t paused = replied_at - asked_at;
  CHECK(view.summary().paused_ms() == paused);
  CHECK(view.summary().deadline_ms() == kDeadlineMs + paused);
  CHECK_MESSAGE(view.summary().late_by_ms() == 0, "late by " << view.summary().late_by_ms() << " ms");
  REQUIRE(view.pauses_size() == 1);
  CHECK(view.pauses(0).end_ms() == replied_at);
  CHECK(EventsOf(view, "ANSWERED").size() == 1);
  CHECK(EventsOf(view, "ANSWERED")[0].detail() == "replied");

  broker.SetClock(kDeadlineMs + 30 * kDayMs);
  broker.Settle();
  CHECK(CountAlerts(*operator_client, case_id, wire::Alert::BREACH) == 0);
  auto report = PartnerReportOf(*operator_client, "france-travail");
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->answered_on_time() == 1);
}

// Regression (issue 8, finding 6a): with transfer_keeps_deadline, the pauses before the
// transfer were already in the kept deadline and were added again.
TEST_CASE("a transfer that keeps the deadline counts each pause once") {
  std::string config(kConfig);
  const std::string from = "transfer_keeps_deadline = false";
  config.replace(config.find(from), from.size(), "transfer_keeps_deadline = true");
  InProcessBroker broker("sla-component-keep-deadline", kSubmittedMs, config);
  auto agent = broker.Client(wire::AGENT_GATEWAY, kContactPoint);
  auto france_travail = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
  auto msa = broker.Client(wire::PARTNER_GATEWAY, "msa");
  auto operator_client = broker.Client(wire::OPERATOR, "operator");
  std::string case_id = Submit(*agent, "keep-1");

  // A two-day question with France Travail: the deadline moves by exactly two days.
  const int64_t asked_at = ParisWinterMs(2026, 12, 24, 10, 0);
  const int64_t first_pause = 2 * kDayMs;
  broker.SetClock(asked_at);
  REQUIRE(france_travail->CallOk(AskInfoRequest(case_id, "Question 1 ?", "ask-1"), 5000).ok());
  broker.SetClock(asked_at + first_pause);
  REQUIRE(agent->CallOk(AnswerInfoRequest(case_id, "Réponse 1.", "answer-1"), 5000).ok());
  CHECK(View(*agent, case_id).summary().deadline_ms() == kDeadlineMs + first_pause);

  // Transferred to the MSA, the case keeps that deadline: the first pause counts once.
  const int64_t transferred_at = ParisWinterMs(2026, 12, 28, 9, 0);
  broker.SetClock(transferred_at);
  REQUIRE(france_travail->CallOk(TransferRequest(case_id, "msa", "relève de la MSA", "t-1"), 5000).ok());
  wire::CaseView view = View(*operator_client, case_id);
  CHECK(view.summary().partner() == "msa");
  CHECK_MESSAGE(view.summary().deadline_ms() == kDeadlineMs + first_pause,
                "deadline off by " << (view.summary().deadline_ms() - kDeadlineMs - first_pause) << " ms");
  CHECK(view.summary().paused_ms() == first_pause);

  // A one-day question from the MSA moves it by one more day, no more.
  const int64_t second_asked_at = ParisWinterMs(2026, 12, 28, 11, 0);
  const int64_t second_pause = kDayMs;
  broker.SetClock(second_asked_at);
  REQUIRE(msa->CallOk(AcknowledgeRequest(case_id, "pris en charge", "ack-msa"), 5000).ok());
  REQUIRE(msa->CallOk(AskInfoRequest(case_id, "Question 2 ?", "ask-2"), 5000).ok());
  broker.SetClock(second_asked_at + second_pause);
  REQUIRE(agent->CallOk(AnswerInfoRequest(case_id, "Réponse 2.", "answer-2"), 5000).ok());
  view = View(*operator_client, case_id);
  const int64_t kept = kDeadlineMs + first_pause + second_pause;
  CHECK_MESSAGE(view.summary().deadline_ms() == kept,
                "deadline off by " << (view.summary().deadline_ms() - kept) << " ms");
  CHECK(view.summary().paused_ms() == first_pause + second_pause);

  // The breach falls at the kept deadline, not a pause later.
  broker.SetClock(kept);
  broker.Settle();
  CHECK(CountAlerts(*operator_client, case_id, wire::Alert::BREACH) == 0);
  broker.SetClock(kept + 1);
  REQUIRE(WaitForAlerts(*operator_client, case_id, wire::Alert::BREACH, 1));
  auto alerts = AllAlerts(*operator_client);
  REQUIRE(alerts.ok());
  auto breaches = AlertsOf(*alerts, case_id, wire::Alert::BREACH);
  REQUIRE(breaches.size() == 1);
  CHECK(breaches[0].deadline_ms() == kept);
  CHECK(breaches[0].partner() == "msa");
}
