// Retention of the agent gateway's local case cache: a case that ended is dated (the broker's
// dates preferred) and its personal data erased once the period is over, in the cached view
// and in the mail items, exactly once; nothing brings it back; and after the compaction the
// erased strings are in no file of the database directory (read raw, before as a control).
#include "agent-gateway/local_case_cache.h"

#include <doctest/doctest.h>

#include <atomic>
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

constexpr int64_t kStartMs = 1'800'000'000'000;  // January 2027
const RetentionPeriod kPeriod{30, RetentionPeriod::Unit::kDays};

class FakeClock final : public Clock {
 public:
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }

 private:
  std::atomic<int64_t> now_ms_{kStartMs};
};

int64_t ErasedAt(int64_t ended_at_ms) {
  return AddRetentionPeriod(ended_at_ms, kPeriod, sla::TimeZone::Paris());
}

std::unique_ptr<RocksDb> OpenDb(const std::string& path) {
  auto db = RocksDb::Open(path, AgentGatewayFamilies());
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

// Every free text of one case, each a unique marker.
struct CaseTexts {
  explicit CaseTexts(const std::string& label)
      : subject(MakeMarker(label + "-subject")),
        body(MakeMarker(label + "-body")),
        citizen(MakeMarker(label + "-citizen")),
        note(MakeMarker(label + "-note")),
        question(MakeMarker(label + "-question")),
        reply(MakeMarker(label + "-reply")),
        reason(MakeMarker(label + "-reason")) {}
  std::vector<const Marker*> All() const {
    return {&subject, &body, &citizen, &note, &question, &reply, &reason};
  }
  Marker subject, body, citizen, note, question, reply, reason;
};

// The case as the broker accepted it, cached under `local_ref`.
void Accept(LocalCaseCache& cache, const std::string& case_id, const std::string& local_ref,
            const CaseTexts& texts) {
  wire::Submit submit;
  submit.set_agent("agent-test-1");
  submit.set_partner("caf");
  submit.set_category("family-benefits");
  submit.set_subject(texts.subject.text);
  submit.set_body(texts.body.text);
  submit.set_citizen_name(texts.citizen.text);
  wire::Envelope answer;
  answer.mutable_accepted()->set_case_id(case_id);
  answer.mutable_accepted()->set_state(wire::SUBMITTED);
  answer.mutable_accepted()->set_deadline_ms(kStartMs + 86'400'000);
  REQUIRE(cache.RecordSubmitAnswer(local_ref, submit, kStartMs, answer).ok());
}

wire::Delivery Mail(uint64_t delivery_id, const std::string& case_id, wire::MailItem::Kind kind,
                    const std::string& text, wire::CaseState state) {
  wire::Delivery delivery;
  delivery.set_queue("mailbox/mairie-test");
  delivery.set_delivery_id(delivery_id);
  delivery.set_attempt(1);
  auto* mail = delivery.mutable_mail();
  mail->set_case_id(case_id);
  mail->set_kind(kind);
  mail->set_partner("caf");
  mail->set_text(text);
  mail->set_at_ms(kStartMs + static_cast<int64_t>(delivery_id) * 1000);
  mail->set_state(state);
  return delivery;
}

wire::Delivery Warning(uint64_t delivery_id, const std::string& case_id) {
  wire::Delivery delivery;
  delivery.set_queue("mailbox/mairie-test");
  delivery.set_delivery_id(delivery_id);
  auto* alert = delivery.mutable_alert();
  alert->set_alert_id(case_id + "-w");
  alert->set_kind(wire::Alert::WARNING);
  alert->set_case_id(case_id);
  alert->set_partner("caf");
  alert->set_raised_at_ms(kStartMs + static_cast<int64_t>(delivery_id) * 1000);
  alert->set_text("case " + case_id + " (caf): the reply window is about to lapse");
  return delivery;
}

wire::CaseView Cached(const LocalCaseCache& cache, const std::string& case_id) {
  auto found = cache.FindCase(case_id);
  REQUIRE_MESSAGE(found.ok(), found.status().ToString());
  REQUIRE(found->has_value());
  return **found;
}

// The markers of `texts` found in `bytes` (a serialized record).
std::vector<std::string> MarkersIn(const std::string& bytes, const CaseTexts& texts) {
  std::vector<std::string> found;
  for (const Marker* marker : texts.All()) {
    if (bytes.find(marker->text) != std::string::npos) found.push_back(marker->text);
  }
  return found;
}

std::string Serialized(const std::vector<wire::Delivery>& items) {
  std::string bytes;
  for (const auto& item : items) bytes += item.SerializeAsString();
  return bytes;
}

// Flushes and compacts `ranges` the way the gateway does, and waits for it.
void Compact(RocksDb& db, std::vector<KeyRange> ranges) {
  PurgeCompactor compactor(db, 0);
  compactor.Request(1, std::move(ranges));
  for (int i = 0; i < 500 && compactor.completed() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(compactor.completed() == 1);
}

}  // namespace

TEST_CASE("a closed case's personal data leaves the cache once due, the files included") {
  TempDir dir("cache-retention");
  const std::string path = dir.Sub("db");
  auto db = OpenDb(path);
  FakeClock clock;
  LocalCaseCache cache(*db, clock, kPeriod);
  CaseTexts a("a"), b("b");
  Accept(cache, "PER-A", "LOC-1", a);
  Accept(cache, "PER-B", "LOC-2", b);
  auto stored = cache.StoreDeliveries({
      Mail(1, "PER-A", wire::MailItem::ACKNOWLEDGED, a.note.text, wire::ACKNOWLEDGED),
      Mail(2, "PER-A", wire::MailItem::INFO_REQUESTED, a.question.text, wire::INFO_REQUESTED),
      Warning(3, "PER-A"),
      Mail(4, "PER-A", wire::MailItem::TRANSFERRED, a.reason.text, wire::TRANSFERRED),
      Mail(5, "PER-A", wire::MailItem::REPLY, a.reply.text, wire::ANSWERED),
      Mail(6, "PER-B", wire::MailItem::REPLY, b.reply.text, wire::ANSWERED),
  });
  REQUIRE(stored.ok());
  CHECK(*stored == 6);

  // The contact point closes A: the cache dates it.
  const int64_t closed_at = kStartMs + 3'600'000;
  clock.Set(closed_at);
  wire::CaseUpdated closed;
  closed.set_case_id("PER-A");
  closed.set_state(wire::CLOSED);
  REQUIRE(cache.RecordCaseUpdated(closed).ok());
  wire::CaseView a_closed = Cached(cache, "PER-A");
  CHECK(a_closed.summary().ended_at_ms() == closed_at);
  CHECK(a_closed.summary().personal_data_erase_at_ms() == ErasedAt(closed_at));
  CHECK_FALSE(a_closed.summary().personal_data_erased());
  CHECK(Cached(cache, "PER-B").summary().personal_data_erase_at_ms() == 0);  // still open

  // Control: every planted string is in the files now, so the checks below can fail.
  for (const CaseTexts* texts : {&a, &b}) {
    for (const Marker* marker : texts->All()) {
      if (texts == &b && marker != &b.subject && marker != &b.body && marker != &b.citizen &&
          marker != &b.reply) {
        continue;  // not planted for B
      }
      CHECK_MESSAGE(!FilesContaining(path, marker->text).empty(),
                    marker->text << " is not in the files before the erasure");
    }
  }

  // Not before its time.
  clock.Set(ErasedAt(closed_at) - 1);
  auto early = cache.ErasePersonalDataDue();
  REQUIRE(early.ok());
  CHECK(early->cases == 0);
  CHECK(early->ranges.empty());
  CHECK(Cached(cache, "PER-A").body() == a.body.text);

  clock.Set(ErasedAt(closed_at));
  auto erasure = cache.ErasePersonalDataDue();
  REQUIRE_MESSAGE(erasure.ok(), erasure.status().ToString());
  CHECK(erasure->cases == 1);
  CHECK_FALSE(erasure->more);
  CHECK(*cache.CompactionOwed());

  // A is a skeleton: ids, parties, dates, state, the kinds of events, the broker's own words.
  wire::CaseView a_erased = Cached(cache, "PER-A");
  const auto& summary = a_erased.summary();
  CHECK(summary.personal_data_erased());
  CHECK(summary.state() == wire::CLOSED);
  CHECK(summary.case_id() == "PER-A");
  CHECK(summary.local_ref() == "LOC-1");
  CHECK(summary.agent() == "agent-test-1");
  CHECK(summary.category() == "family-benefits");
  CHECK(summary.submitted_at_ms() == kStartMs);
  CHECK(summary.ended_at_ms() == closed_at);
  CHECK(summary.subject().empty());
  CHECK(a_erased.body().empty());
  CHECK(a_erased.citizen_name().empty());
  CHECK(a_erased.reply_text().empty());
  CHECK(a_erased.question().empty());
  CHECK(MarkersIn(a_erased.SerializeAsString(), a).empty());
  REQUIRE(a_erased.timeline_size() == a_closed.timeline_size());
  for (int i = 0; i < a_erased.timeline_size(); ++i) {
    const auto& event = a_erased.timeline(i);
    CHECK(event.kind() == a_closed.timeline(i).kind());
    if (event.kind() == "SLA_WARNING") {
      CHECK(event.detail() == a_closed.timeline(i).detail());
      CHECK_FALSE(event.detail().empty());
    } else {
      CHECK_MESSAGE(event.detail().empty(), event.kind());
    }
  }
  auto a_mailbox = cache.Mailbox("PER-A");
  REQUIRE(a_mailbox.size() == 5);
  for (const auto& item : a_mailbox) {
    if (item.has_mail()) CHECK(item.mail().text().empty());
    if (item.has_alert()) CHECK_FALSE(item.alert().text().empty());
  }
  // B is open: untouched.
  wire::CaseView b_view = Cached(cache, "PER-B");
  CHECK_FALSE(b_view.summary().personal_data_erased());
  CHECK(b_view.body() == b.body.text);
  CHECK(b_view.reply_text() == b.reply.text);
  CHECK(cache.Mailbox("PER-B")[0].mail().text() == b.reply.text);
  auto summaries = cache.ListCases("", 10);
  REQUIRE(summaries.size() == 2);
  CHECK(summaries[0].subject().empty());
  CHECK(summaries[1].subject() == b.subject.text);

  // Once only.
  clock.Set(ErasedAt(closed_at) + 86'400'000);
  auto again = cache.ErasePersonalDataDue();
  REQUIRE(again.ok());
  CHECK(again->cases == 0);

  // Nothing brings the data back: a stale view of the broker's, a listing, a late mail item.
  wire::CaseView stale = a_closed;
  stale.mutable_summary()->clear_personal_data_erase_at_ms();
  auto refreshed = cache.RecordCaseView(stale);
  REQUIRE(refreshed.ok());
  CHECK(refreshed->summary().personal_data_erased());
  CHECK(MarkersIn(refreshed->SerializeAsString(), a).empty());
  REQUIRE(cache.RecordSummaries({a_closed.summary()}).ok());
  auto late = cache.StoreDeliveries(
      {Mail(7, "PER-A", wire::MailItem::REPLY, a.reply.text, wire::CLOSED)});
  REQUIRE(late.ok());
  CHECK(*late == 1);
  wire::CaseView a_after = Cached(cache, "PER-A");
  CHECK(a_after.summary().personal_data_erased());
  CHECK(a_after.summary().personal_data_erase_at_ms() == ErasedAt(closed_at));
  CHECK(MarkersIn(a_after.SerializeAsString(), a).empty());
  CHECK(MarkersIn(Serialized(cache.Mailbox("PER-A")), a).empty());
  CHECK(cache.Mailbox("PER-A").size() == 6);

  // The files: once flushed and compacted, no piece of A's strings is left; B's still are.
  Compact(*db, erasure->ranges);
  for (const Marker* marker : a.All()) {
    auto left = FilesWithAnyPiece(path, *marker);
    CHECK_MESSAGE(left.empty(), marker->text << ": " << JoinNames(left));
  }
  CHECK_MESSAGE(!FilesWithAnyPiece(path, b.body).empty(), "B's data should still be on disk");
  REQUIRE(cache.ClearCompactionOwed().ok());
  CHECK_FALSE(*cache.CompactionOwed());
}

TEST_CASE("the broker's dates win; a case learnt ended from a view, a listing or a mail is dated") {
  TempDir dir("cache-retention-dates");
  auto db = OpenDb(dir.Sub("db"));
  FakeClock clock;
  LocalCaseCache cache(*db, clock, kPeriod);
  CaseTexts c("c"), d("d"), e("e"), f("f");
  Accept(cache, "PER-C", "LOC-1", c);
  Accept(cache, "PER-D", "LOC-2", d);
  Accept(cache, "PER-E", "LOC-3", e);

  // The broker's view carries its dates: they are kept, also when an estimate came first.
  wire::CaseUpdated cancelled;
  cancelled.set_case_id("PER-C");
  cancelled.set_state(wire::CANCELLED);
  clock.Set(kStartMs + 5000);
  REQUIRE(cache.RecordCaseUpdated(cancelled).ok());
  CHECK(Cached(cache, "PER-C").summary().personal_data_erase_at_ms() == ErasedAt(kStartMs + 5000));
  wire::CaseView broker_view = Cached(cache, "PER-C");
  broker_view.mutable_summary()->set_ended_at_ms(kStartMs + 4000);
  broker_view.mutable_summary()->set_personal_data_erase_at_ms(kStartMs + 7000);
  REQUIRE(cache.RecordCaseView(broker_view).ok());
  CHECK(Cached(cache, "PER-C").summary().ended_at_ms() == kStartMs + 4000);
  CHECK(Cached(cache, "PER-C").summary().personal_data_erase_at_ms() == kStartMs + 7000);
  // A later answer without dates does not move them.
  clock.Set(kStartMs + 6000);
  REQUIRE(cache.RecordCaseUpdated(cancelled).ok());
  CHECK(Cached(cache, "PER-C").summary().personal_data_erase_at_ms() == kStartMs + 7000);

  // A listing says D was closed (no dates: an older broker): dated now.
  wire::CaseSummary listed = Cached(cache, "PER-D").summary();
  listed.set_state(wire::CLOSED);
  REQUIRE(cache.RecordSummaries({listed}).ok());
  CHECK(Cached(cache, "PER-D").summary().ended_at_ms() == kStartMs + 6000);
  CHECK(Cached(cache, "PER-D").summary().personal_data_erase_at_ms() == ErasedAt(kStartMs + 6000));
  // A mail item says E was cancelled: dated by the mail.
  REQUIRE(cache.StoreDeliveries({Mail(9, "PER-E", wire::MailItem::NOTICE, e.note.text,
                                      wire::CANCELLED)})
              .ok());
  CHECK(Cached(cache, "PER-E").summary().ended_at_ms() == kStartMs + 9000);

  // The broker erased F before the cache knew it ended: its mail items still go at the due time.
  wire::CaseView f_view;
  f_view.mutable_summary()->set_case_id("PER-F");
  f_view.mutable_summary()->set_state(wire::CLOSED);
  REQUIRE(cache.StoreDeliveries(
                   {Mail(10, "PER-F", wire::MailItem::REPLY, f.reply.text, wire::ANSWERED)})
              .ok());
  f_view.mutable_summary()->set_ended_at_ms(kStartMs + 5000);
  f_view.mutable_summary()->set_personal_data_erase_at_ms(kStartMs + 7000);
  f_view.mutable_summary()->set_personal_data_erased(true);
  REQUIRE(cache.RecordCaseView(f_view).ok());

  clock.Set(kStartMs + 7000);
  auto erasure = cache.ErasePersonalDataDue();
  REQUIRE(erasure.ok());
  CHECK(erasure->cases == 2);  // C and F; D and E later
  CHECK(Cached(cache, "PER-C").summary().personal_data_erased());
  CHECK(Cached(cache, "PER-C").body().empty());
  CHECK(cache.Mailbox("PER-F")[0].mail().text().empty());
  CHECK(Cached(cache, "PER-D").body() == d.body.text);
  clock.Set(ErasedAt(kStartMs + 9000));
  erasure = cache.ErasePersonalDataDue();
  REQUIRE(erasure.ok());
  CHECK(erasure->cases == 2);
  CHECK(Cached(cache, "PER-D").summary().personal_data_erased());
  CHECK(Cached(cache, "PER-E").summary().personal_data_erased());
  CHECK(cache.Mailbox("PER-E")[0].mail().text().empty());
}

TEST_CASE("cases cached before the retention index existed are dated and erased too") {
  TempDir dir("cache-retention-upgrade");
  const std::string path = dir.Sub("db");
  CaseTexts g("g");
  wire::CaseView old_view;
  old_view.mutable_summary()->set_case_id("PER-G");
  old_view.mutable_summary()->set_state(wire::CLOSED);
  old_view.mutable_summary()->set_subject(g.subject.text);
  old_view.set_body(g.body.text);
  auto* event = old_view.add_timeline();
  event->set_kind("CLOSED");
  event->set_at_ms(kStartMs + 2000);
  event->set_state_after(wire::CLOSED);
  {
    // What an older gateway left: a closed case, no dates, no index.
    auto db = OpenDb(path);
    rocksdb::WriteBatch batch;
    batch.Put(db->Family(kCasesFamily), "PER-G", old_view.SerializeAsString());
    REQUIRE(db->Write(batch).ok());
  }
  auto db = OpenDb(path);
  FakeClock clock;
  clock.Set(kStartMs + 10'000);
  LocalCaseCache cache(*db, clock, kPeriod);
  REQUIRE(cache.IndexEndedCases().ok());
  CHECK(Cached(cache, "PER-G").summary().personal_data_erase_at_ms() == ErasedAt(kStartMs + 2000));
  REQUIRE(cache.IndexEndedCases().ok());  // once only: nothing changes
  clock.Set(ErasedAt(kStartMs + 2000));
  auto erasure = cache.ErasePersonalDataDue();
  REQUIRE(erasure.ok());
  CHECK(erasure->cases == 1);
  CHECK(Cached(cache, "PER-G").body().empty());
  CHECK(Cached(cache, "PER-G").summary().subject().empty());
}

}  // namespace aplus
