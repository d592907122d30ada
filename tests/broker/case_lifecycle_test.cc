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
                              CaseEvent::kReply, CaseEvent::kClose, CaseEvent::kCancel,
                              CaseEvent::kAskInfo, CaseEvent::kAnswerInfo, CaseEvent::kTransfer};
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
  CHECK(allowed == 16);
  CHECK_FALSE(NextState(wire::CLOSED, CaseEvent::kReply).ok());
  CHECK_FALSE(NextState(wire::ANSWERED, CaseEvent::kCancel).ok());
  CHECK_FALSE(NextState(wire::CANCELLED, CaseEvent::kClose).ok());
}

TEST_CASE("questions pause the clock and transfers hand the case over") {
  CHECK(*NextState(wire::ACKNOWLEDGED, CaseEvent::kAskInfo) == wire::INFO_REQUESTED);
  CHECK_FALSE(ClockRuns(wire::INFO_REQUESTED));
  CHECK(*NextState(wire::INFO_REQUESTED, CaseEvent::kAnswerInfo) == wire::ACKNOWLEDGED);
  CHECK(*NextState(wire::DELIVERED, CaseEvent::kTransfer) == wire::TRANSFERRED);
  CHECK(ClockRuns(wire::TRANSFERRED));
  CHECK(*NextState(wire::TRANSFERRED, CaseEvent::kDeliver) == wire::DELIVERED);
  CHECK_FALSE(NextState(wire::ANSWERED, CaseEvent::kAskInfo).ok());
  CHECK_FALSE(NextState(wire::ACKNOWLEDGED, CaseEvent::kAnswerInfo).ok());
  CHECK_FALSE(NextState(wire::CLOSED, CaseEvent::kTransfer).ok());
  CHECK(IsFinal(wire::CLOSED));
  CHECK_FALSE(ClockRuns(wire::ANSWERED));
}
