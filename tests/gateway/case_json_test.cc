#include "gateway/case_json.h"

#include <doctest/doctest.h>

namespace aplus {

TEST_CASE("instants are RFC 3339 UTC, with milliseconds only when there are some") {
  CHECK(Rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(Rfc3339(1'796'335'140'000) == "2026-12-03T21:59:00Z");
  CHECK(Rfc3339(1'796'335'140'250) == "2026-12-03T21:59:00.250Z");
}

TEST_CASE("a summary: required fields always, optional ones only when they say something") {
  wire::CaseSummary summary;
  summary.set_case_id("PER-5YHS-F5R0");
  summary.set_state(wire::DELIVERED);
  summary.set_partner("france-travail");
  summary.set_deadline_ms(1'796'335'140'000);
  summary.set_late_by_ms(1500);
  auto json = CaseSummaryJson(summary);
  CHECK(json["caseId"] == "PER-5YHS-F5R0");
  CHECK(json["state"] == "DELIVERED");
  CHECK(json["deadline"] == "2026-12-03T21:59:00Z");
  CHECK(json["submittedAt"].is_null());
  CHECK(json["lateBySeconds"] == 2);
  CHECK_FALSE(json.contains("localRef"));
  CHECK_FALSE(json.contains("warned"));
  CHECK_FALSE(json.contains("localError"));

  summary.mutable_local_error()->set_code(wire::UNKNOWN_PARTNER);
  summary.mutable_local_error()->set_message("no partner nobody");
  auto failed = CaseSummaryJson(summary);
  CHECK(failed["localError"]["code"] == "UNKNOWN_PARTNER");
  CHECK(failed["localError"]["status"].get<int>() >= 400);
}

TEST_CASE("a view carries its timeline, pauses, explanation and whether it is local") {
  wire::CaseView view;
  view.mutable_summary()->set_case_id("PER-5YHS-F5R0");
  view.mutable_summary()->set_state(wire::INFO_REQUESTED);
  auto* event = view.add_timeline();
  event->set_sequence(1);
  event->set_at_ms(1'796'335'140'000);
  event->set_kind("SUBMITTED");
  event->set_actor("cp/mairie");
  event->set_state_after(wire::SUBMITTED);
  view.add_pauses()->set_start_ms(1'796'335'140'000);
  view.add_deadline_explanation("4 jours ouvres");
  view.set_from_local_cache(true);
  auto json = CaseViewJson(view);
  REQUIRE(json["timeline"].size() == 1);
  CHECK(json["timeline"][0]["kind"] == "SUBMITTED");
  CHECK(json["timeline"][0]["stateAfter"] == "SUBMITTED");
  CHECK(json["pauses"][0]["end"].is_null());
  CHECK(json["deadlineExplanation"][0] == "4 jours ouvres");
  CHECK(json["localView"] == true);

  wire::CaseList list;
  *list.add_cases() = view.summary();
  auto page = CaseListJson(list);
  CHECK(page["items"].size() == 1);
  CHECK(page["localView"] == false);
}

}  // namespace aplus
