#include "common/personal_data.h"

#include <doctest/doctest.h>

namespace aplus {
namespace {

wire::Event EventOf(const std::string& kind, wire::CaseState state_after, const std::string& actor,
                    const std::string& detail) {
  wire::Event event;
  event.set_kind(kind);
  event.set_state_after(state_after);
  event.set_actor(actor);
  event.set_detail(detail);
  return event;
}

}  // namespace

TEST_CASE("the broker's events keep what the broker wrote, never what a person typed") {
  CHECK(DetailWithoutFreeText(EventOf("SUBMITTED", wire::SUBMITTED, "mairie",
                                      "by agent-1 to caf")) == "by agent-1 to caf");
  CHECK(DetailWithoutFreeText(EventOf("ACKNOWLEDGED", wire::ACKNOWLEDGED, "caf", "a note")) == "");
  CHECK(DetailWithoutFreeText(EventOf("INFO_REQUESTED", wire::INFO_REQUESTED, "caf", "why?")) ==
        "");
  CHECK(DetailWithoutFreeText(EventOf("CANCELLED", wire::CANCELLED, "mairie", "moved")) == "");
  CHECK(DetailWithoutFreeText(EventOf("TRANSFERRED", wire::TRANSFERRED, "caf",
                                      "to msa: relève du régime agricole")) == "to msa");
  CHECK(DetailWithoutFreeText(EventOf("ANSWERED", wire::ANSWERED, "caf",
                                      "replied 2 days after the deadline")) ==
        "replied 2 days after the deadline");
  CHECK(DetailWithoutFreeText(EventOf("SLA_BREACH", wire::DELIVERED, "broker", "lapsed")) ==
        "lapsed");
  CHECK(DetailWithoutFreeText(EventOf("DEADLINE_CHANGED", wire::ACKNOWLEDGED, "broker",
                                      "deadline with caf: ...")) == "deadline with caf: ...");
}

TEST_CASE("the gateways' events made of mail items lose their text") {
  // The agent gateway names them after the mail item's kind, whatever state follows.
  CHECK(DetailWithoutFreeText(EventOf("REPLY", wire::ANSWERED, "caf", "Votre dossier")) == "");
  CHECK(DetailWithoutFreeText(EventOf("NOTICE", wire::CANCELLED, "caf", "text")) == "");
  CHECK(DetailWithoutFreeText(EventOf("ACKNOWLEDGED", wire::ANSWERED, "caf", "late note")) == "");
  CHECK(DetailWithoutFreeText(EventOf("TRANSFERRED", wire::TRANSFERRED, "msa",
                                      "relève du régime agricole")) == "");
  CHECK(DetailWithoutFreeText(EventOf("TRANSFERRED", wire::TRANSFERRED, "msa",
                                      "to be handled: elsewhere")) == "");
  // The partner gateway: the contact point's answer, and its own transfer note.
  CHECK(DetailWithoutFreeText(EventOf("INFO_ANSWERED", wire::ACKNOWLEDGED, "mairie",
                                      "12 rue des Lilas")) == "");
  CHECK(DetailWithoutFreeText(EventOf("TRANSFERRED", wire::TRANSFERRED, "caf", "to msa")) ==
        "to msa");
}

TEST_CASE("withholding clears every personal field and keeps the skeleton") {
  wire::CaseView view;
  view.mutable_summary()->set_case_id("PER-A");
  view.mutable_summary()->set_subject("subject");
  view.mutable_summary()->set_partner("caf");
  view.set_body("body");
  view.set_citizen_name("Jeanne Martin");
  view.set_reply_text("reply");
  view.set_question("question");
  *view.add_timeline() = EventOf("REPLY", wire::ANSWERED, "caf", "reply");
  WithholdPersonalData(view);
  CHECK(view.summary().case_id() == "PER-A");
  CHECK(view.summary().partner() == "caf");
  CHECK(view.summary().subject().empty());
  CHECK(view.body().empty());
  CHECK(view.citizen_name().empty());
  CHECK(view.reply_text().empty());
  CHECK(view.question().empty());
  CHECK(view.timeline(0).detail().empty());
  CHECK(view.timeline(0).kind() == "REPLY");
}

}  // namespace aplus
