#include "common/personal_data.h"

#include <string>
#include <string_view>

#include "common/text.h"

namespace aplus {
namespace {

// "to <partner>" when `detail` starts with it, followed by nothing or by ": <reason>"; ""
// otherwise (a gateway's TRANSFERRED event holds the bare reason, all of it free text).
std::string TransferTarget(const std::string& detail) {
  constexpr std::string_view kTo = "to ";
  if (detail.compare(0, kTo.size(), kTo) != 0) return std::string();
  size_t end = kTo.size();
  while (end < detail.size() && IsIdChar(detail[end])) ++end;
  if (end == kTo.size() || (end < detail.size() && detail[end] != ':')) return std::string();
  return detail.substr(0, end);
}

}  // namespace

std::string DetailWithoutFreeText(const wire::Event& event) {
  const std::string& kind = event.kind();
  // A mail item's text made into an event by a gateway: the partner's reply, the contact
  // point's answer to a question.
  if (kind == "REPLY" || kind == "NOTICE" || kind == "INFO_ANSWERED") return std::string();
  if (kind == wire::CaseState_Name(wire::CANCELLED) ||       // the reason
      kind == wire::CaseState_Name(wire::INFO_REQUESTED) ||  // the question
      kind == wire::CaseState_Name(wire::ACKNOWLEDGED)) {    // a note, or an answer
    return std::string();
  }
  if (kind == wire::CaseState_Name(wire::TRANSFERRED)) return TransferTarget(event.detail());
  // Submission, delivery, lateness, closing, SLA events, deadline changes: written by the
  // broker, no free text.
  return event.detail();
}

void WithholdPersonalData(wire::CaseView& view) {
  view.clear_body();
  view.clear_citizen_name();
  view.clear_reply_text();
  view.clear_question();
  view.mutable_summary()->clear_subject();
  for (auto& event : *view.mutable_timeline()) event.set_detail(DetailWithoutFreeText(event));
}

}  // namespace aplus
