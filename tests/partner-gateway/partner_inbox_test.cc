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

}  // namespace aplus
