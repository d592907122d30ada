// What of a case is the citizen's personal data (RGPD): the citizen's identity and every free
// text typed by an agent or a partner. Operators see the rest (ids, parties, dates, SLA state).
#pragma once

#include "aplus.pb.h"

namespace aplus {

// Removes the personal data from `view`: body, citizen name, subject, reply, open question,
// and the free-text part of timeline events (cancel reasons, questions, answers, notes,
// transfer reasons). What the broker itself wrote (SLA events, "to <partner>" of a transfer,
// how late a reply was) stays.
void WithholdPersonalData(wire::CaseView& view);

// The part of a timeline event's detail that is not free text ("" when all of it is).
std::string DetailWithoutFreeText(const wire::Event& event);

}  // namespace aplus
