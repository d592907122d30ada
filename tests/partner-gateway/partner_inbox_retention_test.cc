// Retention of the partner gateway's inbox: a case is dated when the partner's reply is
// accepted, and its personal data erased once the period is over (the record and the stored
// notices), exactly once; late news does not bring it back; and after the compaction the erased
// strings are in no file of the database directory (read raw, before as a control).
#include "partner-gateway/partner_inbox.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "sla/civil_time.h"
#include "store/purge_compactor.h"
#include "tests/support/child_process.h"
#include "tests/support/data_files.h"

namespace aplus {
namespace {

using testing::FilesContaining;
using testing::FilesWithAnyPiece;
using testing::JoinNames;
using testing::MakeMarker;
using testing::Marker;
using testing::TempDir;

constexpr int64_t kStartMs = 1'800'000'000'000;
const RetentionPeriod kPeriod{2, RetentionPeriod::Unit::kMonths};

int64_t ErasedAt(int64_t answered_at_ms) {
  return AddRetentionPeriod(answered_at_ms, kPeriod, sla::TimeZone::Paris());
}

std::unique_ptr<RocksDb> OpenDb(const std::string& path) {
  auto db = RocksDb::Open(path, {kInboxFamily});
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

struct CaseTexts {
  explicit CaseTexts(const std::string& label)
      : subject(MakeMarker(label + "-subject")),
        body(MakeMarker(label + "-body")),
        citizen(MakeMarker(label + "-citizen")),
        question(MakeMarker(label + "-question")),
        answer(MakeMarker(label + "-answer")),
        reply(MakeMarker(label + "-reply")) {}
  std::vector<const Marker*> All() const {
    return {&subject, &body, &citizen, &question, &answer, &reply};
  }
  Marker subject, body, citizen, question, answer, reply;
};

PartnerInbox::Arrival ArrivalOf(const std::string& case_id, const CaseTexts& texts) {
  PartnerInbox::Arrival arrival;
  auto& escalation = arrival.escalation;
  escalation.set_case_id(case_id);
  escalation.set_contact_point("mairie-test");
  escalation.set_partner("caf");
  escalation.set_category("family-benefits");
  escalation.set_subject(texts.subject.text);
  escalation.set_body(texts.body.text);
  escalation.set_citizen_name(texts.citizen.text);
  escalation.set_submitted_at_ms(kStartMs - 1000);
  escalation.set_deadline_ms(kStartMs + 86'400'000);
  return arrival;
}

// The contact point's answer to a question, as the broker delivers it to the partner.
wire::Delivery Notice(uint64_t delivery_id, const std::string& case_id, const std::string& text) {
  wire::Delivery delivery;
  delivery.set_queue("partner/caf");
  delivery.set_delivery_id(delivery_id);
  auto* mail = delivery.mutable_mail();
  mail->set_case_id(case_id);
  mail->set_kind(wire::MailItem::NOTICE);
  mail->set_text(text);
  mail->set_state(wire::ACKNOWLEDGED);
  mail->set_at_ms(kStartMs + static_cast<int64_t>(delivery_id));
  return delivery;
}

wire::Delivery Breach(uint64_t delivery_id, const std::string& case_id) {
  wire::Delivery delivery;
  delivery.set_queue("partner/caf");
  delivery.set_delivery_id(delivery_id);
  auto* alert = delivery.mutable_alert();
  alert->set_kind(wire::Alert::BREACH);
  alert->set_case_id(case_id);
  alert->set_raised_at_ms(kStartMs + static_cast<int64_t>(delivery_id));
  alert->set_text("case " + case_id + " (caf): the reply window has lapsed without an answer");
  return delivery;
}

wire::CaseView Stored(const PartnerInbox& inbox, const std::string& case_id) {
  auto found = inbox.Find(case_id);
  REQUIRE_MESSAGE(found.ok(), found.status().ToString());
  REQUIRE(found->has_value());
  return **found;
}

std::vector<std::string> MarkersIn(const std::string& bytes, const CaseTexts& texts) {
  std::vector<std::string> found;
  for (const Marker* marker : texts.All()) {
    if (bytes.find(marker->text) != std::string::npos) found.push_back(marker->text);
  }
  return found;
}

// Every stored notice and alert, serialized (the "d" keys).
std::string StoredNotices(RocksDb& db) {
  std::string bytes;
  auto it = db.NewIterator(db.Family(kInboxFamily));
  for (it->Seek("d"); it->Valid() && it->key().starts_with("d"); it->Next()) {
    bytes += it->value().ToString();
  }
  return bytes;
}

void Compact(RocksDb& db, std::vector<KeyRange> ranges) {
  PurgeCompactor compactor(db, 0);
  compactor.Request(1, std::move(ranges));
  for (int i = 0; i < 500 && compactor.completed() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(compactor.completed() == 1);
}

}  // namespace

TEST_CASE("an answered case's personal data leaves the inbox once due, the files included") {
  TempDir dir("inbox-retention");
  const std::string path = dir.Sub("db");
  auto db = OpenDb(path);
  PartnerInbox inbox(*db, kPeriod);
  CaseTexts a("a"), b("b");
  REQUIRE(inbox.StoreNew({ArrivalOf("PER-A", a), ArrivalOf("PER-B", b)}, kStartMs).ok());
  REQUIRE(inbox.ApplyUpdate("PER-A", wire::ACKNOWLEDGED, std::nullopt, "caf", kStartMs + 1).ok());
  REQUIRE(inbox.RecordQuestion("PER-A", wire::INFO_REQUESTED, a.question.text, "caf",
                               kStartMs + 2)
              .ok());
  REQUIRE(*inbox.StoreNotice(Notice(3, "PER-A", a.answer.text), kStartMs + 3));
  REQUIRE(*inbox.StoreNotice(Breach(4, "PER-A"), kStartMs + 4));
  REQUIRE(*inbox.StoreNotice(Notice(5, "PER-B", b.answer.text), kStartMs + 5));
  CHECK(Stored(inbox, "PER-A").summary().personal_data_erase_at_ms() == 0);  // acked only

  // The broker accepted the reply: the case has left the partner's hands.
  const int64_t answered_at = kStartMs + 60'000;
  REQUIRE(inbox.ApplyUpdate("PER-A", wire::ANSWERED, a.reply.text, "caf", answered_at).ok());
  wire::CaseView a_answered = Stored(inbox, "PER-A");
  CHECK(a_answered.reply_text() == a.reply.text);
  CHECK(a_answered.summary().answered_at_ms() == answered_at);
  CHECK(a_answered.summary().personal_data_erase_at_ms() == ErasedAt(answered_at));
  CHECK(Stored(inbox, "PER-B").summary().personal_data_erase_at_ms() == 0);

  // Control: every planted string is in the files now, so the checks below can fail.
  for (const Marker* marker : a.All()) {
    CHECK_MESSAGE(!FilesContaining(path, marker->text).empty(),
                  marker->text << " is not in the files before the erasure");
  }

  auto early = inbox.DueForErasure(ErasedAt(answered_at) - 1);
  REQUIRE(early.ok());
  CHECK(early->empty());
  auto due = inbox.DueForErasure(ErasedAt(answered_at));
  REQUIRE(due.ok());
  REQUIRE(due->size() == 1);
  CHECK((*due)[0].case_id == "PER-A");
  auto erasure = inbox.ErasePersonalData(*due);
  REQUIRE_MESSAGE(erasure.ok(), erasure.status().ToString());
  CHECK(erasure->cases == 1);
  CHECK(*inbox.CompactionOwed());

  wire::CaseView a_erased = Stored(inbox, "PER-A");
  const auto& summary = a_erased.summary();
  CHECK(summary.personal_data_erased());
  CHECK(summary.state() == wire::ANSWERED);
  CHECK(summary.contact_point() == "mairie-test");
  CHECK(summary.category() == "family-benefits");
  CHECK(summary.deadline_ms() == kStartMs + 86'400'000);
  CHECK(summary.answered_at_ms() == answered_at);
  CHECK(summary.subject().empty());
  CHECK(a_erased.body().empty());
  CHECK(a_erased.citizen_name().empty());
  CHECK(a_erased.reply_text().empty());
  CHECK(MarkersIn(a_erased.SerializeAsString(), a).empty());
  REQUIRE(a_erased.timeline_size() == a_answered.timeline_size());
  for (int i = 0; i < a_erased.timeline_size(); ++i) {
    const auto& event = a_erased.timeline(i);
    CHECK(event.kind() == a_answered.timeline(i).kind());
    if (event.kind() == "SLA_BREACH") CHECK_FALSE(event.detail().empty());
  }
  // The stored answer notice lost its text; the broker's alert text and B's notice stay.
  const std::string notices = StoredNotices(*db);
  CHECK(MarkersIn(notices, a).empty());
  CHECK(notices.find(b.answer.text) != std::string::npos);
  CHECK(notices.find("has lapsed") != std::string::npos);
  wire::CaseView b_view = Stored(inbox, "PER-B");
  CHECK(b_view.body() == b.body.text);
  CHECK_FALSE(b_view.summary().personal_data_erased());
  // The listing shows the skeleton.
  auto newest = inbox.Newest(10);
  REQUIRE(newest.ok());
  REQUIRE(newest->size() == 2);
  CHECK((*newest)[0].summary().subject().empty());

  // Once only.
  auto later = inbox.DueForErasure(ErasedAt(answered_at) + 86'400'000);
  REQUIRE(later.ok());
  CHECK(later->empty());

  // Late news does not bring anything back.
  REQUIRE(*inbox.StoreNotice(Notice(6, "PER-A", a.answer.text), ErasedAt(answered_at) + 1));
  CHECK(MarkersIn(Stored(inbox, "PER-A").SerializeAsString(), a).empty());
  CHECK(MarkersIn(StoredNotices(*db), a).empty());
  REQUIRE(inbox.ApplyUpdate("PER-A", wire::CLOSED, a.reply.text, "caf", ErasedAt(answered_at) + 2)
              .ok());
  CHECK(Stored(inbox, "PER-A").reply_text().empty());
  CHECK(Stored(inbox, "PER-A").summary().personal_data_erase_at_ms() == ErasedAt(answered_at));

  // The files: once flushed and compacted, no piece of A's strings is left; B's still are.
  Compact(*db, erasure->ranges);
  for (const Marker* marker : a.All()) {
    auto left = FilesWithAnyPiece(path, *marker);
    CHECK_MESSAGE(left.empty(), marker->text << ": " << JoinNames(left));
  }
  CHECK_MESSAGE(!FilesWithAnyPiece(path, b.body).empty(), "B's data should still be on disk");
  REQUIRE(inbox.ClearCompactionOwed().ok());
  CHECK_FALSE(*inbox.CompactionOwed());
}

TEST_CASE("a case closed or cancelled by the broker's answer is dated; older answers are indexed") {
  TempDir dir("inbox-retention-dates");
  const std::string path = dir.Sub("db");
  CaseTexts c("c"), d("d");
  {
    // An older gateway: D was answered, never dated.
    auto db = OpenDb(path);
    PartnerInbox inbox(*db, kPeriod);
    REQUIRE(inbox.StoreNew({ArrivalOf("PER-D", d)}, kStartMs).ok());
    wire::CaseView view = Stored(inbox, "PER-D");
    view.mutable_summary()->set_state(wire::ANSWERED);
    view.set_reply_text(d.reply.text);
    auto* event = view.add_timeline();
    event->set_kind("ANSWERED");
    event->set_at_ms(kStartMs + 500);
    event->set_state_after(wire::ANSWERED);
    rocksdb::WriteBatch batch;
    batch.Put(db->Family(kInboxFamily), "cPER-D", view.SerializeAsString());
    REQUIRE(db->Write(batch).ok());
  }
  auto db = OpenDb(path);
  PartnerInbox inbox(*db, kPeriod);
  REQUIRE(inbox.IndexAnsweredCases(kStartMs + 9000).ok());
  CHECK(Stored(inbox, "PER-D").summary().personal_data_erase_at_ms() == ErasedAt(kStartMs + 500));
  REQUIRE(inbox.IndexAnsweredCases(kStartMs + 9000).ok());

  REQUIRE(inbox.StoreNew({ArrivalOf("PER-C", c)}, kStartMs).ok());
  REQUIRE(inbox.ApplyUpdate("PER-C", wire::CANCELLED, std::nullopt, "caf", kStartMs + 100).ok());
  CHECK(Stored(inbox, "PER-C").summary().personal_data_erase_at_ms() == ErasedAt(kStartMs + 100));
  CHECK(Stored(inbox, "PER-C").summary().answered_at_ms() == 0);

  auto due = inbox.DueForErasure(ErasedAt(kStartMs + 500));
  REQUIRE(due.ok());
  REQUIRE(due->size() == 2);
  CHECK((*due)[0].case_id == "PER-C");  // soonest first
  CHECK((*due)[1].case_id == "PER-D");
  auto limited = inbox.DueForErasure(ErasedAt(kStartMs + 500), 1);
  REQUIRE(limited.ok());
  CHECK(limited->size() == 1);
  auto erasure = inbox.ErasePersonalData(*due);
  REQUIRE(erasure.ok());
  CHECK(erasure->cases == 2);
  CHECK(MarkersIn(Stored(inbox, "PER-C").SerializeAsString(), c).empty());
  CHECK(MarkersIn(Stored(inbox, "PER-D").SerializeAsString(), d).empty());
  CHECK(inbox.DueForErasure(INT64_MAX)->empty());
}

}  // namespace aplus
