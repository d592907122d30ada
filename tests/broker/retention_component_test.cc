// Retention in the broker in-process, on a fake clock: a month of retention runs in
// milliseconds. The purge timer falls due on the civil calendar (31 January + 1 month = 28
// February, same wall-clock time), not before, for closed and cancelled cases alike.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "broker/broker.h"
#include "common/network_config.h"
#include "tests/support/audit_test_helpers.h"
#include "tests/support/in_process_broker.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

constexpr std::string_view kConfig = R"(
name = "retention-component"

[retention]
personal_data_after = "1 months"

[[territories]]
id = "perche"
case_prefix = "PER"

[[contact_points]]
id = "mairie-perche-en-noce"
territory = "perche"
departement = "61"
agents = [ { id = "agent-noce-1", name = "Agent 1" } ]

[[partners]]
id = "france-travail"

[[operators]]
id = "operator"
)";


wire::CaseView View(SyncClient& client, const std::string& case_id) {
  auto view = GetCaseView(client, case_id);
  REQUIRE_MESSAGE(view.ok(), view.status().ToString());
  return *view;
}

std::string Submit(SyncClient& agent, const std::string& key) {
  auto accepted = agent.CallOk(ConsentedSubmit("Objet " + key, "Corps " + key, "Citoyen " + key, key), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  return accepted->accepted().case_id();
}

}  // namespace

TEST_CASE("the purge falls due one calendar month after the end, not a millisecond before") {
  const int64_t submitted = ParisWinterMs(2026, 1, 30, 9, 0);
  const int64_t ended = ParisWinterMs(2026, 1, 31, 10, 15);
  const int64_t erase_at = ParisWinterMs(2026, 2, 28, 10, 15);
  InProcessBroker broker("retention-component", submitted, kConfig);
  auto agent = broker.Client(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto partner = broker.Client(wire::PARTNER_GATEWAY, "france-travail");
  auto op = broker.Client(wire::OPERATOR, "operator");

  const std::string closed = Submit(*agent, "closed");
  const std::string cancelled = Submit(*agent, "cancelled");
  const std::string open = Submit(*agent, "open");
  REQUIRE(partner->CallOk(ReplyRequest(closed, "Réponse", "r1"), 5000).ok());
  broker.SetClock(ended);
  wire::Envelope close;
  close.mutable_close_case()->set_case_id(closed);
  REQUIRE(agent->CallOk(close, 5000).ok());
  wire::Envelope cancel;
  cancel.mutable_cancel_case()->set_case_id(cancelled);
  cancel.mutable_cancel_case()->set_reason("Motif personnel");
  REQUIRE(agent->CallOk(cancel, 5000).ok());

  for (const auto& id : {closed, cancelled}) {
    wire::CaseView view = View(*agent, id);
    CHECK(view.summary().ended_at_ms() == ended);
    CHECK(view.summary().personal_data_erase_at_ms() == erase_at);
  }
  CHECK(View(*agent, open).summary().personal_data_erase_at_ms() == 0);

  broker.SetClockAndSettle(erase_at - 1);
  CHECK_FALSE(View(*op, closed).summary().personal_data_erased());
  CHECK(View(*agent, closed).body() == "Corps closed");

  broker.SetClockAndSettle(erase_at);
  for (const auto& id : {closed, cancelled}) {
    wire::CaseView view = View(*agent, id);
    CHECK(view.summary().personal_data_erased());
    CHECK(view.body().empty());
    CHECK(view.citizen_name().empty());
    CHECK(view.summary().subject().empty());
    CHECK(view.reply_text().empty());
    auto audit = AuditOf(*op, id);
    REQUIRE(audit.ok());
    auto erasures = EntriesOf(*audit, "erase-personal-data", "broker");
    REQUIRE(erasures.size() == 1);
    CHECK(erasures[0].at_ms() == erase_at);
    CHECK(erasures[0].role() == wire::ROLE_UNSPECIFIED);
  }
  CHECK(View(*agent, cancelled).summary().state() == wire::CANCELLED);
  // The cancel reason was free text: gone from the timeline, the event itself stays.
  auto cancelled_events = EventsOf(View(*agent, cancelled), "CANCELLED");
  REQUIRE(cancelled_events.size() == 1);
  CHECK(cancelled_events[0].detail().empty());
  CHECK(View(*agent, open).body() == "Corps open");

  // Much later, nothing fires twice.
  broker.SetClockAndSettle(erase_at + 400LL * kDayMs);
  auto audit = AuditOf(*op, closed);
  REQUIRE(audit.ok());
  CHECK(EntriesOf(*audit, "erase-personal-data").size() == 1);
}
