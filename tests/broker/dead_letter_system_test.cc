// Dead letters an operator can act on (issue 8, finding 5): a dead-lettering raises one
// operator-only DEAD_LETTER alert; ListDeadLetters shows the parked items; RequeueDeadLetters
// puts every item of a case (or of a partner's queues) back at the head of its queue, in its
// original order, under its original delivery id, restores the case's queue slot, records a
// REQUEUED event and an audit entry, and answers a retry with its first answer. Real broker,
// real CURVE, short ack lease.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "tests/support/broker_test_helpers.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::vector<std::string> kShortLease = {"--ack-lease-ms", "400", "--max-attempts", "2"};
const std::string kQueue = "partner/france-travail";
const std::string kContactPoint = "mairie-perche-en-noce";

std::string SubmitOne(SyncClient& agent, const std::string& key) {
  auto accepted = agent.CallOk(SubmitRequest("Dossier " + key, key), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  return accepted->accepted().case_id();
}

Result<wire::DeadLetterList> ListDeadLetters(SyncClient& client, const std::string& partner = "") {
  wire::Envelope request;
  request.mutable_list_dead_letters()->set_partner(partner);
  auto answer = client.CallOk(request, 5000);
  if (!answer.ok()) return answer.status();
  if (!answer->has_dead_letter_list()) return Status(wire::INTERNAL, "not a DeadLetterList");
  return answer->dead_letter_list();
}

wire::Envelope RequeueCase(const std::string& case_id, const std::string& key) {
  wire::Envelope request;
  request.mutable_requeue_dead_letters()->set_case_id(case_id);
  request.mutable_requeue_dead_letters()->set_idempotency_key(key);
  return request;
}

wire::Envelope RequeuePartner(const std::string& partner, const std::string& key) {
  wire::Envelope request;
  request.mutable_requeue_dead_letters()->set_partner(partner);
  request.mutable_requeue_dead_letters()->set_all(true);
  request.mutable_requeue_dead_letters()->set_idempotency_key(key);
  return request;
}

// Deliveries of `client` until `count` arrived or `timeout_ms` passed (none acknowledged).
std::vector<wire::Delivery> Deliveries(SyncClient& client, size_t count, int timeout_ms) {
  std::vector<wire::Delivery> got;
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (got.size() < count) {
    int64_t left = deadline - SteadyNowMs();
    if (left <= 0) break;
    auto delivery = NextDelivery(client, static_cast<int>(left));
    if (!delivery) break;
    got.push_back(*delivery);
  }
  return got;
}

}  // namespace

TEST_CASE("dead letters: alerted once, listed, requeued at the head in order, idempotent" *
          doctest::timeout(120)) {
  auto started = StartNetwork("dead-letter-requeue", kShortLease);
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto op = network.BrokerClient(wire::OPERATOR, "operator");

  // Case A: its escalation, then a notice (the contact point's answer to a question) in the
  // partner's queue; case B: its escalation between the two.
  std::string case_a = SubmitOne(*agent, "dl-a");
  std::string case_b = SubmitOne(*agent, "dl-b");
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(AskInfoRequest(case_a, "Numéro d'allocataire ?", "ask-a"), 5000).ok());
  REQUIRE(agent->CallOk(AnswerInfoRequest(case_a, "1234567", "answer-a"), 5000).ok());

  // The partner takes deliveries and never acknowledges: two attempts each, then parked.
  REQUIRE(partner->CallOk(SubscribeRequest(10), 5000).ok());
  std::map<uint64_t, std::string> delivered;  // delivery id -> what
  auto all_parked = [&] {
    while (auto delivery = NextDelivery(*partner, 50)) {
      delivered[delivery->delivery_id()] =
          delivery->has_mail() ? "mail " + delivery->mail().case_id()
                               : "escalation " + delivery->escalation().case_id();
      CHECK_FALSE(delivery->has_alert());  // no DEAD_LETTER alert is ever queued to a partner
    }
    auto stats = OperatorStats(*op);
    return stats.ok() && QueueStatsOf(*stats, kQueue).dead_lettered() == 3;
  };
  REQUIRE(WaitUntil(all_parked, 20000));
  REQUIRE(delivered.size() == 3);
  std::vector<uint64_t> ids;
  for (const auto& [id, what] : delivered) ids.push_back(id);
  CHECK(delivered[ids[0]] == "escalation " + case_a);
  CHECK(delivered[ids[1]] == "escalation " + case_b);
  CHECK(delivered[ids[2]] == "mail " + case_a);

  // One DEAD_LETTER alert per dead-lettering, n counting the case's.
  auto alerts = AllAlerts(*op);
  REQUIRE(alerts.ok());
  auto dead_a = AlertsOf(*alerts, case_a, wire::Alert::DEAD_LETTER);
  auto dead_b = AlertsOf(*alerts, case_b, wire::Alert::DEAD_LETTER);
  REQUIRE(dead_a.size() == 2);
  REQUIRE(dead_b.size() == 1);
  CHECK(dead_a[0].alert_id() == case_a + "/DEAD_LETTER/1");
  CHECK(dead_a[1].alert_id() == case_a + "/DEAD_LETTER/2");
  CHECK(dead_b[0].alert_id() == case_b + "/DEAD_LETTER/1");
  CHECK(dead_b[0].partner() == "france-travail");
  CHECK(dead_b[0].contact_point() == kContactPoint);
  CHECK_MESSAGE(dead_b[0].text().find("aplus dlq requeue " + case_b) != std::string::npos,
                dead_b[0].text());
  // ... and none in the contact point's mailbox.
  REQUIRE(agent->CallOk(SubscribeRequest(50), 5000).ok());
  while (auto delivery = NextDelivery(*agent, 1000)) {  // acknowledged at once (short lease)
    CHECK_FALSE((delivery->has_alert() && delivery->alert().kind() == wire::Alert::DEAD_LETTER));
    CHECK(AckDelivery(*agent, *delivery).ok());
  }

  // Listed, oldest first, with what each item is.
  auto listed = ListDeadLetters(*op, "france-travail");
  REQUIRE_MESSAGE(listed.ok(), listed.status().ToString());
  REQUIRE(listed->items_size() == 3);
  std::multiset<std::string> kinds;
  for (const auto& item : listed->items()) {
    CHECK(item.queue() == kQueue);
    CHECK(item.attempts() == 2);
    CHECK(item.dead_lettered_at_ms() > 0);
    kinds.insert(item.kind() + " " + item.case_id());
  }
  CHECK(kinds == std::multiset<std::string>{"escalation " + case_a, "escalation " + case_b,
                                           "mail " + case_a});
  auto everything = ListDeadLetters(*op);
  REQUIRE(everything.ok());
  CHECK(everything->items_size() == 3);

  // Operators only; exactly one form.
  auto refused = agent->Call(RequeueCase(case_a, "agent-try"), 5000);
  REQUIRE(refused.ok());
  CHECK(StatusOf(*refused).code() == wire::PERMISSION_DENIED);
  wire::Envelope list_request;
  list_request.mutable_list_dead_letters();
  auto refused_list = partner->Call(list_request, 5000);
  REQUIRE(refused_list.ok());
  CHECK(StatusOf(*refused_list).code() == wire::PERMISSION_DENIED);
  wire::Envelope both = RequeueCase(case_a, "both");
  both.mutable_requeue_dead_letters()->set_partner("france-travail");
  both.mutable_requeue_dead_letters()->set_all(true);
  auto invalid = op->Call(both, 5000);
  REQUIRE(invalid.ok());
  CHECK(StatusOf(*invalid).code() == wire::INVALID_ARGUMENT);

  // Requeue case A: both of its items, back at the head, in their order, same delivery ids.
  auto requeued = op->CallOk(RequeueCase(case_a, "requeue-a"), 5000);
  REQUIRE_MESSAGE(requeued.ok(), requeued.status().ToString());
  REQUIRE(requeued->has_requeued());
  CHECK(requeued->requeued().items() == 2);
  REQUIRE(requeued->requeued().case_ids_size() == 1);
  CHECK(requeued->requeued().case_ids(0) == case_a);
  auto again = Deliveries(*partner, 2, 5000);
  REQUIRE(again.size() == 2);
  CHECK(again[0].delivery_id() == ids[0]);
  CHECK(again[0].attempt() == 1);
  CHECK(again[0].escalation().case_id() == case_a);
  CHECK(again[1].delivery_id() == ids[2]);
  CHECK(again[1].mail().case_id() == case_a);
  for (const auto& delivery : again) REQUIRE(AckDelivery(*partner, delivery).ok());

  // The case's slot is back, then consumed by the acknowledgement.
  auto view = GetCaseView(*op, case_a);
  REQUIRE(view.ok());
  CHECK_FALSE(view->summary().dead_lettered());
  auto requeued_events = EventsOf(*view, "REQUEUED");
  REQUIRE(requeued_events.size() == 1);
  CHECK(requeued_events[0].actor() == "operator");
  CHECK_MESSAGE(TimelineProblem(*view).empty(), TimelineProblem(*view));
  auto stats = OperatorStats(*op);
  REQUIRE(stats.ok());
  CHECK(QueueStatsOf(*stats, kQueue).dead_lettered() == 1);
  CHECK(QueueStatsOf(*stats, kQueue).depth() == 0);
  wire::Envelope audit;
  audit.mutable_get_audit()->set_case_id(case_a);
  auto log = op->CallOk(audit, 5000);
  REQUIRE(log.ok());
  bool audited = false;
  for (const auto& entry : log->audit_log().entries()) {
    audited = audited || (entry.action() == "requeue" && entry.principal() == "op/operator");
  }
  CHECK(audited);

  // The same key answers the first answer; a new one finds nothing parked.
  auto replay = op->CallOk(RequeueCase(case_a, "requeue-a"), 5000);
  REQUIRE(replay.ok());
  CHECK(replay->requeued().items() == 2);
  CHECK(replay->requeued().case_ids_size() == 1);
  auto nothing = op->Call(RequeueCase(case_a, "requeue-a-2"), 5000);
  REQUIRE(nothing.ok());
  CHECK(StatusOf(*nothing).code() == wire::NOT_DEAD_LETTERED);
  auto unknown = op->Call(RequeueCase("PER-0000-0000", "requeue-x"), 5000);
  REQUIRE(unknown.ok());
  CHECK(StatusOf(*unknown).code() == wire::UNKNOWN_CASE);

  // After a SIGKILL, a partner's whole dead-letter queue goes back, and B is delivered.
  partner.reset();
  REQUIRE_MESSAGE(RestartBroker(network, kShortLease), network.broker().Log());
  auto op_after = network.BrokerClient(wire::OPERATOR, "operator");
  auto stats_after = OperatorStats(*op_after);
  REQUIRE(stats_after.ok());
  CHECK(QueueStatsOf(*stats_after, kQueue).dead_lettered() == 1);
  auto all = op_after->CallOk(RequeuePartner("france-travail", "requeue-ft"), 5000);
  REQUIRE_MESSAGE(all.ok(), all.status().ToString());
  CHECK(all->requeued().items() == 1);
  REQUIRE(all->requeued().case_ids_size() == 1);
  CHECK(all->requeued().case_ids(0) == case_b);
  auto partner_after = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner_after->CallOk(SubscribeRequest(10), 5000).ok());
  auto b = Deliveries(*partner_after, 1, 5000);
  REQUIRE(b.size() == 1);
  CHECK(b[0].delivery_id() == ids[1]);
  CHECK(b[0].escalation().case_id() == case_b);
  REQUIRE(AckDelivery(*partner_after, b[0]).ok());
  auto delivered_b = [&] {
    auto seen = GetCaseView(*op_after, case_b);
    return seen.ok() && seen->summary().state() == wire::DELIVERED;
  };
  CHECK(WaitUntil(delivered_b, 5000));
  auto none = op_after->Call(RequeuePartner("france-travail", "requeue-ft-2"), 5000);
  REQUIRE(none.ok());
  CHECK(StatusOf(*none).code() == wire::NOT_DEAD_LETTERED);
  auto emptied = ListDeadLetters(*op_after);
  REQUIRE(emptied.ok());
  CHECK(emptied->items_size() == 0);
}

TEST_CASE("a parked escalation of a case cancelled since is dropped, not delivered" *
          doctest::timeout(60)) {
  auto started = StartNetwork("dead-letter-stale", kShortLease);
  REQUIRE(started);
  TestNetwork& network = *started;
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  std::string case_id = SubmitOne(*agent, "dl-stale");
  {
    auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
    REQUIRE(partner->CallOk(SubscribeRequest(10), 5000).ok());
    auto parked = [&] {
      while (NextDelivery(*partner, 20)) {
      }
      auto stats = OperatorStats(*op);
      return stats.ok() && QueueStatsOf(*stats, kQueue).dead_lettered() == 1;
    };
    REQUIRE(WaitUntil(parked, 15000));
  }
  wire::Envelope cancel;
  cancel.mutable_cancel_case()->set_case_id(case_id);
  cancel.mutable_cancel_case()->set_reason("le citoyen a renoncé");
  cancel.mutable_cancel_case()->set_idempotency_key("cancel-stale");
  REQUIRE(agent->CallOk(cancel, 5000).ok());

  auto requeued = op->CallOk(RequeueCase(case_id, "requeue-stale"), 5000);
  REQUIRE_MESSAGE(requeued.ok(), requeued.status().ToString());
  CHECK(requeued->requeued().items() == 0);
  auto stats = OperatorStats(*op);
  REQUIRE(stats.ok());
  CHECK(QueueStatsOf(*stats, kQueue).dead_lettered() == 0);
  CHECK(QueueStatsOf(*stats, kQueue).depth() == 0);
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(10), 5000).ok());
  CHECK_FALSE(NextDelivery(*partner, 1000));
  auto view = GetCaseView(*op, case_id);
  REQUIRE(view.ok());
  CHECK(view->summary().state() == wire::CANCELLED);
  auto events = EventsOf(*view, "REQUEUED");
  REQUIRE(events.size() == 1);
  CHECK_MESSAGE(events[0].detail().find("stale") != std::string::npos, events[0].detail());
  CHECK_FALSE(view->summary().dead_lettered());
  CHECK_MESSAGE(TimelineProblem(*view).empty(), TimelineProblem(*view));
}
