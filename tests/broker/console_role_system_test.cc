// The operator console's role (issue 10): a console key holds no rights of its own; each of its
// requests names a person of [[operators]] (Envelope.on_behalf_of) and is authorised, filtered
// and audited as that person through the console ("console/<id> for op/<person>", or
// "... for admin/<person>" when the person is an administrator). Real broker, real CURVE.
#include <doctest/doctest.h>

#include "tests/support/audit_test_helpers.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";
const std::string kConsole = "console";              // Provision's console key: console.console
const std::string kOperator = "operator";            // [[operators]], administrator = false
const std::string kAdministrator = "administration"; // [[operators]], administrator = true
const std::string kViaConsoleOp = "console/console for op/operator";
const std::string kViaConsoleAdmin = "console/console for admin/administration";

wire::Envelope AckAlertRequest(const std::string& alert_id, const std::string& by) {
  wire::Envelope envelope;
  envelope.mutable_ack_alert()->set_alert_id(alert_id);
  envelope.mutable_ack_alert()->set_by(by);
  return envelope;
}

wire::Envelope RequeueCase(const std::string& case_id, const std::string& key) {
  wire::Envelope request;
  request.mutable_requeue_dead_letters()->set_case_id(case_id);
  request.mutable_requeue_dead_letters()->set_idempotency_key(key);
  return request;
}

wire::ErrorCode CodeOf(const Result<wire::Envelope>& answer) {
  if (!answer.ok()) return answer.status().code();
  return answer->has_error() ? answer->error().code() : wire::ERROR_UNSPECIFIED;
}

}  // namespace

TEST_CASE("the console reads a case as the person it names: metadata for an operator, personal "
          "data for an administrator, each read audited under the person" * doctest::timeout(60)) {
  auto network = StartNetwork("console-read");
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto console = network->BrokerClient(wire::CONSOLE, kConsole);
  auto op = network->BrokerClient(wire::OPERATOR, kOperator);

  auto accepted = agent->CallOk(
      ConsentedSubmit("Allocation suspendue", "Versement interrompu", "Jeanne Martin", "c1"), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  const std::string case_id = accepted->accepted().case_id();

  // For an operator: the metadata only.
  auto as_operator = console->CallOk(OnBehalfOf(kOperator, GetCaseRequest(case_id)), 5000);
  REQUIRE_MESSAGE(as_operator.ok(), as_operator.status().ToString());
  REQUIRE(as_operator->has_case_view());
  CHECK(as_operator->case_view().summary().case_id() == case_id);
  CHECK(as_operator->case_view().body().empty());
  CHECK(as_operator->case_view().citizen_name().empty());
  CHECK(as_operator->case_view().summary().subject().empty());

  // For an administrator: the personal data too.
  auto as_admin = console->CallOk(OnBehalfOf(kAdministrator, GetCaseRequest(case_id)), 5000);
  REQUIRE_MESSAGE(as_admin.ok(), as_admin.status().ToString());
  REQUIRE(as_admin->has_case_view());
  CHECK(as_admin->case_view().body() == "Versement interrompu");
  CHECK(as_admin->case_view().citizen_name() == "Jeanne Martin");

  // Each read audited under the person through the console, with the person's role.
  auto entries = AuditOf(*op, case_id);
  REQUIRE_MESSAGE(entries.ok(), entries.status().ToString());
  auto op_reads = EntriesOf(*entries, "read", kViaConsoleOp);
  auto admin_reads = EntriesOf(*entries, "read", kViaConsoleAdmin);
  REQUIRE_MESSAGE(op_reads.size() == 1, DescribeAudit(*entries));
  REQUIRE_MESSAGE(admin_reads.size() == 1, DescribeAudit(*entries));
  CHECK(op_reads[0].detail() == "metadata");
  CHECK(op_reads[0].role() == wire::OPERATOR);
  CHECK(admin_reads[0].detail() == "content");
  CHECK(admin_reads[0].role() == wire::ADMINISTRATOR);
}

TEST_CASE("the console gets nothing without a person of the config; other roles may not name "
          "one" * doctest::timeout(60)) {
  auto network = StartNetwork("console-refusals");
  REQUIRE(network);
  auto console = network->BrokerClient(wire::CONSOLE, kConsole);
  auto op = network->BrokerClient(wire::OPERATOR, kOperator);

  // No on_behalf_of: PERMISSION_DENIED, for a read as for statistics.
  CHECK(CodeOf(console->Call(GetCaseRequest("PER-0000-0001"), 5000)) == wire::PERMISSION_DENIED);
  CHECK(CodeOf(console->Call(StatsRequest(), 5000)) == wire::PERMISSION_DENIED);
  // Naming nobody of [[operators]]: PERMISSION_DENIED (a contact point's id is not a person).
  CHECK(CodeOf(console->Call(OnBehalfOf("nobody", StatsRequest()), 5000)) ==
        wire::PERMISSION_DENIED);
  CHECK(CodeOf(console->Call(OnBehalfOf(kContactPoint, StatsRequest()), 5000)) ==
        wire::PERMISSION_DENIED);
  // Named: the person's rights (an operator's statistics)...
  auto stats = console->CallOk(OnBehalfOf(kOperator, StatsRequest()), 5000);
  CHECK_MESSAGE(stats.ok(), stats.status().ToString());
  // ...and no more than the person's: an operator never submits.
  CHECK(CodeOf(console->Call(OnBehalfOf(kOperator, SubmitRequest("x", "k")), 5000)) ==
        wire::PERMISSION_DENIED);
  // Any other role naming someone: INVALID_ARGUMENT.
  CHECK(CodeOf(op->Call(OnBehalfOf(kOperator, StatsRequest()), 5000)) == wire::INVALID_ARGUMENT);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  CHECK(CodeOf(agent->Call(OnBehalfOf(kAdministrator, GetCaseRequest("PER-0000-0001")), 5000)) ==
        wire::INVALID_ARGUMENT);
  // The refusals are logged with the console's principal.
  CHECK(network->broker().Log().find("console/console") != std::string::npos);
}

TEST_CASE("through the console an alert is acknowledged by the person, and a requeue is audited "
          "under the person" * doctest::timeout(90)) {
  auto network =
      StartNetwork("console-actions", {"--ack-lease-ms", "400", "--max-attempts", "1"});
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto console = network->BrokerClient(wire::CONSOLE, kConsole);
  auto op = network->BrokerClient(wire::OPERATOR, kOperator);
  auto accepted = agent->CallOk(SubmitRequest("Dossier console", "c-dl"), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  const std::string case_id = accepted->accepted().case_id();

  // The partner takes the delivery and never acknowledges it: at the lease's end the next
  // attempt would be the second, so the item is parked, with one DEAD_LETTER alert.
  auto partner = network->BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(10), 5000).ok());
  REQUIRE(NextDelivery(*partner, 10000).has_value());
  REQUIRE(WaitUntil([&] { return CountAlerts(*op, case_id, wire::Alert::DEAD_LETTER) == 1; },
                    20000));
  const std::string alert_id = case_id + "/DEAD_LETTER/1";

  // `by` typed in a form is ignored: the person acknowledges.
  auto acked = console->CallOk(OnBehalfOf(kOperator, AckAlertRequest(alert_id, "someone-else")),
                               5000);
  REQUIRE_MESSAGE(acked.ok(), acked.status().ToString());
  auto alerts = AllAlerts(*op);
  REQUIRE(alerts.ok());
  auto dead = AlertsOf(*alerts, case_id, wire::Alert::DEAD_LETTER);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].acked_by() == kOperator);

  // The requeue: audited under the administrator through the console; the REQUEUED event's
  // actor is the person.
  auto requeued =
      console->CallOk(OnBehalfOf(kAdministrator, RequeueCase(case_id, "console-rq")), 5000);
  REQUIRE_MESSAGE(requeued.ok(), requeued.status().ToString());
  auto entries = AuditOf(*op, case_id);
  REQUIRE_MESSAGE(entries.ok(), entries.status().ToString());
  CHECK_MESSAGE(EntriesOf(*entries, "requeue", kViaConsoleAdmin).size() == 1,
                DescribeAudit(*entries));
  // Idempotency is per person through the console: the same key again from the administrator
  // is a replay (its first answer); from the operator through the console it is another
  // request (nothing is dead-lettered any more).
  auto replay =
      console->CallOk(OnBehalfOf(kAdministrator, RequeueCase(case_id, "console-rq")), 5000);
  CHECK_MESSAGE(replay.ok(), replay.status().ToString());
  auto other_person =
      console->Call(OnBehalfOf(kOperator, RequeueCase(case_id, "console-rq")), 5000);
  CHECK(CodeOf(other_person) == wire::NOT_DEAD_LETTERED);
}
