// The console's HTTP routes (docs/console-api.md): the web application's files, sign-in, and
// the JSON API, each a thin translation of one or a few broker requests made for the
// signed-in person.
#include <chrono>
#include <cstdint>
#include <memory>

#include "common/clock.h"
#include "console/console.h"
#include "console/proto_json.h"
#include "console/web_assets.h"

namespace aplus {
namespace {

constexpr int64_t kWeekMs = 7LL * 24 * 3600 * 1000;
constexpr int64_t kMaxReportWeeks = 53;
constexpr int64_t kHourMs = 3600LL * 1000;

// What every answer of the console says to browsers: no framing by other sites, no sniffing,
// no referrer, scripts and styles from the console only (app.js draws SVG with attributes, not
// inline styles).
std::vector<std::pair<std::string, std::string>> SecurityHeaders() {
  return {{"Content-Security-Policy",
           "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
           "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
          {"X-Content-Type-Options", "nosniff"},
          {"Referrer-Policy", "no-referrer"},
          {"Cache-Control", "no-store"}};
}

void Reply(const http::Responder& responder, const nlohmann::json& body,
           std::vector<std::pair<std::string, std::string>> extra = {}) {
  auto headers = SecurityHeaders();
  for (auto& header : extra) headers.push_back(std::move(header));
  SendJson(responder, 200, body, std::move(headers));
}

// A query parameter as text ("" when absent).
std::string QueryText(const HttpCall& call, const std::string& name) {
  auto it = call.query.find(name);
  return it == call.query.end() ? "" : it->second;
}

}  // namespace

std::vector<HttpRoute> Console::Routes() {
  auto bind = [this](void (Console::*method)(HttpCall&&, const ConsoleSession&)) {
    return [this, method](HttpCall&& call, const ConsoleSession& session) {
      (this->*method)(std::move(call), session);
    };
  };
  std::vector<HttpRoute> routes;
  for (const char* path : {"/", "/index.html", "/app.css", "/app.js"}) {
    routes.push_back(HttpRoute{"GET", path, [this](HttpCall&& call) { StaticFile(std::move(call)); },
                               /*needs_token=*/false});
  }
  routes.push_back(HttpRoute{"GET", "/metrics", [this](HttpCall&& call) { Metrics(std::move(call)); },
                             /*needs_token=*/true, /*open_on_loopback=*/true});
  routes.push_back(HttpRoute{"POST", "/api/session",
                             [this](HttpCall&& call) { SignIn(std::move(call)); },
                             /*needs_token=*/false});
  routes.push_back(Signed("GET", "/api/session", bind(&Console::Me)));
  routes.push_back(Signed("POST", "/api/session/end", bind(&Console::SignOut)));
  routes.push_back(Signed("GET", "/api/overview", bind(&Console::Overview)));
  routes.push_back(Signed("GET", "/api/queues", bind(&Console::Queues)));
  routes.push_back(Signed("GET", "/api/dead-letters", bind(&Console::DeadLetters)));
  routes.push_back(Signed("POST", "/api/dead-letters/requeue", bind(&Console::Requeue)));
  routes.push_back(Signed("GET", "/api/sla-board", bind(&Console::SlaBoard)));
  routes.push_back(Signed("GET", "/api/alerts", bind(&Console::Alerts)));
  routes.push_back(Signed("GET", "/api/alerts/stream", bind(&Console::AlertStream)));
  routes.push_back(Signed("POST", "/api/alerts/ack", bind(&Console::AckAlert)));
  routes.push_back(Signed("GET", "/api/cases/{id}", bind(&Console::Case)));
  routes.push_back(Signed("GET", "/api/cases/{id}/audit", bind(&Console::CaseAudit)));
  routes.push_back(Signed("GET", "/api/reports", bind(&Console::Reports)));
  return routes;
}

void Console::StaticFile(HttpCall&& call) {
  auto asset = FindWebAsset(call.request.path);
  if (!asset) {
    SendProblem(call.responder, Status(wire::INVALID_ARGUMENT, "no file " + call.request.path));
    return;
  }
  http::HttpResponse response;
  response.content_type = std::string(asset->content_type);
  response.body = std::string(asset->body);
  response.headers = SecurityHeaders();
  call.responder.Send(std::move(response));
}

void Console::Metrics(HttpCall&& call) {
  http::HttpResponse response;
  response.content_type = ProgramMetrics::kContentType;
  response.body = metrics_.Text();
  call.responder.Send(std::move(response));
}

void Console::SignIn(HttpCall&& call) {
  auto body = ReadJsonBody(call, {{"token", JsonType::kString, true, 512}});
  if (!body) return;
  tokens_.ReloadIfChanged();  // a token added a moment ago works at once
  auto identity = tokens_.Authenticate((*body)["token"].get<std::string>());
  // The same answer for an unknown token and for a token of someone not in the config: the
  // caller learns nothing about which tokens exist.
  const Operator* person = identity.ok() ? config_.FindOperator(identity->name) : nullptr;
  if (person == nullptr) {
    SendProblem(call.responder, Status(wire::NOT_AUTHENTICATED,
                                       "unknown token, or not an operator of this network"));
    return;
  }
  std::string token_sha256;
  for (const TokenEntry& entry : tokens_.Snapshot()->entries()) {
    if (entry.name == identity->name) token_sha256 = entry.sha256_hex;
  }
  const ConsoleSession& session = sessions_.Open(person->id, token_sha256, SteadyNowMs());
  Reply(call.responder,
        {{"person", person->id}, {"name", person->name}, {"csrf_token", session.csrf}},
        {{"Set-Cookie", ConsoleSessions::CookieHeader(session.id, door_->tls())}});
}

void Console::Me(HttpCall&& call, const ConsoleSession& session) {
  const Operator* person = config_.FindOperator(session.person);
  Reply(call.responder, {{"person", session.person},
                         {"name", person != nullptr ? person->name : session.person},
                         {"csrf_token", session.csrf}});
}

void Console::SignOut(HttpCall&& call, const ConsoleSession& session) {
  sessions_.Close(session.id);
  feed_->Forget(session.id);
  Reply(call.responder, {{"signed_out", true}},
        {{"Set-Cookie", ConsoleSessions::CookieHeader("", door_->tls())}});
}

void Console::Overview(HttpCall&& call, const ConsoleSession& session) {
  wire::Envelope request;
  request.mutable_get_stats();
  Ask(session, std::move(request), call.responder, wire::Envelope::kStats,
      [this, responder = call.responder](const wire::Envelope& answer) {
        const wire::Stats& stats = answer.stats();
        auto rates = rates_.Record(SteadyNowMs(), {{"submitted", stats.submitted_total()},
                                                   {"delivered", stats.delivered_total()},
                                                   {"answered", stats.answered_total()}});
        nlohmann::json per_second = nlohmann::json::object();
        for (const auto& [name, rate] : rates) {
          per_second[name] = rate ? nlohmann::json(*rate) : nlohmann::json(nullptr);
        }
        uint64_t backlog = 0;
        for (const auto& queue : stats.queues()) backlog += queue.depth();
        // A pair's leader (docs/AVAILABILITY.md): its mode, state, standby and sequences, as
        // GetStats gives them; null for a single broker.
        nlohmann::json pair = stats.has_pair() ? ProtoJson(stats.pair()) : nlohmann::json(nullptr);
        Reply(responder, {{"stats", ProtoJson(stats)},
                          {"rates_per_second", per_second},
                          {"backlog", backlog},
                          {"pair", std::move(pair)},
                          {"broker", {{"reachable", true},
                                      {"instance_id", stats.instance_id()},
                                      {"started_at_ms", stats.started_at_ms()},
                                      {"now_ms", UnixNowMs()}}}});
      });
}

void Console::Queues(HttpCall&& call, const ConsoleSession& session) {
  wire::Envelope request;
  request.mutable_get_stats();
  Ask(session, std::move(request), call.responder, wire::Envelope::kStats,
      [responder = call.responder](const wire::Envelope& answer) {
        nlohmann::json queues = nlohmann::json::array();
        for (const auto& queue : answer.stats().queues()) {
          // Mailboxes of contact points are not an operator's worry here: partner queues only.
          if (queue.partner().empty()) continue;
          const std::string& partner = queue.partner();
          const std::string& territory = queue.territory();
          queues.push_back({{"queue", queue.queue()},
                            {"partner", partner},
                            {"territory", territory},
                            {"ready", queue.ready()},
                            {"unacked", queue.in_flight()},
                            {"oldest_age_ms", queue.oldest_age_ms()},
                            {"dead_lettered", queue.dead_lettered()}});
        }
        Reply(responder, {{"queues", queues}});
      });
}

void Console::DeadLetters(HttpCall&& call, const ConsoleSession& session) {
  auto limit = QueryInteger(call, "limit", 100, 1, 1000);
  if (!limit.ok()) return SendProblem(call.responder, limit.status());
  wire::Envelope request;
  request.mutable_list_dead_letters()->set_partner(QueryText(call, "partner"));
  request.mutable_list_dead_letters()->set_limit(static_cast<uint32_t>(*limit));
  Ask(session, std::move(request), call.responder, wire::Envelope::kDeadLetterList,
      [responder = call.responder](const wire::Envelope& answer) {
        Reply(responder, ProtoJson(answer.dead_letter_list()));
      });
}

void Console::Requeue(HttpCall&& call, const ConsoleSession& session) {
  auto body = ReadJsonBody(call, {{"case_id", JsonType::kString, true, 64},
                                  {"idempotency_key", JsonType::kString, false, 128}});
  if (!body) return;
  wire::Envelope request;
  auto* requeue = request.mutable_requeue_dead_letters();
  requeue->set_case_id((*body)["case_id"].get<std::string>());
  // A button clicked twice sends two keys (two requeues, the second finds nothing); a client
  // that retries the same click sends its key again.
  requeue->set_idempotency_key(body->contains("idempotency_key")
                                   ? (*body)["idempotency_key"].get<std::string>()
                                   : "console-" + RandomHex256().substr(0, 32));
  Ask(session, std::move(request), call.responder, wire::Envelope::kRequeued,
      [responder = call.responder](const wire::Envelope& answer) {
        Reply(responder, ProtoJson(answer.requeued()));
      });
}

void Console::SlaBoard(HttpCall&& call, const ConsoleSession& session) {
  auto hours = QueryInteger(call, "horizon_hours", 0, 0, 24 * 31);
  if (!hours.ok()) return SendProblem(call.responder, hours.status());
  wire::Envelope request;
  auto* board = request.mutable_get_sla_board();
  board->set_partner(QueryText(call, "partner"));
  board->set_territory(QueryText(call, "territory"));
  board->set_horizon_ms(*hours * kHourMs);  // 0 = one working day of each partner's calendar
  Ask(session, std::move(request), call.responder, wire::Envelope::kSlaBoard,
      [responder = call.responder](const wire::Envelope& answer) {
        Reply(responder, ProtoJson(answer.sla_board()));
      });
}

void Console::Alerts(HttpCall&& call, const ConsoleSession& session) {
  AlertFilter filter;
  filter.partner = QueryText(call, "partner");
  filter.include_acked = QueryText(call, "all") == "true";
  Ask(session, AlertListRequest(filter), call.responder, wire::Envelope::kAlertList,
      [responder = call.responder](const wire::Envelope& answer) {
        Reply(responder, ProtoJson(answer.alert_list()));
      });
}

void Console::AlertStream(HttpCall&& call, const ConsoleSession& session) {
  // EventSource sends the last id it saw when it reconnects; the first connection names the
  // cursor of the list the page showed (GET /api/alerts scanned_to_sequence) as ?after=.
  std::string cursor = call.request.Header("last-event-id").value_or(QueryText(call, "after"));
  uint64_t after = 0;
  if (!cursor.empty()) {
    try {
      size_t used = 0;
      after = std::stoull(cursor, &used);
      if (used != cursor.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      return SendProblem(call.responder,
                         Status(wire::INVALID_ARGUMENT, "Last-Event-ID/after: not a sequence"));
    }
  } else {
    after = feed_->newest();
  }
  feed_->Wait(call.responder, after, session.person, session.id, SteadyNowMs());
}

void Console::AckAlert(HttpCall&& call, const ConsoleSession& session) {
  auto body = ReadJsonBody(call, {{"alert_id", JsonType::kString, true, 256}});
  if (!body) return;
  wire::Envelope request;
  request.mutable_ack_alert()->set_alert_id((*body)["alert_id"].get<std::string>());
  // The broker takes the person from on_behalf_of, never from a name in a form.
  request.mutable_ack_alert()->set_by(session.person);
  Ask(session, std::move(request), call.responder, wire::Envelope::kAlertAcked,
      [this, responder = call.responder](const wire::Envelope& answer) {
        feed_->Update(answer.alert_acked().alert());
        Reply(responder, ProtoJson(answer.alert_acked()));
      });
}

void Console::Case(HttpCall&& call, const ConsoleSession& session) {
  wire::Envelope request;
  request.mutable_get_case()->set_case_id(call.path["id"]);
  Ask(session, std::move(request), call.responder, wire::Envelope::kCaseView,
      [responder = call.responder](const wire::Envelope& answer) {
        Reply(responder, ProtoJson(answer.case_view()));
      });
}

void Console::CaseAudit(HttpCall&& call, const ConsoleSession& session) {
  wire::Envelope request;
  request.mutable_get_audit()->set_case_id(call.path["id"]);
  Ask(session, std::move(request), call.responder, wire::Envelope::kAuditLog,
      [responder = call.responder](const wire::Envelope& answer) {
        Reply(responder, ProtoJson(answer.audit_log()));
      });
}

void Console::Reports(HttpCall&& call, const ConsoleSession& session) {
  // Whole minutes, so that the default period of repeated page loads is one cache entry.
  int64_t now = UnixNowMs() / 60'000 * 60'000;
  auto to = QueryInteger(call, "to", now, 1, INT64_MAX / 2);
  if (!to.ok()) return SendProblem(call.responder, to.status());
  auto from = QueryInteger(call, "from", *to - 8 * kWeekMs, 0, *to - 1);
  if (!from.ok()) return SendProblem(call.responder, from.status());
  int64_t weeks = (*to - *from + kWeekMs - 1) / kWeekMs;
  if (weeks > kMaxReportWeeks) {
    return SendProblem(call.responder,
                       Status(wire::INVALID_ARGUMENT, "from/to: at most 53 weeks at a time"));
  }
  // A report reads every case (on a thread of the broker's own; those waiting share one pass):
  // the console computes one period at a time, shares it with everyone asking for the same period meanwhile, and keeps it for
  // kReportCacheMs; a different period asked during a computation is told to retry.
  std::string key = std::to_string(*from) + "/" + std::to_string(*to);
  ReportCache& cache = report_cache_;
  if (cache.computing) {
    if (cache.key == key) {
      cache.waiting.push_back(call.responder);
      return;
    }
    return SendProblem(call.responder,
                       Status(wire::UNAVAILABLE, "another report is being computed; retry")
                           .WithRetryAfterMs(5000));
  }
  if (cache.key == key && SteadyNowMs() - cache.made_ms < kReportCacheMs) {
    call.responder.Send(http::HttpResponse(cache.response));
    return;
  }
  cache = ReportCache{key, 0, {}, true, {call.responder}};
  // Every answer of this computation (the report, or the first refusal) goes to every waiter.
  http::Responder fan_out([this, key](http::HttpResponse&& response) {
    ReportCache& cache = report_cache_;
    if (!cache.computing || cache.key != key) return;
    cache.computing = false;
    if (response.status == 200) {
      cache.response = response;
      cache.made_ms = SteadyNowMs();
    } else {
      cache.key.clear();  // a refusal is not kept
    }
    for (const http::Responder& waiter : cache.waiting) waiter.Send(http::HttpResponse(response));
    cache.waiting.clear();
  });
  // One GetReport per week, one for the whole period by partner (reply-time distribution) and
  // one by contact point; the answer leaves when the last arrives (or with the first refusal).
  struct Gather {
    nlohmann::json weeks = nlohmann::json::array();
    nlohmann::json period, by_contact_point;
    int missing = 0;
    bool failed = false;
  };
  auto gather = std::make_shared<Gather>();
  gather->missing = static_cast<int>(weeks) + 2;
  gather->weeks = nlohmann::json::array();
  for (int64_t i = 0; i < weeks; ++i) gather->weeks.push_back(nullptr);
  http::Responder responder = fan_out;
  auto finish = [gather, responder, from = *from, to = *to] {
    if (--gather->missing > 0) return;
    Reply(responder, {{"from_ms", from}, {"to_ms", to}, {"weeks", gather->weeks},
                      {"period", gather->period}, {"by_contact_point", gather->by_contact_point}});
  };
  // A refusal answers the call once (the Responder ignores later answers); the other
  // requests' answers then find it answered and are dropped.
  auto ask = [&](int64_t start, int64_t end, wire::GetReport::GroupBy group,
                 std::function<void(const wire::Envelope&)> store) {
    wire::Envelope request;
    request.mutable_get_report()->set_from_ms(start);
    request.mutable_get_report()->set_to_ms(end);
    request.mutable_get_report()->set_group_by(group);
    Ask(session, std::move(request), responder, wire::Envelope::kReport,
        [store = std::move(store), finish](const wire::Envelope& answer) {
          store(answer);
          finish();
        });
  };
  for (int64_t i = 0; i < weeks; ++i) {
    int64_t start = *from + i * kWeekMs;
    int64_t end = std::min(*to, start + kWeekMs);
    ask(start, end, wire::GetReport::PARTNER, [gather, i, start, end](const wire::Envelope& a) {
      nlohmann::json week = ProtoJson(a.report());
      week["from_ms"] = start;
      week["to_ms"] = end;
      gather->weeks[static_cast<size_t>(i)] = week;
    });
  }
  ask(*from, *to, wire::GetReport::PARTNER,
      [gather](const wire::Envelope& a) { gather->period = ProtoJson(a.report()); });
  ask(*from, *to, wire::GetReport::CONTACT_POINT,
      [gather](const wire::Envelope& a) { gather->by_contact_point = ProtoJson(a.report()); });
}

}  // namespace aplus
