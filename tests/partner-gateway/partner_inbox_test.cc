#include "partner-gateway/partner_inbox.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>

namespace aplus {
namespace {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/aplus-partner-inbox-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<RocksDb> OpenDb(const TempDir& dir) {
  auto db = RocksDb::Open(dir.path() + "/db", {kInboxFamily});
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

PartnerInbox::Arrival ArrivalOf(const std::string& case_id, uint32_t attempt = 1) {
  PartnerInbox::Arrival arrival;
  arrival.escalation.set_case_id(case_id);
  arrival.escalation.set_subject("subject of " + case_id);
  arrival.escalation.set_body("body");
  arrival.escalation.set_deadline_ms(42);
  arrival.attempt = attempt;
  return arrival;
}

std::vector<std::string> Ids(const std::vector<wire::CaseView>& views) {
  std::vector<std::string> ids;
  for (const auto& view : views) ids.push_back(view.summary().case_id());
  return ids;
}

}  // namespace

TEST_CASE(
    "stored escalations are found, listed newest last, and keep their order across a "
    "reopen") {
  TempDir dir;
  {
    auto db = OpenDb(dir);
    PartnerInbox inbox(*db);
    CHECK(inbox.Newest(10)->empty());
    REQUIRE(inbox.StoreNew({ArrivalOf("PER-A"), ArrivalOf("PER-B", 3)}, 1000).ok());
    auto found = inbox.Find("PER-B");
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    const wire::CaseView& view = **found;
    CHECK(view.summary().state() == wire::DELIVERED);
    CHECK(view.summary().delivery_attempts() == 3);
    CHECK(view.summary().deadline_ms() == 42);
    REQUIRE(view.timeline_size() == 1);
    CHECK(view.timeline(0).at_ms() == 1000);
    CHECK(PartnerInbox::EscalationOf(view).SerializeAsString() ==
          ArrivalOf("PER-B").escalation.SerializeAsString());
    CHECK_FALSE(inbox.Find("PER-C")->has_value());
  }
  auto db = OpenDb(dir);
  PartnerInbox inbox(*db);
  REQUIRE(inbox.StoreNew({ArrivalOf("PER-0")}, 2000).ok());  // sorts first by id, last by arrival
  CHECK(Ids(*inbox.Newest(10)) == std::vector<std::string>{"PER-A", "PER-B", "PER-0"});
  CHECK(Ids(*inbox.Newest(2)) == std::vector<std::string>{"PER-B", "PER-0"});
}

TEST_CASE("pages in arrival order are stable under new arrivals, filter by state, and write "
          "the caller's extra in the same batch") {
  TempDir dir;
  auto db = OpenDb(dir);
  PartnerInbox inbox(*db);
  bool extra_called = false;
  REQUIRE(inbox
              .StoreNew({ArrivalOf("PER-C"), ArrivalOf("PER-A"), ArrivalOf("PER-B")}, 1000,
                        [&](rocksdb::WriteBatch& batch) {
                          extra_called = true;
                          batch.Put(db->Family(kInboxFamily), "zz-extra", "1");
                        })
              .ok());
  CHECK(extra_called);
  CHECK(db->Get(db->Family(kInboxFamily), "zz-extra")->has_value());
  auto first = inbox.ListAfter(0, 2, std::nullopt);
  REQUIRE(first.ok());
  CHECK(Ids(first->views) == std::vector<std::string>{"PER-C", "PER-A"});
  CHECK(first->more);
  // A new arrival does not shift the next page.
  REQUIRE(inbox.StoreNew({ArrivalOf("PER-0")}, 2000).ok());
  auto second = inbox.ListAfter(first->next_after, 2, std::nullopt);
  REQUIRE(second.ok());
  CHECK(Ids(second->views) == std::vector<std::string>{"PER-B", "PER-0"});
  CHECK_FALSE(second->more);
  REQUIRE(inbox.ApplyUpdate("PER-A", wire::ANSWERED, "ok", "partner", 3000).ok());
  auto answered = inbox.ListAfter(0, 10, wire::ANSWERED);
  REQUIRE(answered.ok());
  CHECK(Ids(answered->views) == std::vector<std::string>{"PER-A"});
}

TEST_CASE("an update records the broker's state, the reply and an event") {
  TempDir dir;
  auto db = OpenDb(dir);
  PartnerInbox inbox(*db);
  REQUIRE(inbox.StoreNew({ArrivalOf("PER-A")}, 1000).ok());
  REQUIRE(
      inbox.ApplyUpdate("PER-A", wire::ACKNOWLEDGED, std::nullopt, "france-travail", 2000).ok());
  REQUIRE(inbox.ApplyUpdate("PER-A", wire::ANSWERED, "c'est fait", "france-travail", 3000).ok());
  auto view = **inbox.Find("PER-A");
  CHECK(view.summary().state() == wire::ANSWERED);
  CHECK(view.reply_text() == "c'est fait");
  REQUIRE(view.timeline_size() == 3);
  CHECK(view.timeline(1).kind() == "ACKNOWLEDGED");
  CHECK(view.timeline(2).actor() == "france-travail");
  CHECK(view.timeline(2).sequence() == 2);
  CHECK(inbox.ApplyUpdate("PER-Z", wire::ANSWERED, std::nullopt, "x", 1).code() ==
        wire::UNKNOWN_CASE);
}

TEST_CASE("a notice is applied once; a transfer erases the content, a transfer back lists it once") {
  TempDir dir;
  auto db = OpenDb(dir);
  PartnerInbox inbox(*db);
  auto arrival = ArrivalOf("PER-A");
  arrival.escalation.set_partner("caf");
  arrival.escalation.set_citizen_name("Jeanne Martin");
  REQUIRE(inbox.StoreNew({arrival, ArrivalOf("PER-B")}, 1000).ok());
  REQUIRE(inbox.RecordQuestion("PER-A", wire::INFO_REQUESTED, "Adresse ?", "caf", 1500).ok());
  CHECK((**inbox.Find("PER-A")).question() == "Adresse ?");

  wire::Delivery notice;
  notice.set_queue("partner/caf");
  notice.set_delivery_id(9);
  notice.mutable_mail()->set_case_id("PER-A");
  notice.mutable_mail()->set_kind(wire::MailItem::NOTICE);
  notice.mutable_mail()->set_text("12 rue des Lilas");
  notice.mutable_mail()->set_state(wire::ACKNOWLEDGED);
  auto first = inbox.StoreNotice(notice, 2000);
  REQUIRE(first.ok());
  CHECK(*first);
  auto again = inbox.StoreNotice(notice, 2001);
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  auto view = **inbox.Find("PER-A");
  CHECK(view.summary().state() == wire::ACKNOWLEDGED);
  CHECK(view.question().empty());
  REQUIRE(view.timeline_size() == 3);
  CHECK(view.timeline(2).kind() == "INFO_ANSWERED");
  CHECK(view.timeline(2).detail() == "12 rue des Lilas");
  wire::Delivery nothing;
  nothing.set_queue("partner/caf");
  CHECK(inbox.StoreNotice(nothing, 1).status().code() == wire::INVALID_ARGUMENT);

  REQUIRE(inbox.RecordTransfer("PER-A", wire::TRANSFERRED, "msa", "caf", 3000).ok());
  view = **inbox.Find("PER-A");
  CHECK(view.summary().state() == wire::TRANSFERRED);
  CHECK(view.summary().partner() == "msa");
  CHECK(view.summary().transferred_from() == "caf");
  CHECK(view.summary().deadline_ms() == 42);
  CHECK(view.body().empty());
  CHECK(view.citizen_name().empty());
  CHECK(view.summary().subject().empty());
  CHECK(view.SerializeAsString().find("Lilas") == std::string::npos);
  CHECK(view.SerializeAsString().find("Adresse") == std::string::npos);
  // The stored notice keeps only its place (a redelivery is still recognised).
  auto raw = db->Get(db->Family(kInboxFamily), std::string("dpartner/caf") + std::string(1, '\0') +
                                                   std::string(7, '\0') + "\x09");
  REQUIRE(raw.ok());
  REQUIRE(raw->has_value());
  CHECK((*raw)->find("Lilas") == std::string::npos);
  CHECK_FALSE(*inbox.StoreNotice(notice, 3001));

  PartnerInbox::Arrival back = ArrivalOf("PER-A");
  back.previous = view;
  REQUIRE(inbox.StoreNew({back}, 4000).ok());
  view = **inbox.Find("PER-A");
  CHECK(view.summary().state() == wire::DELIVERED);
  CHECK(view.body() == "body");
  REQUIRE(view.timeline_size() == 5);
  CHECK(view.timeline(4).sequence() == 4);
  CHECK(view.timeline(4).at_ms() == 4000);
  CHECK(Ids(*inbox.Newest(10)) == std::vector<std::string>{"PER-B", "PER-A"});
}

}  // namespace aplus
