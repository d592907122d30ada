#include "broker/case_lifecycle.h"

#include <array>

namespace aplus {
namespace {

struct Transition {
  wire::CaseState from;
  CaseEvent event;
  wire::CaseState to;
};

constexpr std::array kTransitions = {
    Transition{wire::STATE_UNSPECIFIED, CaseEvent::kSubmit, wire::SUBMITTED},
    Transition{wire::SUBMITTED, CaseEvent::kDeliver, wire::DELIVERED},
    Transition{wire::SUBMITTED, CaseEvent::kAcknowledge, wire::ACKNOWLEDGED},
    Transition{wire::SUBMITTED, CaseEvent::kReply, wire::ANSWERED},
    Transition{wire::SUBMITTED, CaseEvent::kCancel, wire::CANCELLED},
    Transition{wire::DELIVERED, CaseEvent::kAcknowledge, wire::ACKNOWLEDGED},
    Transition{wire::DELIVERED, CaseEvent::kReply, wire::ANSWERED},
    Transition{wire::DELIVERED, CaseEvent::kCancel, wire::CANCELLED},
    Transition{wire::ACKNOWLEDGED, CaseEvent::kReply, wire::ANSWERED},
    Transition{wire::ACKNOWLEDGED, CaseEvent::kCancel, wire::CANCELLED},
    Transition{wire::ANSWERED, CaseEvent::kClose, wire::CLOSED},
    Transition{wire::SUBMITTED, CaseEvent::kAskInfo, wire::INFO_REQUESTED},
    Transition{wire::DELIVERED, CaseEvent::kAskInfo, wire::INFO_REQUESTED},
    Transition{wire::ACKNOWLEDGED, CaseEvent::kAskInfo, wire::INFO_REQUESTED},
    Transition{wire::INFO_REQUESTED, CaseEvent::kAnswerInfo, wire::ACKNOWLEDGED},
    Transition{wire::INFO_REQUESTED, CaseEvent::kReply, wire::ANSWERED},
    Transition{wire::INFO_REQUESTED, CaseEvent::kCancel, wire::CANCELLED},
    Transition{wire::SUBMITTED, CaseEvent::kTransfer, wire::TRANSFERRED},
    Transition{wire::DELIVERED, CaseEvent::kTransfer, wire::TRANSFERRED},
    Transition{wire::ACKNOWLEDGED, CaseEvent::kTransfer, wire::TRANSFERRED},
    Transition{wire::INFO_REQUESTED, CaseEvent::kTransfer, wire::TRANSFERRED},
    Transition{wire::TRANSFERRED, CaseEvent::kTransfer, wire::TRANSFERRED},
    Transition{wire::TRANSFERRED, CaseEvent::kDeliver, wire::DELIVERED},
    Transition{wire::TRANSFERRED, CaseEvent::kAcknowledge, wire::ACKNOWLEDGED},
    Transition{wire::TRANSFERRED, CaseEvent::kReply, wire::ANSWERED},
    Transition{wire::TRANSFERRED, CaseEvent::kCancel, wire::CANCELLED},
};

}  // namespace

std::string_view CaseEventName(CaseEvent event) {
  switch (event) {
    case CaseEvent::kSubmit: return "SUBMIT";
    case CaseEvent::kDeliver: return "DELIVER";
    case CaseEvent::kAcknowledge: return "ACKNOWLEDGE";
    case CaseEvent::kReply: return "REPLY";
    case CaseEvent::kClose: return "CLOSE";
    case CaseEvent::kCancel: return "CANCEL";
    case CaseEvent::kAskInfo: return "ASK_INFO";
    case CaseEvent::kAnswerInfo: return "ANSWER_INFO";
    case CaseEvent::kTransfer: return "TRANSFER";
  }
  return "?";
}

Result<wire::CaseState> NextState(wire::CaseState state, CaseEvent event) {
  for (const auto& transition : kTransitions) {
    if (transition.from == state && transition.event == event) return transition.to;
  }
  return Status(wire::INVALID_TRANSITION,
                std::string(CaseEventName(event)) + " is not allowed on a case in state " +
                    wire::CaseState_Name(state));
}

bool ClockRuns(wire::CaseState state) {
  return state == wire::SUBMITTED || state == wire::DELIVERED || state == wire::ACKNOWLEDGED ||
         state == wire::TRANSFERRED;
}

bool IsFinal(wire::CaseState state) { return state == wire::CLOSED || state == wire::CANCELLED; }

}  // namespace aplus
