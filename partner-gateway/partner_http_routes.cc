#include "partner-gateway/partner_http_routes.h"

#include <chrono>
#include <string>
#include <utility>

#include "common/clock.h"
#include "common/wire.h"
#include "gateway/case_json.h"

namespace aplus {
namespace {

constexpr int64_t kDefaultPageLimit = 100;
constexpr int64_t kMaxPageLimit = 1000;
constexpr int64_t kMaxWaitSeconds = 60;
constexpr size_t kMaxIdempotencyKeyBytes = 128;

// The request's Idempotency-Key (docs/openapi.yaml: 1 to 128 printable ASCII characters);
// "" when absent (the gateway then chooses one). INVALID_ARGUMENT when malformed.
Result<std::string> IdempotencyKey(const HttpCall& call) {
  auto key = call.request.Header("idempotency-key");
  if (!key) return std::string();
  if (key->empty() || key->size() > kMaxIdempotencyKeyBytes) {
    return Status(wire::INVALID_ARGUMENT, "Idempotency-Key must hold 1 to 128 characters");
  }
  for (char c : *key) {
    if (c < 0x21 || c > 0x7e) {
      return Status(wire::INVALID_ARGUMENT, "Idempotency-Key must be printable ASCII");
    }
  }
  return *key;
}

// The shared handler's answer as the response of a mutation: CaseUpdate, 200 when the broker
// confirmed it, 202 when the gateway holds it.
void AnswerMutation(const http::Responder& responder, const wire::Envelope& answer) {
  if (answer.has_case_updated()) {
    const auto& updated = answer.case_updated();
    nlohmann::json body = {{"caseId", updated.case_id()},
                           {"state", CaseStateName(updated.state())},
                           {"queuedLocally", updated.queued_locally()}};
    SendJson(responder, updated.queued_locally() ? 202 : 200, body);
    return;
  }
  Status status = StatusOf(answer);
  if (status.ok()) status = Status(wire::INTERNAL, "unexpected answer " + BodyName(answer));
  SendProblem(responder, status);
}

LocalClient ClientFor(http::Responder responder,
                      std::function<void(const http::Responder&, const wire::Envelope&)> render) {
  LocalClient client;
  client.answer = [responder = std::move(responder),
                   render = std::move(render)](wire::Envelope answer) {
    render(responder, answer);
  };
  return client;
}

// One POST /v1/cases/{id}/<action>: the body's fields, and how they fill the wire request.
struct MutationRoute {
  const char* action;
  std::vector<JsonField> fields;
  std::function<wire::Envelope(const std::string& case_id, const nlohmann::json& body,
                               const std::string& key)>
      build;
};

std::vector<MutationRoute> MutationTable() {
  return {
      {"ack",
       {{"note", JsonType::kString, false, 4096}},
       [](const std::string& id, const nlohmann::json& body, const std::string& key) {
         wire::Envelope request;
         auto* ack = request.mutable_acknowledge_case();
         ack->set_case_id(id);
         ack->set_note(body.value("note", ""));
         ack->set_idempotency_key(key);
         return request;
       }},
      {"reply",
       {{"text", JsonType::kString, true, 262144}},
       [](const std::string& id, const nlohmann::json& body, const std::string& key) {
         wire::Envelope request;
         auto* reply = request.mutable_reply_case();
         reply->set_case_id(id);
         reply->set_text(body.value("text", ""));
         reply->set_idempotency_key(key);
         return request;
       }},
      {"questions",
       {{"question", JsonType::kString, true, 262144}},
       [](const std::string& id, const nlohmann::json& body, const std::string& key) {
         wire::Envelope request;
         auto* ask = request.mutable_ask_info();
         ask->set_case_id(id);
         ask->set_question(body.value("question", ""));
         ask->set_idempotency_key(key);
         return request;
       }},
      {"transfer",
       {{"to", JsonType::kString, true, 128}, {"reason", JsonType::kString, true, 4096}},
       [](const std::string& id, const nlohmann::json& body, const std::string& key) {
         wire::Envelope request;
         auto* transfer = request.mutable_transfer_case();
         transfer->set_case_id(id);
         transfer->set_to_partner(body.value("to", ""));
         transfer->set_reason(body.value("reason", ""));
         transfer->set_idempotency_key(key);
         return request;
       }},
  };
}

void ListInbox(PartnerHttpBackend& backend, HttpCall&& call) {
  auto limit = QueryInteger(call, "limit", kDefaultPageLimit, 1, kMaxPageLimit);
  if (!limit.ok()) return SendProblem(call.responder, limit.status());
  std::optional<wire::CaseState> state;
  if (auto it = call.query.find("state"); it != call.query.end()) {
    wire::CaseState parsed;
    if (!wire::CaseState_Parse(it->second, &parsed) ||
        parsed == wire::STATE_UNSPECIFIED) {
      return SendProblem(call.responder,
                         Status(wire::INVALID_ARGUMENT, "unknown state '" + it->second + "'"));
    }
    state = parsed;
  }
  uint64_t after = 0;
  if (auto it = call.query.find("cursor"); it != call.query.end() && !it->second.empty()) {
    auto parsed = EventFeed::ParseCursor(it->second);  // the same decimal form
    if (!parsed.ok()) {
      return SendProblem(call.responder, Status(wire::INVALID_ARGUMENT, "malformed cursor"));
    }
    after = *parsed;
  }
  auto page = backend.ListInbox(after, static_cast<size_t>(*limit), state);
  if (!page.ok()) return SendProblem(call.responder, page.status());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& view : page->views) items.push_back(CaseSummaryJson(view.summary()));
  nlohmann::json body = {{"items", std::move(items)}, {"localView", false}};
  body["nextCursor"] =
      page->more ? nlohmann::json(std::to_string(page->next_after)) : nlohmann::json(nullptr);
  SendJson(call.responder, 200, body);
}

void GetCase(PartnerHttpBackend& backend, HttpCall&& call) {
  wire::Envelope request;
  request.mutable_get_case()->set_case_id(call.path["id"]);
  backend.Serve(std::move(request),
                ClientFor(std::move(call.responder),
                          [](const http::Responder& responder, const wire::Envelope& answer) {
                            if (answer.has_case_view()) {
                              return SendJson(responder, 200, CaseViewJson(answer.case_view()));
                            }
                            Status status = StatusOf(answer);
                            if (status.ok()) status = Status(wire::INTERNAL, "no case view");
                            SendProblem(responder, status);
                          }));
}

void Mutate(PartnerHttpBackend& backend, const MutationRoute& route, HttpCall&& call) {
  auto body = ReadJsonBody(call, route.fields);
  if (!body) return;  // answered
  auto key = IdempotencyKey(call);
  if (!key.ok()) return SendProblem(call.responder, key.status());
  wire::Envelope request = route.build(call.path["id"], *body, *key);
  backend.Serve(std::move(request), ClientFor(std::move(call.responder), AnswerMutation));
}

void ReadEvents(PartnerHttpBackend& backend, HttpCall&& call) {
  auto limit = QueryInteger(call, "limit", kDefaultPageLimit, 1, kMaxPageLimit);
  if (!limit.ok()) return SendProblem(call.responder, limit.status());
  auto wait = QueryInteger(call, "wait", 0, 0, kMaxWaitSeconds);
  if (!wait.ok()) return SendProblem(call.responder, wait.status());
  uint64_t after = 0;
  if (auto it = call.query.find("after"); it != call.query.end() && !it->second.empty()) {
    auto parsed = EventFeed::ParseCursor(it->second);
    if (!parsed.ok()) return SendProblem(call.responder, parsed.status());
    after = *parsed;
  }
  backend.feed().Wait(after, static_cast<size_t>(*limit), SteadyNowMs() + *wait * 1000, nullptr,
                      std::move(call.responder),
                      [](const http::Responder& responder, const FeedPage& page) {
                        nlohmann::json events = nlohmann::json::array();
                        for (const auto& event : page.events) events.push_back(event);
                        SendJson(responder, 200,
                                 {{"events", std::move(events)},
                                  {"nextCursor", EventFeed::Cursor(page.next_after)}});
                      });
}

}  // namespace

std::vector<HttpRoute> PartnerHttpRoutes(PartnerHttpBackend& backend) {
  std::vector<HttpRoute> routes;
  routes.push_back({"GET", "/v1/inbox",
                    [&backend](HttpCall&& call) { ListInbox(backend, std::move(call)); }});
  routes.push_back({"GET", "/v1/cases/{id}",
                    [&backend](HttpCall&& call) { GetCase(backend, std::move(call)); }});
  for (auto& mutation : MutationTable()) {
    std::string pattern = std::string("/v1/cases/{id}/") + mutation.action;
    routes.push_back({"POST", pattern,
                      [&backend, mutation = std::move(mutation)](HttpCall&& call) {
                        Mutate(backend, mutation, std::move(call));
                      }});
  }
  routes.push_back({"GET", "/v1/events",
                    [&backend](HttpCall&& call) { ReadEvents(backend, std::move(call)); }});
  return routes;
}

}  // namespace aplus
