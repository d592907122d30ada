#include "gateway/case_json.h"

#include <fmt/format.h>

#include <ctime>

#include "http/problem.h"

namespace aplus {
namespace {

using nlohmann::json;

// Optional fields: set only when they say something (the schemas mark them optional).
void SetText(json& out, const char* name, const std::string& value) {
  if (!value.empty()) out[name] = value;
}
void SetFlag(json& out, const char* name, bool value) {
  if (value) out[name] = true;
}
// Instants the schema allows to be null.
void SetInstantOrNull(json& out, const char* name, int64_t unix_ms) {
  out[name] = unix_ms > 0 ? json(Rfc3339(unix_ms)) : json(nullptr);
}

}  // namespace

std::string Rfc3339(int64_t unix_ms) {
  int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  int64_t millis = unix_ms - seconds * 1000;
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::string text = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", utc.tm_year + 1900,
                                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  if (millis != 0) text += fmt::format(".{:03}", millis);
  return text + "Z";
}

std::string CaseStateName(wire::CaseState state) { return wire::CaseState_Name(state); }

json ProblemJson(const wire::Error& error) {
  Status status(error.code(), error.message());
  if (error.retry_after_ms() > 0) status = std::move(status).WithRetryAfterMs(error.retry_after_ms());
  return json::parse(http::ProblemResponse(status).body);
}

json CaseSummaryJson(const wire::CaseSummary& s) {
  json out = json::object();
  SetText(out, "caseId", s.case_id());
  SetText(out, "localRef", s.local_ref());
  out["state"] = CaseStateName(s.state());
  SetText(out, "contactPoint", s.contact_point());
  SetText(out, "agent", s.agent());
  SetText(out, "partner", s.partner());
  SetText(out, "territory", s.territory());
  SetText(out, "category", s.category());
  SetText(out, "subject", s.subject());
  SetInstantOrNull(out, "submittedAt", s.submitted_at_ms());
  SetInstantOrNull(out, "deadline", s.deadline_ms());
  SetInstantOrNull(out, "warningAt", s.warning_at_ms());
  SetText(out, "replyPolicy", s.reply_policy());
  SetInstantOrNull(out, "answeredAt", s.answered_at_ms());
  if (s.late_by_ms() > 0) out["lateBySeconds"] = (s.late_by_ms() + 999) / 1000;
  SetFlag(out, "warned", s.warned());
  SetFlag(out, "breached", s.breached());
  SetFlag(out, "deadLettered", s.dead_lettered());
  SetText(out, "transferredFrom", s.transferred_from());
  SetText(out, "mandate", s.mandate_reference());
  SetFlag(out, "consent", s.citizen_consent());
  SetFlag(out, "personalDataErased", s.personal_data_erased());
  if (s.has_local_error() && s.local_error().code() != wire::ERROR_UNSPECIFIED) {
    out["localError"] = ProblemJson(s.local_error());
  }
  return out;
}

json EventJson(const wire::Event& e) {
  json out = {{"sequence", e.sequence()},
              {"at", Rfc3339(e.at_ms())},
              {"kind", e.kind()},
              {"actor", e.actor()}};
  SetText(out, "detail", e.detail());
  if (e.state_after() != wire::STATE_UNSPECIFIED) out["stateAfter"] = CaseStateName(e.state_after());
  return out;
}

json CaseViewJson(const wire::CaseView& view) {
  json out = CaseSummaryJson(view.summary());
  SetText(out, "body", view.body());
  SetText(out, "citizen", view.citizen_name());
  SetText(out, "replyText", view.reply_text());
  SetText(out, "question", view.question());
  json timeline = json::array();
  for (const auto& event : view.timeline()) timeline.push_back(EventJson(event));
  out["timeline"] = std::move(timeline);
  json pauses = json::array();
  for (const auto& pause : view.pauses()) {
    json p = {{"start", Rfc3339(pause.start_ms())}};
    SetInstantOrNull(p, "end", pause.end_ms());
    pauses.push_back(std::move(p));
  }
  out["pauses"] = std::move(pauses);
  out["deadlineExplanation"] = json(std::vector<std::string>(view.deadline_explanation().begin(),
                                                             view.deadline_explanation().end()));
  out["localView"] = view.from_local_cache();
  return out;
}

json CaseListJson(const wire::CaseList& list) {
  json items = json::array();
  for (const auto& summary : list.cases()) items.push_back(CaseSummaryJson(summary));
  return {{"items", std::move(items)}, {"localView", list.from_local_cache()}};
}

}  // namespace aplus
