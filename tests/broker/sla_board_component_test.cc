// The SLA board and the reports by contact point with reply-time buckets (issue 10), on the
// real broker in-process with a fake clock: days of reply windows around Christmas run in
// milliseconds.
//
// Instants are computed here from the conventions of sla/deadline_calculator.h (contact points
// in the Orne): submitted Wednesday 2026-12-23 10:00 Paris;
//   "1 jours-ouvres" (caf):  counted Thu 24                  -> deadline Thu 24 23:59:59;
//                            warned at submission (one counted day remains from the start)
//   "2 jours-ouvres" (msa):  counted Thu 24, Mon 28 (Fri 25 Noël, weekend skipped)
//                                                            -> deadline Mon 28 23:59:59;
//                            warned at the end of Thu 24
//   "4 jours-ouvres" (france-travail): Thu 24, Mon 28, Tue 29, Wed 30 -> Wed 30 23:59:59.
// The board's default horizon is the end of the next working day: from Wed 23 that is Thu 24
// 23:59:59; from Thu 24 it is Mon 28 23:59:59 (Noël and the weekend skipped).
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>

#include "broker/broker.h"
#include "tests/support/in_process_broker.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

constexpr std::string_view kConfig = R"(
name = "sla-board"

[[territories]]
id = "perche"
case_prefix = "PER"

[[contact_points]]
id = "mairie-perche-en-noce"
kind = "mairie"
territory = "perche"
departement = "61"
agents = [ { id = "agent-noce-1", name = "Agent 1" } ]

[[contact_points]]
id = "fs-mortagne"
kind = "france-services"
territory = "perche"
departement = "61"
agents = [ { id = "agent-mortagne-1", name = "Agent 2" } ]

[[partners]]
id = "france-travail"
reply_policy = "4 jours-ouvres"

[[partners]]
id = "msa"
reply_policy = "2 jours-ouvres"

[[partners]]
id = "caf"
reply_policy = "1 jours-ouvres"

[[partners]]
id = "hotline"
reply_policy = "8 heures"

[[operators]]
id = "operator"
)";

const int64_t kWed23 = ParisWinterMs(2026, 12, 23, 10, 0);
const int64_t kThu24Noon = ParisWinterMs(2026, 12, 24, 12, 0);
const int64_t kFri25 = ParisWinterMs(2026, 12, 25, 10, 0);
const int64_t kThu24End = ParisWinterMs(2026, 12, 24, 23, 59, 59);
const int64_t kMon28End = ParisWinterMs(2026, 12, 28, 23, 59, 59);
const int64_t kWed30End = ParisWinterMs(2026, 12, 30, 23, 59, 59);

std::string Submit(SyncClient& agent, const std::string& key, const std::string& partner,
                   const std::string& agent_id = "agent-noce-1") {
  auto accepted = agent.CallOk(SubmitRequest("Sujet " + key, key, partner, agent_id), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  return accepted->accepted().case_id();
}

wire::SlaBoard Board(SyncClient& client, int64_t horizon_ms = 0, const std::string& partner = "",
                     uint32_t limit = 0, const std::string& territory = "") {
  wire::Envelope request;
  auto* ask = request.mutable_get_sla_board();
  ask->set_horizon_ms(horizon_ms);
  ask->set_partner(partner);
  ask->set_limit(limit);
  ask->set_territory(territory);
  auto answer = client.CallOk(request, 5000);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  REQUIRE(answer->has_sla_board());
  return answer->sla_board();
}

std::vector<std::string> Ids(const google::protobuf::RepeatedPtrField<wire::CaseSummary>& list) {
  std::vector<std::string> ids;
  for (const auto& summary : list) ids.push_back(summary.case_id());
  return ids;
}

using Ladder = std::vector<std::pair<double, uint64_t>>;
Ladder LadderOf(const wire::PartnerReport& report) {
  Ladder ladder;
  for (const auto& bucket : report.reply_times()) ladder.emplace_back(bucket.up_to(), bucket.count());
  return ladder;
}

wire::Report Report(SyncClient& client, wire::GetReport::GroupBy group_by,
                    const std::string& partner = "") {
  wire::Envelope request;
  request.mutable_get_report()->set_group_by(group_by);
  request.mutable_get_report()->set_partner(partner);
  auto answer = client.CallOk(request, 5000);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  REQUIRE(answer->has_report());
  return answer->report();
}

const wire::PartnerReport* RowOf(const wire::Report& report, const std::string& id) {
  for (const auto& row : report.partners()) {
    if (row.partner() == id || row.contact_point() == id) return &row;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("the SLA board: due within one working day (holidays skipped), at risk, breached, "
          "soonest first, without personal data" * doctest::timeout(60)) {
  CHECK(kThu24End - kWed23 < 2 * kDayMs);  // the instants are what the header says
  InProcessBroker broker("sla-board", kWed23, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto op = broker.Client(wire::OPERATOR, "operator");
  const std::string a = Submit(*agent, "a", "france-travail");
  const std::string b = Submit(*agent, "b", "caf");
  const std::string c = Submit(*agent, "c", "msa");
  REQUIRE(WaitUntil([&] { return CountAlerts(*op, b, wire::Alert::WARNING) == 1; }, 5000, 5));

  // Wednesday: the next working day is Thursday; C's deadline (Monday) is beyond it.
  wire::SlaBoard board = Board(*op);
  CHECK(board.now_ms() == kWed23);
  CHECK(Ids(board.due_soon()).empty());
  CHECK(Ids(board.at_risk()) == std::vector<std::string>{b});
  CHECK(Ids(board.breached()).empty());
  // An explicit horizon: eight days take C and A, soonest deadline first; limit cuts the list.
  board = Board(*op, 8 * kDayMs);
  CHECK(Ids(board.due_soon()) == std::vector<std::string>{c, a});
  CHECK(board.due_soon(0).deadline_ms() == kMon28End);
  CHECK(board.due_soon(1).deadline_ms() == kWed30End);
  CHECK(board.due_soon(0).subject().empty());  // metadata only
  CHECK(board.due_soon(0).partner() == "msa");
  CHECK(Ids(Board(*op, 8 * kDayMs, "", 1).due_soon()) == std::vector<std::string>{c});
  CHECK(Ids(Board(*op, 8 * kDayMs, "france-travail").due_soon()) == std::vector<std::string>{a});
  CHECK(Ids(Board(*op, 8 * kDayMs, "", 0, "elsewhere").due_soon()).empty());

  // Thursday noon: the next working day is Monday (Noël, then the weekend): C is due.
  broker.SetClockAndSettle(kThu24Noon);
  board = Board(*op);
  CHECK(Ids(board.due_soon()) == std::vector<std::string>{c});
  CHECK(Ids(board.at_risk()) == std::vector<std::string>{b});

  // Friday: B breached, C warned; A's deadline (Wednesday) is beyond Monday.
  broker.SetClock(kFri25);
  REQUIRE(WaitUntil([&] { return CountAlerts(*op, b, wire::Alert::BREACH) == 1; }, 5000, 5));
  REQUIRE(WaitUntil([&] { return CountAlerts(*op, c, wire::Alert::WARNING) == 1; }, 5000, 5));
  board = Board(*op);
  CHECK(Ids(board.due_soon()).empty());
  CHECK(Ids(board.at_risk()) == std::vector<std::string>{c});
  CHECK(Ids(board.breached()) == std::vector<std::string>{b});
  CHECK(board.breached(0).subject().empty());
  CHECK(Ids(Board(*op, 0, "msa").breached()).empty());

  // A reply takes the case off the board.
  auto partner = broker.Client(wire::PARTNER_GATEWAY, "caf");
  REQUIRE(partner->CallOk(ReplyRequest(b, "Réglé.", "reply-b"), 5000).ok());
  CHECK(Ids(Board(*op).breached()).empty());

  // Bad input gets a typed error; a gateway gets nothing.
  wire::Envelope bad;
  bad.mutable_get_sla_board()->set_horizon_ms(-1);
  auto refused = op->Call(bad, 5000);
  REQUIRE(refused.ok());
  CHECK(StatusOf(*refused).code() == wire::INVALID_ARGUMENT);
  bad.mutable_get_sla_board()->set_horizon_ms(0);
  bad.mutable_get_sla_board()->set_partner("nobody");
  refused = op->Call(bad, 5000);
  REQUIRE(refused.ok());
  CHECK(StatusOf(*refused).code() == wire::UNKNOWN_PARTNER);
  refused = agent->Call(bad, 5000);
  REQUIRE(refused.ok());
  CHECK(StatusOf(*refused).code() == wire::PERMISSION_DENIED);
}

TEST_CASE("reports by contact point, and the reply-time distribution in each row's unit" *
          doctest::timeout(60)) {
  InProcessBroker broker("sla-report-groups", kWed23, kConfig);
  auto noce = broker.Client(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto mortagne = broker.Client(wire::AGENT_GATEWAY, "fs-mortagne");
  auto op = broker.Client(wire::OPERATOR, "operator");
  auto france_travail = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
  auto hotline = broker.Client(wire::PARTNER_GATEWAY, "hotline");
  const std::string x1 = Submit(*noce, "x1", "france-travail");
  const std::string x2 = Submit(*noce, "x2", "france-travail");
  const std::string y1 = Submit(*mortagne, "y1", "france-travail", "agent-mortagne-1");
  const std::string z1 = Submit(*mortagne, "z1", "hotline", "agent-mortagne-1");
  Submit(*noce, "open", "france-travail");  // never answered

  // X1 and Z1 answered the same day (Z1 after 3 hours), Y1 on Thursday (1 working day), X2 on
  // Monday (Thursday and Monday counted: 2 working days).
  broker.SetClockAndSettle(kWed23 + 3 * kHourMs);
  REQUIRE(france_travail->CallOk(ReplyRequest(x1, "ok", "r-x1"), 5000).ok());
  REQUIRE(hotline->CallOk(ReplyRequest(z1, "ok", "r-z1"), 5000).ok());
  broker.SetClockAndSettle(kThu24Noon);
  REQUIRE(france_travail->CallOk(ReplyRequest(y1, "ok", "r-y1"), 5000).ok());
  broker.SetClockAndSettle(ParisWinterMs(2026, 12, 28, 11, 0));
  REQUIRE(france_travail->CallOk(ReplyRequest(x2, "ok", "r-x2"), 5000).ok());

  // By partner (the default): each partner's unit and its ladder.
  wire::Report by_partner = Report(*op, wire::GetReport::PARTNER);
  const auto* ft = RowOf(by_partner, "france-travail");
  const auto* hl = RowOf(by_partner, "hotline");
  REQUIRE(ft);
  REQUIRE(hl);
  CHECK(ft->contact_point().empty());
  CHECK(ft->received() == 4);
  CHECK(LadderOf(*ft) == Ladder{{0.5, 1}, {1, 1}, {2, 1}, {3, 0}, {4, 0}, {5, 0}, {8, 0}, {0, 0}});
  CHECK(hl->reply_unit() == "heures");
  CHECK(LadderOf(*hl) == Ladder{{1, 0}, {2, 0}, {4, 1}, {8, 0}, {12, 0}, {24, 0}, {48, 0}, {0, 0}});

  // By contact point: one row each, partner empty, working days whatever the partner's unit.
  wire::Report by_point = Report(*op, wire::GetReport::CONTACT_POINT);
  CHECK(by_point.partners_size() == 2);
  const auto* noce_row = RowOf(by_point, "mairie-perche-en-noce");
  const auto* mortagne_row = RowOf(by_point, "fs-mortagne");
  REQUIRE(noce_row);
  REQUIRE(mortagne_row);
  CHECK(noce_row->partner().empty());
  CHECK(noce_row->received() == 3);
  CHECK(noce_row->answered() == 2);
  CHECK(noce_row->open() == 1);
  CHECK(noce_row->reply_unit() == "jours-ouvres");
  CHECK(LadderOf(*noce_row) ==
        Ladder{{0.5, 1}, {1, 0}, {2, 1}, {3, 0}, {4, 0}, {5, 0}, {8, 0}, {0, 0}});
  CHECK(mortagne_row->received() == 2);
  CHECK(mortagne_row->answered_on_time() == 2);
  CHECK(mortagne_row->on_time_percent() == doctest::Approx(100.0));
  CHECK(LadderOf(*mortagne_row) ==
        Ladder{{0.5, 1}, {1, 1}, {2, 0}, {3, 0}, {4, 0}, {5, 0}, {8, 0}, {0, 0}});
  // The partner filter applies to the cases of each contact point.
  wire::Report hotline_points = Report(*op, wire::GetReport::CONTACT_POINT, "hotline");
  REQUIRE(hotline_points.partners_size() == 1);
  CHECK(hotline_points.partners(0).contact_point() == "fs-mortagne");
  CHECK(hotline_points.partners(0).received() == 1);
}

TEST_CASE("a board reads the cases off the loop: submissions are answered while it waits, it "
          "shows the cases as they were when asked, and too many waiting are refused" *
          doctest::timeout(60)) {
  InProcessBroker broker("sla-board-off-loop", kWed23, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto op = broker.Client(wire::OPERATOR, "operator");
  auto other = broker.Client(wire::OPERATOR, "operator");
  REQUIRE(OperatorStats(*other).ok());  // its Hello said
  const std::string a = Submit(*agent, "a", "france-travail");
  broker.broker().HoldCaseScansForTest(true);

  // Boards asked on one connection (the broker reads a connection in order) wait on the held
  // scanner up to the bound; the next is refused at once, with a hint.
  wire::Envelope ask;
  ask.mutable_get_sla_board()->set_horizon_ms(8 * kDayMs);
  constexpr uint64_t kBound = Broker::kMaxWaitingCaseScans;
  for (uint64_t id = 101; id < 101 + kBound; ++id) {
    wire::Envelope waiting = ask;
    waiting.set_request_id(id);
    REQUIRE(other->Send(waiting).ok());
  }
  auto refused = other->Call(ask, 5000);
  REQUIRE_MESSAGE(refused.ok(), refused.status().ToString());
  CHECK(StatusOf(*refused).code() == wire::RATE_LIMITED);
  CHECK(StatusOf(*refused).retry_after_ms() > 0);

  // The loop still serves: a submission is accepted, durably, while the boards wait (held
  // before their walk: they will read it).
  const std::string b = Submit(*agent, "b", "msa");
  CHECK_FALSE(other->Receive(200).has_value());

  broker.broker().HoldCaseScansForTest(false);
  std::set<uint64_t> answered;
  for (uint64_t i = 0; i < kBound; ++i) {
    auto answer = other->Receive(10000);
    REQUIRE(answer.has_value());
    REQUIRE(answer->has_sla_board());
    answered.insert(answer->request_id());
    // The cases as they were when the read started, after B: B (due Monday) first.
    CHECK(Ids(answer->sla_board().due_soon()) == std::vector<std::string>{b, a});
  }
  CHECK(answered.size() == kBound);
  CHECK(*answered.begin() == 101);
  CHECK(*answered.rbegin() == 100 + kBound);

  // A board still waiting when the broker stops is answered, not left to the client's timeout.
  broker.broker().HoldCaseScansForTest(true);
  wire::Envelope last = ask;
  last.set_request_id(999);
  REQUIRE(other->Send(last).ok());
  REQUIRE(other->CallOk(PingRequest(), 5000).ok());  // same connection: the board was read first
  // Read as it comes (a client waiting on its answer): once the broker's connection closes,
  // what the client has not read yet is gone with it.
  std::optional<wire::Envelope> stopping;
  std::thread reader([&] { stopping = other->Receive(10000); });
  broker.Restart();
  reader.join();
  REQUIRE(stopping.has_value());
  CHECK(stopping->request_id() == 999);
  CHECK(StatusOf(*stopping).code() == wire::UNAVAILABLE);
}

TEST_CASE("a client waiting silently on a board keeps its session until it is answered" *
          doctest::timeout(60)) {
  // Sessions silent for 300 ms are dropped; the board waits 1.5 s on the held scanner.
  InProcessBroker broker("sla-board-silent", kWed23, kConfig, /*session_timeout_ms=*/300);
  auto agent = broker.Client(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  const std::string a = Submit(*agent, "a", "france-travail");
  auto waiting = broker.Client(wire::OPERATOR, "operator");
  REQUIRE(OperatorStats(*waiting).ok());  // its Hello said
  broker.broker().HoldCaseScansForTest(true);
  wire::Envelope ask;
  ask.set_request_id(500);
  ask.mutable_get_sla_board()->set_horizon_ms(8 * kDayMs);
  REQUIRE(waiting->Send(ask).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // silent, as a CLI waits
  broker.broker().HoldCaseScansForTest(false);
  auto answer = waiting->Receive(10000);
  REQUIRE(answer.has_value());
  CHECK(answer->request_id() == 500);
  REQUIRE_MESSAGE(answer->has_sla_board(), answer->ShortDebugString());
  CHECK(Ids(answer->sla_board().due_soon()) == std::vector<std::string>{a});
}
