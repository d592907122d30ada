#include <doctest/doctest.h>

#include "broker/case_lifecycle.h"

using namespace aplus;

TEST_CASE("the lifecycle table allows the normal path") {
  CHECK(*NextState(wire::STATE_UNSPECIFIED, CaseEvent::kSubmit) == wire::SUBMITTED);
  CHECK(*NextState(wire::SUBMITTED, CaseEvent::kDeliver) == wire::DELIVERED);
  CHECK(*NextState(wire::DELIVERED, CaseEvent::kAcknowledge) == wire::ACKNOWLEDGED);
  CHECK(*NextState(wire::ACKNOWLEDGED, CaseEvent::kReply) == wire::ANSWERED);
  CHECK(*NextState(wire::ANSWERED, CaseEvent::kClose) == wire::CLOSED);
  CHECK(*NextState(wire::DELIVERED, CaseEvent::kCancel) == wire::CANCELLED);
}

TEST_CASE("everything outside the table is INVALID_TRANSITION") {
  const wire::CaseState states[] = {wire::SUBMITTED, wire::DELIVERED, wire::ACKNOWLEDGED,
                                    wire::ANSWERED, wire::CLOSED, wire::CANCELLED};
  const CaseEvent events[] = {CaseEvent::kSubmit, CaseEvent::kDeliver, CaseEvent::kAcknowledge,
                              CaseEvent::kReply, CaseEvent::kClose, CaseEvent::kCancel};
  int allowed = 0;
  for (auto state : states) {
    for (auto event : events) {
      auto next = NextState(state, event);
      if (next.ok()) {
        ++allowed;
      } else {
        CHECK(next.status().code() == wire::INVALID_TRANSITION);
        CHECK(next.status().message().find(wire::CaseState_Name(state)) != std::string::npos);
      }
    }
  }
  CHECK(allowed == 10);
  CHECK_FALSE(NextState(wire::CLOSED, CaseEvent::kReply).ok());
  CHECK_FALSE(NextState(wire::ANSWERED, CaseEvent::kCancel).ok());
  CHECK_FALSE(NextState(wire::CANCELLED, CaseEvent::kClose).ok());
}
