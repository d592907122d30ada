// Retention end to end, with the real aplus-broker and the wall clock: personal data is erased
// `personal_data_after` (here 2 seconds) after a case is closed or cancelled, and really leaves
// the database: every file of the broker's data directory (write-ahead logs, table files,
// MANIFEST...) is read raw, before the purge (the planted strings are there, so the check can
// fail) and after the purge and its compaction (they are gone). The skeleton, the audit log and
// the reports remain, also after a restart; a case still open keeps its data.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "tests/support/audit_test_helpers.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/data_files.h"
#include "tests/support/retention_test_helpers.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";
constexpr int64_t kRetentionMs = 2000;


wire::CaseState Updated(SyncClient& client, wire::Envelope request) {
  auto answer = client.CallOk(std::move(request), 5000);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  REQUIRE(answer->has_case_updated());
  return answer->case_updated().state();
}

// Every free text of one case, each a unique marker.
struct CaseTexts {
  explicit CaseTexts(const std::string& label)
      : subject(MakeMarker(label + "-subject")),
        body(MakeMarker(label + "-body")),
        citizen(MakeMarker(label + "-citizen")),
        note(MakeMarker(label + "-note")),
        question(MakeMarker(label + "-question")),
        answer(MakeMarker(label + "-answer")),
        reply(MakeMarker(label + "-reply")),
        reason(MakeMarker(label + "-reason")) {}
  std::vector<const Marker*> All() const {
    return {&subject, &body, &citizen, &note, &question, &answer, &reply, &reason};
  }
  Marker subject, body, citizen, note, question, answer, reply, reason;
};

std::string Submit(SyncClient& agent, const CaseTexts& texts, const std::string& key) {
  auto accepted = agent.CallOk(
      ConsentedSubmit(texts.subject.text, texts.body.text, texts.citizen.text, key), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  REQUIRE(accepted->has_accepted());
  return accepted->accepted().case_id();
}

wire::CaseView View(SyncClient& client, const std::string& case_id) {
  auto view = GetCaseView(client, case_id);
  REQUIRE_MESSAGE(view.ok(), view.status().ToString());
  return *view;
}

bool Erased(SyncClient& client, const std::string& case_id) {
  auto view = GetCaseView(client, case_id);
  return view.ok() && view->summary().personal_data_erased();
}

// The planted strings of `texts` that some file of `dir` still holds (any piece of them).
std::vector<std::string> Leftovers(const std::string& dir, const CaseTexts& texts) {
  std::vector<std::string> found;
  for (const Marker* marker : texts.All()) {
    for (auto& where : FilesWithAnyPiece(dir, *marker)) found.push_back(marker->text + ": " + where);
  }
  return found;
}

void CheckSkeleton(const wire::CaseView& view, wire::CaseState state) {
  const auto& summary = view.summary();
  CHECK(summary.personal_data_erased());
  CHECK(summary.state() == state);
  CHECK(summary.subject().empty());
  CHECK(view.body().empty());
  CHECK(view.citizen_name().empty());
  CHECK(view.reply_text().empty());
  CHECK(view.question().empty());
  // The skeleton: ids, parties, dates and SLA outcome.
  CHECK(summary.contact_point() == kContactPoint);
  CHECK(summary.agent() == "agent-noce-1");
  CHECK(summary.category() == "unemployment-benefits");
  CHECK(summary.submitted_at_ms() > 0);
  CHECK(summary.deadline_ms() > 0);
  CHECK(summary.ended_at_ms() >= summary.submitted_at_ms());
  CHECK(summary.personal_data_erase_at_ms() == summary.ended_at_ms() + kRetentionMs);
  REQUIRE_FALSE(view.timeline().empty());
  CHECK(view.timeline(0).kind() == "SUBMITTED");
  CHECK(view.timeline(view.timeline_size() - 1).state_after() == state);
  for (const auto& event : view.timeline()) {
    if (event.actor() != "broker") CHECK_MESSAGE(event.detail().empty(), event.kind());
  }
}

}  // namespace

TEST_CASE("retention: closed and cancelled cases lose their personal data, in the files too") {
  TempDir config_dir("retention-config");
  const std::string config = WriteShortRetentionConfig(config_dir);
  auto network = StartNetwork("retention", {"--config", config});
  REQUIRE(network);
  const std::string data_dir = network->dir().Sub("broker");
  // Fake gateways that never take their deliveries: the mail items about the cases (notes,
  // questions, answers, replies, reasons) wait in the queues, and must be erased there too.
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto partner = network->BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  auto caf = network->BrokerClient(wire::PARTNER_GATEWAY, "caf", "perche");
  auto op = network->BrokerClient(wire::OPERATOR, "operator");

  // Case A goes the whole way and is closed; case B is transferred then cancelled; case C stays
  // open and keeps everything.
  CaseTexts a("a"), b("b"), c("c");
  const std::string case_a = Submit(*agent, a, "retention-a");
  CHECK(Updated(*partner, AcknowledgeRequest(case_a, a.note.text, "a-ack")) == wire::ACKNOWLEDGED);
  CHECK(Updated(*partner, AskInfoRequest(case_a, a.question.text, "a-ask")) == wire::INFO_REQUESTED);
  CHECK(Updated(*agent, AnswerInfoRequest(case_a, a.answer.text, "a-answer")) == wire::ACKNOWLEDGED);
  CHECK(Updated(*partner, ReplyRequest(case_a, a.reply.text, "a-reply")) == wire::ANSWERED);
  const std::string case_b = Submit(*agent, b, "retention-b");
  CHECK(Updated(*partner, TransferRequest(case_b, "caf", b.reason.text, "b-transfer")) ==
        wire::TRANSFERRED);
  CHECK(Updated(*caf, AcknowledgeRequest(case_b, b.note.text, "b-ack")) == wire::ACKNOWLEDGED);
  CHECK(Updated(*caf, AskInfoRequest(case_b, b.question.text, "b-ask")) == wire::INFO_REQUESTED);
  const std::string case_c = Submit(*agent, c, "retention-c");
  wire::CaseView a_before = View(*agent, case_a);
  CHECK(a_before.reply_text() == a.reply.text);

  // Control: every planted string is in the broker's files now, so the check below can fail.
  for (const CaseTexts* texts : {&a, &b}) {
    for (const Marker* marker : texts->All()) {
      if (texts == &b && (marker == &b.answer || marker == &b.reply)) continue;
      if (texts == &a && marker == &a.reason) continue;
      CHECK_MESSAGE(!FilesContaining(data_dir, marker->text).empty(),
                    marker->text << " is not in the broker's files before the purge");
    }
  }

  wire::Envelope close;
  close.mutable_close_case()->set_case_id(case_a);
  close.mutable_close_case()->set_idempotency_key("a-close");
  CHECK(Updated(*agent, close) == wire::CLOSED);
  wire::Envelope cancel;
  cancel.mutable_cancel_case()->set_case_id(case_b);
  cancel.mutable_cancel_case()->set_reason("the citizen moved away");
  cancel.mutable_cancel_case()->set_idempotency_key("b-cancel");
  CHECK(Updated(*agent, cancel) == wire::CANCELLED);
  wire::CaseView a_closed = View(*agent, case_a);
  CHECK_FALSE(a_closed.summary().personal_data_erased());
  CHECK(a_closed.summary().personal_data_erase_at_ms() == a_closed.summary().ended_at_ms() + kRetentionMs);
  CHECK(a_closed.body() == a.body.text);  // not before its time

  REQUIRE(WaitUntil([&] { return Erased(*op, case_a) && Erased(*op, case_b); }, 20000, 100));
  CheckSkeleton(View(*agent, case_a), wire::CLOSED);
  CheckSkeleton(View(*agent, case_b), wire::CANCELLED);
  wire::CaseView a_after = View(*agent, case_a);
  CHECK(a_after.summary().partner() == "france-travail");
  CHECK(a_after.summary().answered_at_ms() == a_before.summary().answered_at_ms());
  CHECK(a_after.timeline_size() == a_closed.timeline_size());
  CHECK(View(*agent, case_b).summary().partner() == "caf");
  CHECK(View(*agent, case_b).summary().transferred_from() == "france-travail");
  // The open case keeps its data.
  wire::CaseView c_view = View(*agent, case_c);
  CHECK_FALSE(c_view.summary().personal_data_erased());
  CHECK(c_view.body() == c.body.text);
  CHECK(c_view.summary().subject() == c.subject.text);

  // The purge is in the audit log, after everything it erased.
  auto audit = AuditOf(*op, case_a);
  REQUIRE_MESSAGE(audit.ok(), audit.status().ToString());
  INFO(DescribeAudit(*audit));
  auto erasures = EntriesOf(*audit, "erase-personal-data", "broker");
  REQUIRE(erasures.size() == 1);
  CHECK(erasures[0].detail() == "2 seconds after CLOSED");
  CHECK(EntriesOf(*audit, "submit").size() == 1);
  REQUIRE(EntriesOf(*audit, "close").size() == 1);
  CHECK(EntriesOf(*audit, "close")[0].sequence() < erasures[0].sequence());
  // Polling GetCase above was recorded too: reads always are.
  CHECK(EntriesOf(*audit, "read", "op/operator").size() >= 1);

  // The texts are gone from the files once the compaction has run (flushed logs deleted,
  // table files rewritten).
  REQUIRE(network->broker().WaitForLog("retention: purge pass", 20000));
  bool gone = WaitUntil([&] { return Leftovers(data_dir, a).empty() && Leftovers(data_dir, b).empty(); },
                        20000, 200);
  CHECK_MESSAGE(gone, JoinNames(Leftovers(data_dir, a)) << "; " << JoinNames(Leftovers(data_dir, b)));
  // The open case is still on disk (the scan does read the files).
  CHECK_MESSAGE(!Leftovers(data_dir, c).empty(), "case C's data should still be on disk");

  // Mail items still waiting for the contact point carry no text any more.
  auto mailbox = network->BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  REQUIRE(mailbox->CallOk(SubscribeRequest(100), 5000).ok());
  int mail_items = 0;
  while (auto delivery = NextDelivery(*mailbox, 1000)) {
    if (!delivery->has_mail()) continue;
    ++mail_items;
    const auto& mail = delivery->mail();
    if (mail.case_id() == case_a || mail.case_id() == case_b) {
      CHECK_MESSAGE(mail.text().empty(), mail.case_id() << " " << wire::MailItem::Kind_Name(mail.kind()));
    }
  }
  CHECK(mail_items == 6);  // A: ack, question, reply; B: transfer, ack, question

  // A case closed just before a crash is purged by the next process (durable timer).
  CaseTexts d("d");
  const std::string case_d = Submit(*agent, d, "retention-d");
  CHECK(Updated(*partner, ReplyRequest(case_d, d.reply.text, "d-reply")) == wire::ANSWERED);
  wire::Envelope close_d = close;
  close_d.mutable_close_case()->set_case_id(case_d);
  close_d.mutable_close_case()->set_idempotency_key("d-close");
  CHECK(Updated(*agent, close_d) == wire::CLOSED);
  REQUIRE(RestartBroker(*network, {"--config", config}));

  // After the restart: skeletons, audit and reports are all there; nothing came back.
  REQUIRE(WaitUntil([&] { return Erased(*op, case_d); }, 20000, 100));
  CheckSkeleton(View(*agent, case_a), wire::CLOSED);
  CheckSkeleton(View(*agent, case_d), wire::CLOSED);
  auto audit_after = AuditOf(*op, case_a);
  REQUIRE(audit_after.ok());
  CHECK(audit_after->size() >= audit->size());
  CHECK(EntriesOf(*audit_after, "erase-personal-data").size() == 1);
  auto france_travail = PartnerReportOf(*op, "france-travail");
  REQUIRE_MESSAGE(france_travail.ok(), france_travail.status().ToString());
  CHECK(france_travail->received() == 3);  // A, C, D
  CHECK(france_travail->answered() == 2);  // A, D
  CHECK(france_travail->answered_on_time() == 2);
  CHECK(france_travail->open() == 1);      // C
  auto caf_report = PartnerReportOf(*op, "caf");
  REQUIRE_MESSAGE(caf_report.ok(), caf_report.status().ToString());
  CHECK(caf_report->received() == 1);  // B
  CHECK(caf_report->open() == 0);
  CHECK(Leftovers(data_dir, a).empty());
  CHECK(Leftovers(data_dir, b).empty());
  bool d_gone = WaitUntil([&] { return Leftovers(data_dir, d).empty(); }, 20000, 200);
  CHECK_MESSAGE(d_gone, JoinNames(Leftovers(data_dir, d)));
}
