// Test support for the SLA engine: instants on the Paris winter calendar, the requests that move
// the SLA clock, and reading alerts, reports and timelines the way an operator does.
//
// Thread rules: free functions; a SyncClient passed in must be used by one thread at a time.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "broker/case_lifecycle.h"
#include "common/sync_client.h"
#include "tests/support/broker_test_helpers.h"

namespace aplus::testing {

// The network config's TOML text `toml` (deploy/perche.toml) with France Travail's reply window
// set to `window` (e.g. "8 secondes"), the network's warning `lead` before deadlines (e.g.
// "4 secondes") and `after_policy` inserted right after France Travail's policy line (e.g. its
// [partners.category_policies]).
inline void ShortenReplyWindow(std::string& toml, const std::string& window,
                               const std::string& lead, const std::string& after_policy = "") {
  auto replace = [&](const std::string& from, const std::string& to, size_t start) {
    size_t at = toml.find(from, start);
    REQUIRE_MESSAGE(at != std::string::npos, "the network config has no '" << from << "'");
    toml.replace(at, from.size(), to);
  };
  replace("warning_lead = \"default\"", "warning_lead = \"" + lead + "\"", 0);
  size_t partner = toml.find("id = \"france-travail\"");
  REQUIRE(partner != std::string::npos);
  replace("reply_policy = \"4 jours-ouvres\"\n",
          "reply_policy = \"" + window + "\"\n" + after_policy, partner);
}

// deploy/perche.toml, written to `dir`/network.toml, shortened by ShortenReplyWindow, with
// `appended` at the end (e.g. one more [[operators]]).
inline std::string WriteShortWindowConfig(const TempDir& dir, const std::string& window,
                                          const std::string& lead,
                                          const std::string& after_policy = "",
                                          const std::string& appended = "") {
  std::ifstream in(std::string(APLUS_SOURCE_DIR) + "/deploy/perche.toml");
  std::stringstream content;
  content << in.rdbuf();
  std::string toml = content.str();
  ShortenReplyWindow(toml, window, lead, after_policy);
  toml += appended;
  std::string path = dir.Sub("network.toml");
  std::ofstream(path) << toml;
  return path;
}

// Unix ms of a local Paris instant in winter (UTC+1: every date these tests use is between the
// last Sunday of October and the last Sunday of March).
inline int64_t ParisWinterMs(int year, unsigned month, unsigned day, int hour, int minute,
                             int second = 0, int millisecond = 0) {
  using namespace std::chrono;
  sys_days date = year_month_day{std::chrono::year{year}, std::chrono::month{month},
                                 std::chrono::day{day}};
  auto local = date + hours{hour} + minutes{minute} + seconds{second} + milliseconds{millisecond};
  return duration_cast<milliseconds>(local.time_since_epoch()).count() - 3600 * 1000;
}

inline constexpr int64_t kHourMs = 3600 * 1000;
inline constexpr int64_t kDayMs = 24 * kHourMs;

inline wire::Envelope AskInfoRequest(const std::string& case_id, const std::string& question,
                                     const std::string& key = "") {
  wire::Envelope envelope;
  envelope.mutable_ask_info()->set_case_id(case_id);
  envelope.mutable_ask_info()->set_question(question);
  envelope.mutable_ask_info()->set_idempotency_key(key);
  return envelope;
}

inline wire::Envelope AnswerInfoRequest(const std::string& case_id, const std::string& text,
                                        const std::string& key = "") {
  wire::Envelope envelope;
  envelope.mutable_answer_info()->set_case_id(case_id);
  envelope.mutable_answer_info()->set_text(text);
  envelope.mutable_answer_info()->set_idempotency_key(key);
  return envelope;
}

inline wire::Envelope TransferRequest(const std::string& case_id, const std::string& to_partner,
                                      const std::string& reason, const std::string& key = "") {
  wire::Envelope envelope;
  envelope.mutable_transfer_case()->set_case_id(case_id);
  envelope.mutable_transfer_case()->set_to_partner(to_partner);
  envelope.mutable_transfer_case()->set_reason(reason);
  envelope.mutable_transfer_case()->set_idempotency_key(key);
  return envelope;
}

// Every alert the broker holds (acknowledged ones too), in the order it raised them, or the error.
inline Result<std::vector<wire::Alert>> AllAlerts(SyncClient& operator_client,
                                                  bool include_acked = true,
                                                  int timeout_ms = 5000) {
  wire::Envelope request;
  request.mutable_list_alerts()->set_include_acked(include_acked);
  request.mutable_list_alerts()->set_limit(10000);
  auto answer = operator_client.CallOk(request, timeout_ms);
  if (!answer.ok()) return answer.status();
  if (!answer->has_alert_list()) {
    return Status(wire::INTERNAL, "ListAlerts answered " + BodyName(*answer));
  }
  return std::vector<wire::Alert>(answer->alert_list().alerts().begin(),
                                  answer->alert_list().alerts().end());
}

// The alerts of `kind` about `case_id` in `alerts`.
inline std::vector<wire::Alert> AlertsOf(const std::vector<wire::Alert>& alerts,
                                         const std::string& case_id, wire::Alert::Kind kind) {
  std::vector<wire::Alert> found;
  for (const auto& alert : alerts) {
    if (alert.case_id() == case_id && alert.kind() == kind) found.push_back(alert);
  }
  return found;
}

// How many alerts of `kind` the broker holds about `case_id` (-1 when it cannot be asked).
inline int CountAlerts(SyncClient& operator_client, const std::string& case_id,
                       wire::Alert::Kind kind) {
  auto alerts = AllAlerts(operator_client);
  if (!alerts.ok()) return -1;
  return static_cast<int>(AlertsOf(*alerts, case_id, kind).size());
}

// The timeline events of `kind` in `view`.
inline std::vector<wire::Event> EventsOf(const wire::CaseView& view, const std::string& kind) {
  std::vector<wire::Event> found;
  for (const auto& event : view.timeline()) {
    if (event.kind() == kind) found.push_back(event);
  }
  return found;
}

// Empty when the timeline is a legal story that agrees with the summary; otherwise what is
// wrong. Like TimelineProblem, but every event that names a state must be reachable from the
// previous state by some lifecycle event (an AnswerInfo is recorded as "ACKNOWLEDGED" after
// INFO_REQUESTED), and the SLA notes (SLA_WARNING, SLA_BREACH, DEADLINE_CHANGED) must match the
// summary's flags and change no state.
inline std::string SlaTimelineProblem(const wire::CaseView& view) {
  const auto& timeline = view.timeline();
  const auto& summary = view.summary();
  std::string id = summary.case_id() + ": ";
  if (timeline.empty()) return id + "empty timeline";
  if (timeline[0].kind() != "SUBMITTED" || timeline[0].state_after() != wire::SUBMITTED) {
    return id + "timeline starts with " + timeline[0].kind();
  }
  wire::CaseState state = wire::SUBMITTED;
  for (int i = 0; i < timeline.size(); ++i) {
    const auto& event = timeline[i];
    if (event.sequence() != static_cast<uint32_t>(i)) {
      return id + "event " + std::to_string(i) + " has sequence " + std::to_string(event.sequence());
    }
    if (i == 0) continue;
    wire::CaseState named = wire::STATE_UNSPECIFIED;
    if (!wire::CaseState_Parse(event.kind(), &named)) {
      if (event.state_after() != state) return id + event.kind() + " changed the state";
      continue;
    }
    // A late transport receipt is recorded without changing the state.
    if (event.kind() == "DELIVERED" && event.state_after() == state) continue;
    if (event.state_after() != named) return id + event.kind() + " led elsewhere";
    bool legal = false;
    for (CaseEvent candidate :
         {CaseEvent::kDeliver, CaseEvent::kAcknowledge, CaseEvent::kReply, CaseEvent::kClose,
          CaseEvent::kCancel, CaseEvent::kAskInfo, CaseEvent::kAnswerInfo, CaseEvent::kTransfer}) {
      auto next = NextState(state, candidate);
      if (next.ok() && *next == named) legal = true;
    }
    if (!legal) {
      return id + "illegal transition " + wire::CaseState_Name(state) + " --> " + event.kind();
    }
    state = named;
  }
  if (state != summary.state()) {
    return id + "timeline ends in " + wire::CaseState_Name(state) + " but the summary says " +
           wire::CaseState_Name(summary.state());
  }
  // The flags are reset by a transfer: compare with the events after the last one.
  bool warned = false, breached = false;
  for (const auto& event : timeline) {
    if (event.kind() == "TRANSFERRED") warned = breached = false;
    if (event.kind() == "SLA_WARNING") warned = true;
    if (event.kind() == "SLA_BREACH") breached = true;
  }
  if (warned != summary.warned()) return id + "summary.warned disagrees with the timeline";
  if (breached != summary.breached()) return id + "summary.breached disagrees with the timeline";
  return "";
}

// The per-partner SLA report over every case, or the error.
inline Result<wire::PartnerReport> PartnerReportOf(SyncClient& operator_client,
                                                   const std::string& partner,
                                                   int timeout_ms = 5000) {
  wire::Envelope request;
  request.mutable_get_report()->set_partner(partner);
  auto answer = operator_client.CallOk(request, timeout_ms);
  if (!answer.ok()) return answer.status();
  if (!answer->has_report()) return Status(wire::INTERNAL, "GetReport answered " + BodyName(*answer));
  for (const auto& report : answer->report().partners()) {
    if (report.partner() == partner) return report;
  }
  return Status(wire::UNKNOWN_PARTNER, "the report has no line for " + partner);
}

}  // namespace aplus::testing
