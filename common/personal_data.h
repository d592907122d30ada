// What of a case is the citizen's personal data (RGPD): the citizen's identity and every free
// text typed by an agent or a partner. Operators see the rest (ids, parties, dates, SLA state).
// Shared by the broker (reads without the right to the content, retention) and the gateways
// (retention of their own copies), so that every program draws the line in the same place.
//
// Thread rules: pure functions.
#pragma once

#include <string>

#include "aplus.pb.h"

namespace aplus {

// Removes the personal data from `view`: body, citizen name, subject, reply, open question,
// and the free-text part of timeline events (cancel reasons, questions, answers, notes,
// transfer reasons, the texts of mail items a gateway added). What the broker itself wrote
// (SLA events, "to <partner>" of a transfer, how late a reply was) stays.
void WithholdPersonalData(wire::CaseView& view);

// The part of a timeline event's detail that is not free text ("" when all of it is). Events
// are judged by their kind: the broker names its events after the state they lead to; the
// gateways name the events they make of a delivered mail item after the item's kind (REPLY,
// NOTICE, ...) or INFO_ANSWERED, and their detail is the item's text.
std::string DetailWithoutFreeText(const wire::Event& event);

}  // namespace aplus
