#include "broker/personal_data.h"

#include <string>

namespace aplus {

std::string DetailWithoutFreeText(const wire::Event& event) {
  // The broker's own events (SLA alerts, deadline changes) are named otherwise than the state
  // they leave the case in, and hold no free text.
  if (event.kind() != wire::CaseState_Name(event.state_after())) return event.detail();
  switch (event.state_after()) {
    case wire::CANCELLED:       // the reason
    case wire::INFO_REQUESTED:  // the question
    case wire::ACKNOWLEDGED:    // the partner's note, or the agent's answer to a question
      return std::string();
    case wire::TRANSFERRED: {  // "to <partner>: <reason>"
      const std::string& detail = event.detail();
      return detail.substr(0, detail.find(':'));
    }
    default:  // submission, delivery, lateness, closing, SLA events: written by the broker
      return event.detail();
  }
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
