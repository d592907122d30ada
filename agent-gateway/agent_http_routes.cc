// The agent gateway's HTTP API (docs/openapi.yaml, operations x-served-by agent): one row per
// operation in HttpRoutes(); each handler turns the HTTP request into the wire request the
// local ROUTER would carry and hands it to the same handlers (HandleLocal and its helpers) with
// a LocalClient whose `answer` renders the answer Envelope as the operation's JSON response.
// Wire errors become problem documents (SendProblem: Retry-After on 429 and 503).
//
// Agent-restricted tokens (TokenIdentity::AllowsAgent): a submission for another agent is
// 403 PERMISSION_DENIED; a case of another agent is 404 UNKNOWN_CASE (its existence is not
// revealed); lists and the event feed show only the token's agents.
//
// Idempotency-Key on POST /v1/cases: the index (kIdempotencyFamily) maps token name + key to
// the local ref of the submission and the SHA-256 of its body, written in the same batch as the
// outbox entry, so a retried POST finds its submission whether or not the broker was reached.
// The broker's idempotency key derives from the same pair, so the broker deduplicates too.
//
// Thread rules: everything here runs on the gateway's loop thread.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "agent-gateway/agent_gateway.h"
#include "common/case_id.h"
#include "common/token_store.h"
#include "common/wire.h"
#include "gateway/case_json.h"
#include "http/problem.h"

namespace aplus {
namespace {

using nlohmann::json;

constexpr int64_t kDefaultPageSize = 100;
constexpr int64_t kMaxPageSize = 1000;
constexpr int64_t kMaxWaitSeconds = 60;
constexpr size_t kMaxIdempotencyKeyBytes = 128;
constexpr size_t kMaxCursorBytes = 256;

const std::vector<JsonField> kSubmitFields = {
    {"agent", JsonType::kString, true, 128},     {"partner", JsonType::kString, true, 128},
    {"category", JsonType::kString, true, 128},  {"subject", JsonType::kString, false, 1024},
    {"body", JsonType::kString, false, 262144},  {"citizen", JsonType::kString, false, 256},
    {"mandate", JsonType::kString, false, 128},  {"consent", JsonType::kBoolean},
};
const std::vector<JsonField> kEmptyFields = {};
const std::vector<JsonField> kCancelFields = {{"reason", JsonType::kString, false, 4096}};
const std::vector<JsonField> kTextFields = {{"text", JsonType::kString, true, 262144}};

std::string CaseLocation(const std::string& id) { return "/v1/cases/" + id; }

// The Idempotency-Key header: nullopt when absent, INVALID_ARGUMENT when malformed.
Result<std::optional<std::string>> IdempotencyKeyOf(const HttpCall& call) {
  auto key = call.request.Header("idempotency-key");
  if (!key) return std::optional<std::string>();
  std::string text(*key);
  bool printable = std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (text.empty() || text.size() > kMaxIdempotencyKeyBytes || !printable) {
    return Status(wire::INVALID_ARGUMENT,
                  "Idempotency-Key must be 1 to 128 printable ASCII characters");
  }
  return std::optional<std::string>(std::move(text));
}

// The key the broker deduplicates on: stable for (token, key), at most 42 bytes.
std::string BrokerKey(const std::string& token_name, const std::string& key) {
  return "h:" + HashToken(token_name + std::string(1, '\0') + key).substr(0, 40);
}

// "2026-11-30T09:15:00Z", "...:00.250Z", "...+01:00" -> Unix ms; nullopt when malformed.
std::optional<int64_t> ParseRfc3339(const std::string& text) {
  int year, month, day, hour, minute, second;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::string rest = text.substr(19);
  int64_t millis = 0;
  if (!rest.empty() && rest[0] == '.') {
    size_t digits = 1;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
    if (digits == 1) return std::nullopt;
    std::string fraction = rest.substr(1, std::min<size_t>(digits - 1, 3));
    while (fraction.size() < 3) fraction += '0';
    millis = std::stoi(fraction);
    rest = rest.substr(digits);
  }
  int64_t offset_s = 0;
  if (rest == "Z" || rest == "z") {
    offset_s = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(rest.c_str() + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = (rest[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  return (static_cast<int64_t>(::timegm(&parts)) - offset_s) * 1000 + millis;
}

// GET /v1/cases cursor: local submissions first (outbox order), then the broker's cases
// (submission order). "l<sequence>" = after that outbox entry; "b<case id>" = after that case;
// "b" = the broker's first page. Opaque to clients (base64url is not worth it: they must not
// parse it either way, and the schema says so).
struct ListCursor {
  bool broker = false;
  uint64_t after_sequence = 0;
  std::string after_case_id;
};

Result<ListCursor> ParseListCursor(const std::string& text) {
  ListCursor cursor;
  if (text.empty()) return cursor;
  if (text[0] == 'b') {
    cursor.broker = true;
    cursor.after_case_id = text.substr(1);
    return cursor;
  }
  if (text[0] == 'l' && text.size() > 1) {
    auto sequence = EventFeed::ParseCursor(text.substr(1));
    if (sequence.ok()) {
      cursor.after_sequence = *sequence;
      return cursor;
    }
  }
  return Status(wire::INVALID_ARGUMENT, "\"cursor\" is not a cursor of this list");
}

json CaseUpdateJson(const wire::CaseUpdated& updated, const std::string& local_ref) {
  json out = {{"caseId", updated.case_id()},
              {"state", updated.queued_locally() && updated.state() == wire::STATE_UNSPECIFIED
                            ? "QUEUED_LOCALLY"
                            : CaseStateName(updated.state())},
              {"queuedLocally", updated.queued_locally()}};
  if (!local_ref.empty()) out["localRef"] = local_ref;
  return out;
}

json AuditLogJson(const wire::AuditLog& log) {
  json entries = json::array();
  for (const auto& entry : log.entries()) {
    json item = {{"sequence", entry.sequence()},
                 {"at", Rfc3339(entry.at_ms())},
                 {"principal", entry.principal()},
                 {"action", entry.action()}};
    if (!entry.detail().empty()) item["detail"] = entry.detail();
    entries.push_back(std::move(item));
  }
  return {{"caseId", log.case_id()}, {"entries", std::move(entries)}};
}

// Sends the problem of an error Envelope, or INTERNAL for an answer of an unexpected kind.
void SendUnexpected(const http::Responder& responder, const wire::Envelope& answer) {
  Status status = StatusOf(answer);
  if (status.ok()) status = Status(wire::INTERNAL, "unexpected answer " + BodyName(answer));
  SendProblem(responder, status);
}

LocalClient HttpClient(std::function<void(wire::Envelope)> answer) {
  LocalClient client;
  client.answer = std::move(answer);
  return client;
}

}  // namespace

std::vector<HttpRoute> AgentGateway::HttpRoutes() {
  using Body = wire::Envelope::BodyCase;
  auto handler = [this](void (AgentGateway::*method)(HttpCall&&)) {
    return [this, method](HttpCall&& call) { (this->*method)(std::move(call)); };
  };
  auto mutation = [this](Body body) {
    return [this, body](HttpCall&& call) { HttpCaseMutation(std::move(call), body); };
  };
  return {
      {"POST", "/v1/cases", handler(&AgentGateway::HttpSubmit)},
      {"GET", "/v1/cases", handler(&AgentGateway::HttpListCases)},
      {"GET", "/v1/cases/{id}", handler(&AgentGateway::HttpGetCase)},
      {"POST", "/v1/cases/{id}/close", mutation(Body::kCloseCase)},
      {"POST", "/v1/cases/{id}/cancel", mutation(Body::kCancelCase)},
      {"POST", "/v1/cases/{id}/answers", mutation(Body::kAnswerInfo)},
      {"GET", "/v1/cases/{id}/audit", handler(&AgentGateway::HttpGetAudit)},
      {"GET", "/v1/deadline", handler(&AgentGateway::HttpExplainDeadline)},
      {"GET", "/v1/events", handler(&AgentGateway::HttpEvents)},
  };
}

bool AgentGateway::MaySee(const HttpCall& call, const std::string& agent) {
  return call.token.AllowsAgent(agent);
}

// --- POST /v1/cases ------------------------------------------------------------------------

void AgentGateway::HttpSubmit(HttpCall&& call) {
  if (fail_stop_.tripped()) return SendProblem(call.responder, fail_stop_.status());
  auto body = ReadJsonBody(call, kSubmitFields);
  if (!body) return;
  auto key = IdempotencyKeyOf(call);
  if (!key.ok()) return SendProblem(call.responder, key.status());
  wire::Submit submit;
  submit.set_agent(body->value("agent", ""));
  submit.set_partner(body->value("partner", ""));
  submit.set_category(body->value("category", ""));
  submit.set_subject(body->value("subject", ""));
  submit.set_body(body->value("body", ""));
  submit.set_citizen_name(body->value("citizen", ""));
  submit.set_mandate_reference(body->value("mandate", ""));
  submit.set_citizen_consent(body->value("consent", false));
  if (!MaySee(call, submit.agent())) {
    return SendProblem(call.responder,
                       Status(wire::PERMISSION_DENIED, "this token may not submit for agent " +
                                                           submit.agent()));
  }
  AlsoWrite also;
  if (key->has_value()) {
    std::string index_key = call.token.name + std::string(1, '\0') + **key;
    std::string digest = HashToken(body->dump());
    auto known = db_->Get(idempotency_family_, index_key);
    if (!known.ok()) return SendProblem(call.responder, known.status());
    if (known->has_value()) {
      const std::string& value = **known;
      size_t split = value.find('\0');
      std::string ref = value.substr(0, split);
      if (split == std::string::npos || value.substr(split + 1) != digest) {
        call.responder.Send(http::ProblemResponse(
            http::HttpOnlyProblem::kIdempotencyKeyReused,
            "this Idempotency-Key was used for another submission (" + ref + ")"));
        return;
      }
      return AnswerKnownSubmission(call.responder, ref);
    }
    submit.set_idempotency_key(BrokerKey(call.token.name, **key));
    also = [this, index_key, digest](rocksdb::WriteBatch& batch, const std::string& local_ref) {
      batch.Put(idempotency_family_, index_key, local_ref + std::string(1, '\0') + digest);
    };
  }
  wire::Submit shown = submit;  // for the 201/202 body
  auto responder = call.responder;
  auto client = HttpClient([this, responder, shown](wire::Envelope answer) {
    if (!answer.has_accepted()) return SendUnexpected(responder, answer);
    const auto& accepted = answer.accepted();
    wire::CaseView view;
    auto* summary = view.mutable_summary();
    summary->set_case_id(accepted.case_id());
    summary->set_local_ref(accepted.local_ref());
    summary->set_state(accepted.state());
    summary->set_contact_point(options_.contact_point);
    summary->set_agent(shown.agent());
    summary->set_partner(shown.partner());
    summary->set_category(shown.category());
    summary->set_subject(shown.subject());
    summary->set_submitted_at_ms(clock_.NowMs());
    summary->set_deadline_ms(accepted.deadline_ms());
    summary->set_mandate_reference(shown.mandate_reference());
    summary->set_citizen_consent(shown.citizen_consent());
    view.set_body(shown.body());
    view.set_citizen_name(shown.citizen_name());
    bool queued = accepted.state() == wire::QUEUED_LOCALLY || accepted.case_id().empty();
    if (queued) summary->set_state(wire::QUEUED_LOCALLY);
    const std::string& id = queued ? accepted.local_ref() : accepted.case_id();
    SendJson(responder, queued ? 202 : 201, CaseViewJson(view),
             {{"Location", CaseLocation(id)}});
  });
  HandleSubmit(std::move(client), std::move(submit), std::move(also));
}

void AgentGateway::AnswerKnownSubmission(http::Responder responder, const std::string& local_ref) {
  if (const auto* queued = forwarder_->FindByLocalRef(local_ref);
      queued != nullptr && queued->request().has_submit()) {
    return SendJson(responder, 202, CaseViewJson(QueuedView(*queued)),
                    {{"Location", CaseLocation(local_ref)}});
  }
  auto client = HttpClient([responder](wire::Envelope answer) {
    if (!answer.has_case_view()) return SendUnexpected(responder, answer);
    const auto& summary = answer.case_view().summary();
    SendJson(responder, 201, CaseViewJson(answer.case_view()),
             {{"Location", CaseLocation(summary.case_id())}});
  });
  // The ref resolves to the case (or to the broker's refusal, answered as its problem).
  HandleGetCase(std::move(client), local_ref);
}

// --- reads ---------------------------------------------------------------------------------

void AgentGateway::IfVisible(HttpCall&& call, const std::string& id,
                             std::function<void(HttpCall&&)> next) {
  if (call.token.agents.empty()) return next(std::move(call));
  auto shared = std::make_shared<HttpCall>(std::move(call));
  HandleGetCase(HttpClient([shared, next, id](wire::Envelope answer) {
                  if (!answer.has_case_view()) return SendUnexpected(shared->responder, answer);
                  if (!MaySee(*shared, answer.case_view().summary().agent())) {
                    return SendProblem(shared->responder,
                                       Status(wire::UNKNOWN_CASE, "no case " + id));
                  }
                  next(std::move(*shared));
                }),
                id);
}

void AgentGateway::HttpGetCase(HttpCall&& call) {
  std::string id = call.path["id"];
  auto responder = call.responder;
  auto token = call.token;
  HandleGetCase(HttpClient([responder, token, id](wire::Envelope answer) {
                  if (!answer.has_case_view()) return SendUnexpected(responder, answer);
                  if (!token.AllowsAgent(answer.case_view().summary().agent())) {
                    return SendProblem(responder, Status(wire::UNKNOWN_CASE, "no case " + id));
                  }
                  SendJson(responder, 200, CaseViewJson(answer.case_view()));
                }),
                id);
}

void AgentGateway::HttpGetAudit(HttpCall&& call) {
  std::string id = call.path["id"];
  IfVisible(std::move(call), id, [this, id](HttpCall&& visible) {
    auto responder = visible.responder;
    std::string case_id = id;
    if (IsLocalRef(id)) {
      // The audit log is the broker's, by case id: resolve the ref first.
      auto ref = cache_->FindRef(id);
      if (!ref.ok()) return SendProblem(responder, ref.status());
      if (!ref->has_value() || !(*ref)->has_accepted()) {
        return SendProblem(responder, Status(wire::UNKNOWN_CASE,
                                             "no case known yet for local reference " + id));
      }
      case_id = (*ref)->accepted().case_id();
    }
    HandleGetAudit(HttpClient([responder](wire::Envelope answer) {
                     if (!answer.has_audit_log()) return SendUnexpected(responder, answer);
                     SendJson(responder, 200, AuditLogJson(answer.audit_log()));
                   }),
                   case_id);
  });
}

void AgentGateway::HttpExplainDeadline(HttpCall&& call) {
  wire::ExplainDeadline explain;
  auto partner = call.query.find("partner");
  if (partner == call.query.end() || partner->second.empty()) {
    return SendProblem(call.responder, Status(wire::INVALID_ARGUMENT, "\"partner\" is required"));
  }
  explain.set_partner(partner->second);
  if (auto category = call.query.find("category"); category != call.query.end()) {
    explain.set_category(category->second);
  }
  if (auto at = call.query.find("at"); at != call.query.end()) {
    auto when = ParseRfc3339(at->second);
    if (!when) {
      return SendProblem(call.responder,
                         Status(wire::INVALID_ARGUMENT,
                                "\"at\" must be an RFC 3339 instant (2026-11-30T09:15:00Z)"));
    }
    explain.set_at_ms(*when);
  }
  auto responder = call.responder;
  HandleExplainDeadline(
      HttpClient([responder](wire::Envelope answer) {
        if (!answer.has_deadline_explanation()) return SendUnexpected(responder, answer);
        const auto& explained = answer.deadline_explanation();
        json lines = json::array();
        for (const auto& line : explained.lines()) lines.push_back(line);
        json out = {{"deadline", Rfc3339(explained.deadline_ms())},
                    {"replyPolicy", explained.reply_policy()},
                    {"explanation", std::move(lines)}};
        if (explained.warning_at_ms() > 0) out["warningAt"] = Rfc3339(explained.warning_at_ms());
        SendJson(responder, 200, out);
      }),
      std::move(explain));
}

// GET /v1/cases: the outbox's submissions first (oldest first), then the broker's cases (case-id
// order; from the local cache when the broker does not answer in time). A submission that gets
// its case id while a client pages is listed again among the broker's cases, under its case id
// (with its localRef): nothing is skipped, and the client sees the submission's outcome.
void AgentGateway::HttpListCases(HttpCall&& call) {
  auto limit = QueryInteger(call, "limit", kDefaultPageSize, 1, kMaxPageSize);
  if (!limit.ok()) return SendProblem(call.responder, limit.status());
  wire::CaseState state = wire::STATE_UNSPECIFIED;
  if (auto it = call.query.find("state"); it != call.query.end()) {
    if (!wire::CaseState_Parse(it->second, &state) || state == wire::STATE_UNSPECIFIED) {
      return SendProblem(call.responder,
                         Status(wire::INVALID_ARGUMENT, "\"state\" is not a case state"));
    }
  }
  std::string partner;
  if (auto it = call.query.find("partner"); it != call.query.end()) partner = it->second;
  std::string cursor_text;
  if (auto it = call.query.find("cursor"); it != call.query.end()) cursor_text = it->second;
  if (cursor_text.size() > kMaxCursorBytes) {
    return SendProblem(call.responder, Status(wire::INVALID_ARGUMENT, "\"cursor\" is too long"));
  }
  auto cursor = ParseListCursor(cursor_text);
  if (!cursor.ok()) return SendProblem(call.responder, cursor.status());

  auto wanted = [state, partner, token = call.token](const wire::CaseSummary& summary) {
    if (state != wire::STATE_UNSPECIFIED && summary.state() != state) return false;
    if (!partner.empty() && summary.partner() != partner) return false;
    return token.AllowsAgent(summary.agent());
  };
  json items = json::array();
  if (!cursor->broker) {
    uint64_t last = cursor->after_sequence;
    for (const auto& item : forwarder_->entries()) {
      if (item.sequence <= cursor->after_sequence || !item.entry.request().has_submit()) continue;
      auto summary = QueuedView(item.entry).summary();
      if (!wanted(summary)) continue;
      if (static_cast<int64_t>(items.size()) == *limit) {
        // More follow: the page ends after the last one shown.
        return SendJson(call.responder, 200,
                        {{"items", std::move(items)},
                         {"nextCursor", "l" + EventFeed::Cursor(last)},
                         {"localView", false}});
      }
      items.push_back(CaseSummaryJson(summary));
      last = item.sequence;
    }
    cursor->broker = true;  // the rest of the page comes from the broker's cases
  }
  // Local states are never at the broker.
  if (state == wire::QUEUED_LOCALLY || state == wire::FAILED_LOCALLY ||
      static_cast<int64_t>(items.size()) == *limit) {
    json next = static_cast<int64_t>(items.size()) == *limit && state != wire::QUEUED_LOCALLY &&
                        state != wire::FAILED_LOCALLY
                    ? json("b")
                    : json(nullptr);
    return SendJson(call.responder, 200,
                    {{"items", std::move(items)}, {"nextCursor", next}, {"localView", false}});
  }
  wire::ListCases list;
  list.set_limit(static_cast<uint32_t>(*limit - static_cast<int64_t>(items.size())));
  list.set_after_case_id(cursor->after_case_id);
  list.set_state(state);
  list.set_partner(partner);
  for (const auto& agent : call.token.agents) list.add_agents(agent);
  wire::Envelope request;
  *request.mutable_list_cases() = list;
  auto responder = call.responder;
  link_->Request(
      std::move(request), ReadTimeoutMs(),
      [this, responder, list, wanted, items = std::move(items)](
          Result<wire::Envelope> answer) mutable {
        if (fail_stop_.tripped()) return SendProblem(responder, fail_stop_.status());
        bool local_view = false;
        std::string next;
        std::string last_id;
        if (answer.ok() && answer->has_case_list()) {
          const auto& cases = answer->case_list().cases();
          Status recorded = cache_->RecordSummaries({cases.begin(), cases.end()});
          if (!recorded.ok()) {
            fail_stop_.Trip("cannot cache the case list", recorded);
            return SendProblem(responder, recorded);
          }
          for (const auto& summary : cases) {
            // The broker filtered already; a broker without the filters of issue 9 did not.
            if (wanted(summary)) items.push_back(CaseSummaryJson(summary));
            last_id = summary.case_id();
          }
          next = answer->case_list().next_after_case_id();
          if (next.empty() && static_cast<uint32_t>(cases.size()) == list.limit()) next = last_id;
        } else if (answer.ok() && answer->has_error() && !IsTransient(StatusOf(*answer))) {
          return SendProblem(responder, StatusOf(*answer));
        } else {
          // The gateway's own copy, marked as such.
          local_view = true;
          size_t scanned = 0;
          std::string after = list.after_case_id();
          for (const auto& summary : cache_->ListCases(after, 10 * list.limit() + 100)) {
            ++scanned;
            last_id = summary.case_id();
            if (wanted(summary)) items.push_back(CaseSummaryJson(summary));
            if (items.size() >= list.limit()) break;
          }
          if (scanned == 10 * list.limit() + 100 || items.size() >= list.limit()) next = last_id;
        }
        SendJson(responder, 200,
                 {{"items", std::move(items)},
                  {"nextCursor", next.empty() ? json(nullptr) : json("b" + next)},
                  {"localView", local_view}});
      });
}

// --- POST /v1/cases/{id}/close, /cancel, /answers ------------------------------------------

void AgentGateway::HttpCaseMutation(HttpCall&& call, wire::Envelope::BodyCase body) {
  if (fail_stop_.tripped()) return SendProblem(call.responder, fail_stop_.status());
  const auto& fields = body == wire::Envelope::kCancelCase   ? kCancelFields
                       : body == wire::Envelope::kAnswerInfo ? kTextFields
                                                             : kEmptyFields;
  auto json_body = ReadJsonBody(call, fields);
  if (!json_body) return;
  auto key = IdempotencyKeyOf(call);
  if (!key.ok()) return SendProblem(call.responder, key.status());
  std::string id = call.path["id"];
  std::string broker_key = key->has_value() ? BrokerKey(call.token.name, **key) : "";
  wire::Envelope request;
  switch (body) {
    case wire::Envelope::kCloseCase:
      request.mutable_close_case()->set_case_id(id);
      request.mutable_close_case()->set_idempotency_key(broker_key);
      break;
    case wire::Envelope::kCancelCase:
      request.mutable_cancel_case()->set_case_id(id);
      request.mutable_cancel_case()->set_reason(json_body->value("reason", ""));
      request.mutable_cancel_case()->set_idempotency_key(broker_key);
      break;
    default:
      request.mutable_answer_info()->set_case_id(id);
      request.mutable_answer_info()->set_text(json_body->value("text", ""));
      request.mutable_answer_info()->set_idempotency_key(broker_key);
      break;
  }
  IfVisible(std::move(call), id,
            [this, id, request = std::move(request)](HttpCall&& visible) mutable {
              auto responder = visible.responder;
              std::string local_ref = IsLocalRef(id) ? id : "";
              HandleLocal(HttpClient([responder, local_ref](wire::Envelope answer) {
                            if (!answer.has_case_updated()) {
                              return SendUnexpected(responder, answer);
                            }
                            const auto& updated = answer.case_updated();
                            SendJson(responder, updated.queued_locally() ? 202 : 200,
                                     CaseUpdateJson(updated, local_ref));
                          }),
                          std::move(request));
            });
}

// --- GET /v1/events ------------------------------------------------------------------------

void AgentGateway::HttpEvents(HttpCall&& call) {
  auto limit = QueryInteger(call, "limit", kDefaultPageSize, 1, kMaxPageSize);
  if (!limit.ok()) return SendProblem(call.responder, limit.status());
  auto wait = QueryInteger(call, "wait", 0, 0, kMaxWaitSeconds);
  if (!wait.ok()) return SendProblem(call.responder, wait.status());
  uint64_t after = 0;
  if (auto it = call.query.find("after"); it != call.query.end() && !it->second.empty()) {
    auto parsed = EventFeed::ParseCursor(it->second);
    if (!parsed.ok()) return SendProblem(call.responder, parsed.status());
    after = *parsed;
  }
  FeedFilter filter;
  if (!call.token.agents.empty()) {
    filter = [token = call.token](const json& event) {
      auto agent = event.find("agent");
      return agent != event.end() && agent->is_string() &&
             token.AllowsAgent(agent->get<std::string>());
    };
  }
  auto render = [](const http::Responder& responder, const FeedPage& page) {
    json events = json::array();
    for (auto event : page.events) {
      event.erase("agent");  // for filtering only; not part of FeedEvent
      events.push_back(std::move(event));
    }
    SendJson(responder, 200,
             {{"events", std::move(events)}, {"nextCursor", EventFeed::Cursor(page.next_after)}});
  };
  feed_->Wait(after, static_cast<size_t>(*limit), SteadyNowMs() + *wait * 1000, std::move(filter),
              call.responder, render);
}

}  // namespace aplus
