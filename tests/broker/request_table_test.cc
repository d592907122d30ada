// The table of requests (broker/request_table.h) against the protocol itself: every request the
// broker serves has exactly one row with every rule filled in, answers and pushes have none,
// and the idempotency scopes are the stable tags, so stored dedup keys of earlier releases
// still match.
#include <doctest/doctest.h>

#include <cctype>
#include <set>

#include "broker/request_table.h"
#include "common/case_id.h"
#include "common/wire.h"
#include "store/key_layout.h"

using namespace aplus;
using Body = wire::Envelope::BodyCase;

namespace {

// Bodies the broker only sends (answers and pushes): no row, ever.
const std::set<Body> kAnswersAndPushes = {
    Body::kWelcome,     Body::kError,         Body::kAccepted,   Body::kCaseView,
    Body::kCaseList,    Body::kCaseUpdated,   Body::kSubscribed, Body::kDelivery,
    Body::kStats,       Body::kInbox,         Body::kPong,       Body::kAlertList,
    Body::kAlertAcked,  Body::kReport,        Body::kDeadlineExplanation,
    Body::kAuditLog,    Body::kDeadLetterList, Body::kRequeued,  Body::kLocalEntry,
    Body::kWebhookList, Body::kWebhooksRedelivered, Body::kSlaBoard};
// Requests served by a gateway's local endpoint, never by the broker.
const std::set<Body> kGatewayLocal = {Body::kGetInbox, Body::kRetryLocal, Body::kDiscardLocal,
                                      Body::kListWebhooks, Body::kRedeliverWebhooks};

// The dedup scope as the first release built it: the body's protobuf field name, and the body's
// `case_id` field found by name (normalized when it is a case id).
std::string FirstReleaseScopedKey(const wire::Envelope& request, const std::string& key) {
  const google::protobuf::Message* body = nullptr;
  const auto* field =
      request.GetDescriptor()->FindFieldByNumber(static_cast<int>(request.body_case()));
  if (field) body = &request.GetReflection()->GetMessage(request, field);
  std::string case_id;
  if (body) {
    const auto* case_field = body->GetDescriptor()->FindFieldByName("case_id");
    if (case_field && case_field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      case_id = body->GetReflection()->GetString(*body, case_field);
      if (auto normalized = NormalizeCaseId(case_id)) case_id = *normalized;
    }
  }
  return BodyName(request) + '\x1f' + case_id + '\x1f' + key;
}

// An envelope with `body` set, its case_id and idempotency_key fields (when it has them) filled.
wire::Envelope Sample(const google::protobuf::FieldDescriptor& body_field,
                      const std::string& case_id, const std::string& key) {
  wire::Envelope envelope;
  auto* body = envelope.GetReflection()->MutableMessage(&envelope, &body_field);
  const auto* descriptor = body->GetDescriptor();
  if (const auto* field = descriptor->FindFieldByName("case_id")) {
    body->GetReflection()->SetString(body, field, case_id);
  }
  if (const auto* field = descriptor->FindFieldByName("idempotency_key")) {
    body->GetReflection()->SetString(body, field, key);
  }
  return envelope;
}

}  // namespace

TEST_CASE("every request body of the protocol has one complete row; answers have none") {
  const auto* oneof = wire::Envelope::descriptor()->FindOneofByName("body");
  REQUIRE(oneof != nullptr);
  std::set<Body> seen;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* field = oneof->field(i);
    Body body = static_cast<Body>(field->number());
    seen.insert(body);
    CAPTURE(field->name());
    const RequestRule* rule = FindRequestRule(body);
    if (kAnswersAndPushes.count(body) || kGatewayLocal.count(body)) {
      CHECK_MESSAGE(rule == nullptr, "the broker must not serve " << field->name());
      continue;
    }
    REQUIRE_MESSAGE(rule != nullptr, "no row for request " << field->name()
                                          << ": add one to broker/request_table.cc");
    CHECK(rule->body == body);
    CHECK_MESSAGE((rule->on_session != nullptr) != (rule->on_connection != nullptr),
                  "exactly one handler");
    CHECK_FALSE(rule->roles.empty());
    // A row that refuses a role says why.
    bool refuses_someone = !rule->roles.Allows(wire::AGENT_GATEWAY) ||
                           !rule->roles.Allows(wire::PARTNER_GATEWAY) ||
                           !rule->roles.Allows(wire::OPERATOR) ||
                           !rule->roles.Allows(wire::ADMINISTRATOR);
    if (refuses_someone) CHECK(std::string(rule->denied).size() > 0);
    // A request with an idempotency key is scoped by a stable tag, and reads its case id if it
    // has one: the row must say how.
    const auto* message = field->message_type();
    bool has_key = message->FindFieldByName("idempotency_key") != nullptr;
    bool has_case = message->FindFieldByName("case_id") != nullptr;
    CHECK((rule->idempotency_key != nullptr) == has_key);
    CHECK((rule->scope.empty()) == !has_key);
    if (has_case) CHECK_MESSAGE(static_cast<bool>(rule->case_id), "how its case id is read");
    // Whoever keeps a key keeps it durably: such a request's answer waits for the commit.
    if (has_key) CHECK(rule->after_commit);
    CHECK_FALSE(rule->roles.Allows(wire::ROLE_UNSPECIFIED));
  }
  // Every row is a body of the protocol (no stale row), once.
  std::set<Body> rows;
  for (const RequestRule& rule : RequestRules()) {
    CHECK(seen.count(rule.body) == 1);
    CHECK(rows.insert(rule.body).second);
  }
  CHECK(FindRequestRule(Body::BODY_NOT_SET) == nullptr);
}

TEST_CASE("the exempt, the connection-level and the role rules are the documented ones") {
  CHECK_FALSE(FindRequestRule(Body::kDeliveryAck)->rate_limited);
  CHECK_FALSE(FindRequestRule(Body::kPing)->rate_limited);
  CHECK(FindRequestRule(Body::kHello)->rate_limited);
  CHECK(FindRequestRule(Body::kSubmit)->rate_limited);
  CHECK(FindRequestRule(Body::kHello)->on_connection != nullptr);
  CHECK(FindRequestRule(Body::kPing)->on_connection != nullptr);
  CHECK(FindRequestRule(Body::kSubmit)->roles.Allows(wire::AGENT_GATEWAY));
  CHECK_FALSE(FindRequestRule(Body::kSubmit)->roles.Allows(wire::OPERATOR));
  CHECK_FALSE(FindRequestRule(Body::kReplyCase)->roles.Allows(wire::AGENT_GATEWAY));
  CHECK_FALSE(FindRequestRule(Body::kGetAudit)->roles.Allows(wire::PARTNER_GATEWAY));
  CHECK(FindRequestRule(Body::kGetAudit)->roles.Allows(wire::ADMINISTRATOR));
  CHECK_FALSE(FindRequestRule(Body::kGetStats)->roles.Allows(wire::AGENT_GATEWAY));
  CHECK_FALSE(FindRequestRule(Body::kExplainDeadline)->after_commit);
  CHECK_FALSE(FindRequestRule(Body::kSubscribe)->after_commit);
  CHECK(FindRequestRule(Body::kGetCase)->after_commit);  // the read is audited first
}

// A retry after an upgrade must still find its case: the dedup keys the first release stored
// (scope = protobuf field name, found by reflection) are exactly the ones built now from the
// stable tags.
TEST_CASE("dedup keys written by the first release's scheme are still found") {
  const auto* oneof = wire::Envelope::descriptor()->FindOneofByName("body");
  int scoped = 0;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* field = oneof->field(i);
    const RequestRule* rule = FindRequestRule(static_cast<Body>(field->number()));
    if (!rule || !rule->idempotency_key) continue;
    CAPTURE(field->name());
    std::string valid = FormatCaseId("PER", 777);
    std::string lower = valid;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const std::string& case_id : {valid, lower, std::string("not a case id")}) {
      wire::Envelope request = Sample(*field, case_id, "retry-42");
      auto now = IdempotencyScopeOf(request);
      REQUIRE(now.has_value());
      CHECK(*now == FirstReleaseScopedKey(request, "retry-42"));
      ++scoped;
    }
    // No key, no dedup entry.
    CHECK_FALSE(IdempotencyScopeOf(Sample(*field, "PER-ABCD-EFGH", "")).has_value());
  }
  CHECK(scoped >= 8 * 3);
  // And literally, as stored on disk (KEY_LAYOUT.md):
  std::string id = FormatCaseId("PER", 12345);
  std::string typed = id;
  for (auto& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  wire::Envelope close;
  close.mutable_close_case()->set_case_id(typed);  // as a person may type it
  close.mutable_close_case()->set_idempotency_key("k1");
  CHECK(*IdempotencyScopeOf(close) == "close_case\x1f" + id + "\x1fk1");
  wire::Envelope submit;
  submit.mutable_submit()->set_idempotency_key("k2");
  CHECK(*IdempotencyScopeOf(submit) == std::string("submit\x1f\x1fk2"));
  CHECK(keys::DedupKey("cp/mairie-berdhuis", *IdempotencyScopeOf(submit)) ==
        std::string("cp/mairie-berdhuis\0submit\x1f\x1fk2", 29));
}
