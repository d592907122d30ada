#include "tools/aplus/agent_commands.h"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "sla/deadline_calculator.h"
#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

constexpr size_t kListSubjectWidth = 40;

std::string HeldLine(const std::string& holder) {
  return "held by the " + holder + "; it will be forwarded when the broker is reachable\n";
}

// Indents every line of a multi-line text by `indent`.
std::string Indent(const std::string& text, const std::string& indent) {
  std::string out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) out += indent + line + "\n";
  return out;
}

std::string RenderAccepted(const wire::Accepted& accepted) {
  std::string reference = accepted.case_id().empty() ? accepted.local_ref() : accepted.case_id();
  std::string out = reference + "  " + StateName(accepted.state());
  if (accepted.deadline_ms() > 0) {
    out += "  deadline " + FormatMinute(accepted.deadline_ms()) + " (" + kDisplayTimeZone + ")";
  }
  out += "\n";
  if (accepted.duplicate()) {
    out += "already submitted with this idempotency key: this is the existing case\n";
  }
  if (accepted.state() == wire::QUEUED_LOCALLY) out += HeldLine("agent gateway");
  return out;
}

constexpr char kLocalViewLine[] =
    "(local view: the agent gateway's own copy; the broker did not answer)\n";

std::string RenderCaseList(const wire::CaseList& list) {
  std::string marker = list.from_local_cache() ? kLocalViewLine : "";
  std::string local = list.local_entries().empty()
                          ? ""
                          : "\nHeld by the agent gateway:\n" +
                                RenderLocalEntries(list.local_entries());
  bool failed = false;
  for (const auto& summary : list.cases()) failed |= summary.state() == wire::FAILED_LOCALLY;
  if (failed) {
    local +=
        "FAILED_LOCALLY: refused by the broker; see `aplus status REF`, then `aplus retry REF` "
        "or `aplus discard REF`\n";
  }
  if (list.cases().empty()) return marker + "no cases\n" + local;
  std::vector<std::vector<std::string>> rows;
  for (const auto& summary : list.cases()) {
    rows.push_back({summary.case_id().empty() ? summary.local_ref() : summary.case_id(),
                    StateName(summary.state()), summary.partner(),
                    Truncate(summary.subject(), kListSubjectWidth),
                    FormatMinute(summary.deadline_ms())});
  }
  return marker + RenderTable({"CASE", "STATE", "PARTNER", "SUBJECT", "DEADLINE"}, rows) + local;
}

wire::Envelope CaseRequest(const std::string& case_ref) {
  wire::Envelope request;
  request.mutable_get_case()->set_case_id(CaseRef(case_ref));
  return request;
}

// The SLA block of the header: only what the broker filled in (an older gateway, or the agent
// gateway's local copy, may have none of it).
void AddSlaFields(const wire::CaseView& view,
                  std::vector<std::pair<std::string, std::string>>& fields) {
  const auto& summary = view.summary();
  if (!summary.reply_policy().empty()) fields.emplace_back("Reply policy", summary.reply_policy());
  if (summary.warning_at_ms() > 0)
    fields.emplace_back("Warning at", FormatMinute(summary.warning_at_ms()));
  if (!summary.reply_policy().empty() || summary.warned() || summary.breached()) {
    std::string alerts;
    if (summary.warned()) alerts = "warning";
    if (summary.breached()) alerts += alerts.empty() ? "breach" : ", breach";
    fields.emplace_back("Alerts raised", alerts.empty() ? "none" : alerts);
  }
  if (summary.answered_at_ms() > 0) {
    std::string answered = FormatMinute(summary.answered_at_ms());
    answered += summary.late_by_ms() > 0 ? ", late by " + sla::FormatDuration(summary.late_by_ms())
                                         : ", on time";
    fields.emplace_back("Answered", answered);
  }
  int64_t open_pause_start = 0;
  for (const auto& pause : view.pauses()) {
    if (pause.end_ms() == 0) open_pause_start = pause.start_ms();
  }
  if (summary.paused_ms() > 0 || open_pause_start > 0) {
    std::string paused = sla::FormatDuration(summary.paused_ms());
    if (open_pause_start > 0) paused += " (paused since " + FormatMinute(open_pause_start) + ")";
    fields.emplace_back("Clock paused", paused);
  }
  if (!summary.transferred_from().empty()) {
    fields.emplace_back("Transferred from", summary.transferred_from());
  }
}

// When the case ended and what retention did or will do with its personal data.
void AddRetentionFields(const wire::CaseSummary& summary,
                        std::vector<std::pair<std::string, std::string>>& fields) {
  if (summary.ended_at_ms() > 0) fields.emplace_back("Ended", FormatMinute(summary.ended_at_ms()));
  if (summary.personal_data_erased()) {
    fields.emplace_back("Personal data", "erased (retention); the case's skeleton is kept");
  } else if (summary.personal_data_erase_at_ms() > 0) {
    fields.emplace_back("Personal data", "erased after " + FormatMinute(summary.personal_data_erase_at_ms()));
  }
}

}  // namespace

std::string RenderLocalEntries(
    const google::protobuf::RepeatedPtrField<wire::LocalEntry>& entries) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : entries) {
    std::string error;
    if (entry.state() == wire::FAILED_LOCALLY) {
      error = wire::ErrorCode_Name(entry.error().code()) + ": " + OneLine(entry.error().message());
    }
    rows.push_back({entry.local_ref(), entry.request(),
                    entry.case_id().empty() ? "-" : entry.case_id(), StateName(entry.state()),
                    std::to_string(entry.attempts()), error});
  }
  return RenderTable({"REF", "REQUEST", "CASE", "STATE", "ATTEMPTS", "ERROR"}, rows);
}

std::string RenderLocalEntry(const wire::LocalEntry& entry) {
  std::string out = entry.local_ref() + "  " + entry.request();
  if (!entry.case_id().empty()) out += "  " + entry.case_id();
  if (entry.state() == wire::STATE_UNSPECIFIED) return out + "  discarded\n";
  out += "  " + StateName(entry.state()) + "\n";
  if (entry.state() == wire::QUEUED_LOCALLY) {
    out += "back in line: it will be sent to the broker again\n";
  }
  if (entry.state() == wire::FAILED_LOCALLY) {
    out += "refused: " + wire::ErrorCode_Name(entry.error().code()) + ": " +
           OneLine(entry.error().message()) + "\n";
  }
  return out;
}

int RunLocalEntry(const GlobalOptions& options, const std::string& endpoint,
                  const std::string& local_ref, bool retry) {
  wire::Envelope request;
  if (retry) {
    request.mutable_retry_local()->set_local_ref(CaseRef(local_ref));
  } else {
    request.mutable_discard_local()->set_local_ref(CaseRef(local_ref));
  }
  auto answer =
      Exchange(options, endpoint, std::nullopt, std::move(request), wire::Envelope::kLocalEntry);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->local_entry(), RenderLocalEntry(answer->local_entry()));
}

std::string RenderCaseView(const wire::CaseView& view) {
  const auto& summary = view.summary();
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("Case", summary.case_id().empty() ? "-" : summary.case_id());
  if (!summary.local_ref().empty()) fields.emplace_back("Local ref", summary.local_ref());
  fields.emplace_back("State", StateName(summary.state()));
  if (summary.state() == wire::FAILED_LOCALLY) {
    fields.emplace_back("Refused", wire::ErrorCode_Name(summary.local_error().code()) + ": " +
                                       summary.local_error().message());
    fields.emplace_back("What now", "aplus retry " + summary.local_ref() + "  or  aplus discard " +
                                        summary.local_ref());
  }
  fields.emplace_back("Contact point", summary.contact_point());
  fields.emplace_back("Agent", summary.agent());
  fields.emplace_back("Partner", summary.partner());
  if (!summary.territory().empty()) fields.emplace_back("Territory", summary.territory());
  fields.emplace_back("Category", summary.category());
  fields.emplace_back("Subject", summary.subject());
  fields.emplace_back("Submitted", FormatMinute(summary.submitted_at_ms()));
  fields.emplace_back(
      "Deadline",
      FormatMinute(summary.deadline_ms()) +
          (summary.deadline_ms() > 0 ? std::string(" (") + kDisplayTimeZone + ")" : std::string()));
  AddSlaFields(view, fields);
  AddRetentionFields(summary, fields);
  fields.emplace_back("Delivery attempts", std::to_string(summary.delivery_attempts()));
  if (summary.dead_lettered()) {
    fields.emplace_back("Dead-lettered", "yes: delivery gave up; an operator must look at it");
  }
  if (!view.citizen_name().empty()) fields.emplace_back("Citizen", view.citizen_name());

  size_t label_width = 0;
  for (const auto& [label, value] : fields) label_width = std::max(label_width, label.size());
  std::string out;
  for (const auto& [label, value] : fields) {
    out += label + ":" + std::string(label_width + 2 - label.size(), ' ') + OneLine(value) + "\n";
  }
  if (summary.state() == wire::QUEUED_LOCALLY || summary.state() == wire::FAILED_LOCALLY) {
    out += "(in the agent gateway's outbox: the broker has not accepted it)\n";
  } else if (view.from_local_cache()) {
    out += "(local view: the agent gateway's own copy; the broker did not answer)\n";
  }
  if (!view.body().empty()) out += "\n" + Indent(view.body(), "  ");
  if (!view.question().empty()) {
    out += "\nQuestion from the partner (awaiting the contact point's answer):\n" +
           Indent(view.question(), "  ");
  }
  if (!view.reply_text().empty()) out += "\nReply:\n" + Indent(view.reply_text(), "  ");
  if (!view.deadline_explanation().empty()) {
    out += "\nDeadline:\n";
    for (const auto& line : view.deadline_explanation()) out += "  " + OneLine(line) + "\n";
  }

  out += "\nTimeline:\n";
  if (view.timeline().empty()) out += "  (no events)\n";
  size_t sequence_width = 0;
  size_t kind_width = 12;  // "ACKNOWLEDGED"
  size_t actor_width = 0;
  for (const auto& event : view.timeline()) {
    sequence_width = std::max(sequence_width, std::to_string(event.sequence()).size() + 1);
    kind_width = std::max(kind_width, DisplayWidth(event.kind()));
    actor_width = std::max(actor_width, DisplayWidth(event.actor()));
  }
  for (const auto& event : view.timeline()) {
    std::string sequence = "#" + std::to_string(event.sequence());
    std::string kind = OneLine(event.kind());
    std::string actor = OneLine(event.actor());
    std::string line = "  " + sequence + std::string(sequence_width - sequence.size(), ' ') + "  " +
                       FormatSecond(event.at_ms()) + "  " + kind +
                       std::string(kind_width - DisplayWidth(kind), ' ') + "  by " + actor;
    if (!event.detail().empty()) {
      line += std::string(actor_width - DisplayWidth(actor), ' ') + "  " + OneLine(event.detail());
    }
    out += line + "\n";
  }
  return out;
}

std::string RenderCaseUpdated(const wire::CaseUpdated& updated, const std::string& holder) {
  std::string out = updated.case_id() + "  " + StateName(updated.state()) + "\n";
  if (updated.queued_locally()) out += HeldLine(holder);
  return out;
}

int RunSubmit(const GlobalOptions& options, const SubmitArgs& args) {
  wire::Envelope request;
  auto* submit = request.mutable_submit();
  submit->set_agent(args.agent);
  submit->set_partner(args.partner);
  submit->set_category(args.category);
  submit->set_subject(args.subject);
  submit->set_body(args.body);
  submit->set_citizen_name(args.citizen_name);
  submit->set_idempotency_key(IdempotencyKeyOr(args.idempotency_key));
  submit->set_mandate_reference(args.mandate_reference);
  submit->set_citizen_consent(args.citizen_consent);
  auto answer = Exchange(options, options.agent_gateway, std::nullopt, std::move(request),
                         wire::Envelope::kAccepted);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->accepted(), RenderAccepted(answer->accepted()));
}

int RunStatus(const GlobalOptions& options, const std::string& case_ref) {
  auto answer = Exchange(options, options.agent_gateway, std::nullopt, CaseRequest(case_ref),
                         wire::Envelope::kCaseView);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->case_view(), RenderCaseView(answer->case_view()));
}

int RunList(const GlobalOptions& options, uint32_t limit, const std::string& after_case_id) {
  wire::Envelope request;
  request.mutable_list_cases()->set_limit(limit);
  if (!after_case_id.empty())
    request.mutable_list_cases()->set_after_case_id(CaseRef(after_case_id));
  auto answer = Exchange(options, options.agent_gateway, std::nullopt, std::move(request),
                         wire::Envelope::kCaseList);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->case_list(), RenderCaseList(answer->case_list()));
}

int RunCaseUpdate(const GlobalOptions& options, const std::string& endpoint, wire::Envelope request,
                  const std::string& holder) {
  auto answer =
      Exchange(options, endpoint, std::nullopt, std::move(request), wire::Envelope::kCaseUpdated);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->case_updated(),
                     RenderCaseUpdated(answer->case_updated(), holder));
}

int RunClose(const GlobalOptions& options, const std::string& case_ref,
             const std::string& idempotency_key) {
  wire::Envelope request;
  request.mutable_close_case()->set_case_id(CaseRef(case_ref));
  request.mutable_close_case()->set_idempotency_key(IdempotencyKeyOr(idempotency_key));
  return RunCaseUpdate(options, options.agent_gateway, std::move(request), "agent gateway");
}

int RunCancel(const GlobalOptions& options, const std::string& case_ref, const std::string& reason,
              const std::string& idempotency_key) {
  wire::Envelope request;
  auto* cancel = request.mutable_cancel_case();
  cancel->set_case_id(CaseRef(case_ref));
  cancel->set_reason(reason);
  cancel->set_idempotency_key(IdempotencyKeyOr(idempotency_key));
  return RunCaseUpdate(options, options.agent_gateway, std::move(request), "agent gateway");
}

int RunAnswer(const GlobalOptions& options, const std::string& case_ref, const std::string& text,
              const std::string& idempotency_key) {
  wire::Envelope request;
  auto* answer = request.mutable_answer_info();
  answer->set_case_id(CaseRef(case_ref));
  answer->set_text(text);
  answer->set_idempotency_key(IdempotencyKeyOr(idempotency_key));
  return RunCaseUpdate(options, options.agent_gateway, std::move(request), "agent gateway");
}

}  // namespace aplus::cli
