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
//   CLOSED, CANCELLED: final, no event accepted.
//
// A DELIVER arriving after the case moved on (a late transport ack) is not an error: the
// receipt is recorded in the timeline and the state stays (see IsLateDelivery).
#pragma once

#include <optional>
#include <string_view>

#include "aplus.pb.h"
#include "common/status.h"

namespace aplus {

enum class CaseEvent { kSubmit, kDeliver, kAcknowledge, kReply, kClose, kCancel };

std::string_view CaseEventName(CaseEvent event);

// Returns the state `event` leads to from `state`, or INVALID_TRANSITION with a readable reason.
Result<wire::CaseState> NextState(wire::CaseState state, CaseEvent event);

// True when a DELIVER meets a case already past DELIVERED (ACKNOWLEDGED, ANSWERED, ...).
bool IsLateDelivery(wire::CaseState state);

}  // namespace aplus
