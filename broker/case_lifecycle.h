// The escalation lifecycle as one table: for each state, the events it accepts and the state
// each leads to. Anything not in the table is refused with INVALID_TRANSITION.
//
//   state         | event        | next state    | who may cause it
//   --------------+--------------+---------------+---------------------------------------
//   (new)         | SUBMIT       | SUBMITTED     | agent gateway of the contact point
//   SUBMITTED     | DELIVER      | DELIVERED     | partner gateway (durable receipt)
//   SUBMITTED     | ACKNOWLEDGE  | ACKNOWLEDGED  | partner gateway
//   SUBMITTED     | REPLY        | ANSWERED      | partner gateway
//   SUBMITTED     | CANCEL       | CANCELLED     | agent gateway
//   DELIVERED     | ACKNOWLEDGE  | ACKNOWLEDGED  | partner gateway
//   DELIVERED     | REPLY        | ANSWERED      | partner gateway
//   DELIVERED     | CANCEL       | CANCELLED     | agent gateway
//   ACKNOWLEDGED  | REPLY        | ANSWERED      | partner gateway
//   ACKNOWLEDGED  | CANCEL       | CANCELLED     | agent gateway
//   ANSWERED      | CLOSE        | CLOSED        | agent gateway
//   SUBMITTED, DELIVERED, ACKNOWLEDGED
//                 | ASK_INFO     | INFO_REQUESTED| partner gateway (the SLA clock pauses)
//   INFO_REQUESTED| ANSWER_INFO  | ACKNOWLEDGED  | agent gateway (the clock restarts)
//   INFO_REQUESTED| REPLY        | ANSWERED      | partner gateway
//   INFO_REQUESTED| CANCEL       | CANCELLED     | agent gateway
//   SUBMITTED, DELIVERED, ACKNOWLEDGED, INFO_REQUESTED, TRANSFERRED
//                 | TRANSFER     | TRANSFERRED   | partner gateway (the case changes partner)
//   TRANSFERRED   | DELIVER      | DELIVERED     | the new partner's gateway
//   TRANSFERRED   | ACKNOWLEDGE  | ACKNOWLEDGED  | the new partner's gateway
//   TRANSFERRED   | REPLY        | ANSWERED      | the new partner's gateway
//   TRANSFERRED   | CANCEL       | CANCELLED     | agent gateway
//   CLOSED, CANCELLED: final, no event accepted.
//
// The SLA clock runs in SUBMITTED, DELIVERED, ACKNOWLEDGED and TRANSFERRED, is paused in
// INFO_REQUESTED and stopped for good in ANSWERED, CLOSED and CANCELLED (ClockRuns).
//
// A DELIVER arriving after the case moved on (a late transport ack) is not an error: the
// receipt is recorded in the timeline and the state stays (see IsLateDelivery).
#pragma once

#include <optional>
#include <string_view>

#include "aplus.pb.h"
#include "common/status.h"

namespace aplus {

enum class CaseEvent {
  kSubmit, kDeliver, kAcknowledge, kReply, kClose, kCancel, kAskInfo, kAnswerInfo, kTransfer
};

std::string_view CaseEventName(CaseEvent event);

// Returns the state `event` leads to from `state`, or INVALID_TRANSITION with a readable reason.
Result<wire::CaseState> NextState(wire::CaseState state, CaseEvent event);

// True while the reply window is being counted.
bool ClockRuns(wire::CaseState state);

// True once the case can change no more (CLOSED, CANCELLED).
bool IsFinal(wire::CaseState state);

}  // namespace aplus
