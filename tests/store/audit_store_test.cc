// The broker store's audit family and the reads the retention purge relies on: entries in
// global order per case, durable counter, untouched by a rewrite of the case's data; timeline
// rewrites in place; the mail items that carry a text; the durable "compaction owed" mark.
#include <doctest/doctest.h>

#include "store/broker_store.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {

wire::AuditEntry Entry(const std::string& case_id, const std::string& principal,
                       const std::string& action, int64_t at_ms) {
  wire::AuditEntry entry;
  entry.set_case_id(case_id);
  entry.set_role(wire::AGENT_GATEWAY);
  entry.set_principal(principal);
  entry.set_action(action);
  entry.set_at_ms(at_ms);
  return entry;
}

std::vector<std::string> Actions(const std::vector<wire::AuditEntry>& entries) {
  std::vector<std::string> actions;
  for (const auto& entry : entries) actions.push_back(entry.action());
  return actions;
}

records::CaseRecord MakeCase(const std::string& id) {
  records::CaseRecord record;
  record.mutable_summary()->set_case_id(id);
  record.mutable_summary()->set_state(wire::CLOSED);
  record.mutable_summary()->set_subject("Allocation suspendue");
  record.set_body("Jeanne Martin, 12 rue des Lilas");
  return record;
}

}  // namespace

TEST_CASE("audit entries are appended in global order, per case, and survive a reopen") {
  testing::TempDir dir("audit-store");
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    auto& s = **store;
    CHECK(s.AppendAudit(Entry("PER-AAAA-AAAA", "cp/mairie-berdhuis", "submit", 1)) == 1);
    CHECK(s.AppendAudit(Entry("PER-BBBB-BBBB", "cp/mairie-berdhuis", "submit", 2)) == 2);
    CHECK(s.AppendAudit(Entry("PER-AAAA-AAAA", "partner/msa", "deliver", 3)) == 3);
    // Visible before the commit, in order.
    auto pending = s.GetAudit("PER-AAAA-AAAA");
    REQUIRE(pending.ok());
    CHECK(Actions(*pending) == std::vector<std::string>{"submit", "deliver"});
    REQUIRE(s.Commit().ok());
    CHECK(s.AppendAudit(Entry("PER-AAAA-AAAA", "op/operator", "read", 4)) == 4);
    // Committed entries first, then this batch's.
    auto mixed = s.GetAudit("PER-AAAA-AAAA");
    REQUIRE(mixed.ok());
    CHECK(Actions(*mixed) == std::vector<std::string>{"submit", "deliver", "read"});
    REQUIRE(s.Commit().ok());
  }
  auto reopened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(reopened.ok());
  auto& s = **reopened;
  auto entries = s.GetAudit("PER-AAAA-AAAA");
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 3);
  CHECK(entries->at(0).sequence() == 1);
  CHECK(entries->at(1).sequence() == 3);
  CHECK(entries->at(1).principal() == "partner/msa");
  CHECK(entries->at(2).sequence() == 4);
  CHECK(s.GetAudit("PER-BBBB-BBBB")->size() == 1);
  CHECK(s.GetAudit("PER-CCCC-CCCC")->empty());
  // A case id that is a prefix of another one does not see the other's entries.
  CHECK(s.GetAudit("PER-AAAA-AAA")->empty());
  // The counter went on disk with the entries: sequences never repeat after a restart.
  CHECK(s.AppendAudit(Entry("PER-BBBB-BBBB", "cp/mairie-berdhuis", "close", 5)) == 5);
}

TEST_CASE("rewriting a case's data and timeline leaves its audit log as it was") {
  testing::TempDir dir("audit-store-purge");
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  auto& s = **store;
  const std::string id = "PER-DDDD-DDDD";
  s.PutCase(MakeCase(id), wire::STATE_UNSPECIFIED);
  for (uint32_t n = 0; n < 3; ++n) {
    wire::Event event;
    event.set_sequence(n);
    event.set_kind(n == 0 ? "SUBMITTED" : "ACKNOWLEDGED");
    event.set_detail("note " + std::to_string(n));
    s.PutEvent(id, event);
  }
  s.AppendAudit(Entry(id, "cp/mairie-berdhuis", "submit", 1));
  s.AppendAudit(Entry(id, "cp/mairie-berdhuis", "close", 2));
  REQUIRE(s.Commit().ok());

  // The purge: details cleared in place, record erased, one more audit entry.
  auto events = s.GetEvents(id);
  REQUIRE(events.ok());
  for (auto& event : *events) {
    event.clear_detail();
    s.PutEvent(id, event);
  }
  // Read within the batch: rewritten events replace the stored ones, no duplicates.
  auto rewritten = s.GetEvents(id);
  REQUIRE(rewritten.ok());
  REQUIRE(rewritten->size() == 3);
  for (const auto& event : *rewritten) CHECK(event.detail().empty());
  records::CaseRecord erased = MakeCase(id);
  erased.clear_body();
  erased.mutable_summary()->clear_subject();
  erased.mutable_summary()->set_personal_data_erased(true);
  s.PutCase(erased, wire::CLOSED);
  s.AppendAudit(Entry(id, "broker", "erase-personal-data", 3));
  REQUIRE(s.Commit().ok());

  CHECK(s.GetEvents(id)->size() == 3);
  CHECK(s.GetEvents(id)->at(2).kind() == "ACKNOWLEDGED");
  CHECK((*s.GetCase(id))->body().empty());
  auto audit = s.GetAudit(id);
  REQUIRE(audit.ok());
  CHECK(Actions(*audit) == std::vector<std::string>{"submit", "close", "erase-personal-data"});
}

TEST_CASE("the mail items with a text, with this batch's rewrites and deletions") {
  testing::TempDir dir("audit-store-queues");
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  auto& s = **store;
  auto item = [](const std::string& case_id, const std::string& text) {
    records::QueueItem item;
    item.set_case_id(case_id);
    item.mutable_mail()->set_case_id(case_id);
    item.mutable_mail()->set_text(text);
    return item;
  };
  records::QueueItem escalation;
  escalation.set_case_id("PER-CCCC-CCCC");
  s.PutQueueItem("mailbox/mairie-berdhuis", 1, item("PER-AAAA-AAAA", "one"));
  s.PutQueueItem("mailbox/mairie-berdhuis", 2, item("PER-BBBB-BBBB", "other case"));
  s.PutQueueItem("mailbox/mairie-berdhuis", 3, item("PER-AAAA-AAAA", "three"));
  s.PutQueueItem("mailbox/mairie-berdhuis", 4, item("PER-AAAA-AAAA", "four"));
  s.PutQueueItem("mailbox/mairie-berdhuis", 6, escalation);  // no mail: not listed
  // Another queue whose name extends this one's is not read.
  s.PutQueueItem("mailbox/mairie-berdhuis-2", 1, item("PER-AAAA-AAAA", "elsewhere"));
  REQUIRE(s.Commit().ok());
  s.DeleteQueueItem("mailbox/mairie-berdhuis", 3);
  s.PutQueueItem("mailbox/mairie-berdhuis", 4, item("PER-AAAA-AAAA", ""));  // erased: not listed
  s.PutQueueItem("mailbox/mairie-berdhuis", 5, item("PER-AAAA-AAAA", "five, pending"));
  auto found = s.MailItemsWithText("mailbox/mairie-berdhuis");
  REQUIRE(found.ok());
  auto& items = *found;
  REQUIRE(items.size() == 3);
  CHECK(items[0].sequence == 1);
  CHECK(items[0].item.mail().text() == "one");
  CHECK(items[1].sequence == 2);
  CHECK(items[1].item.case_id() == "PER-BBBB-BBBB");
  CHECK(items[2].sequence == 5);
  CHECK(items[2].item.mail().text() == "five, pending");
  CHECK(s.MailItemsWithText("mailbox/nobody")->empty());
}

TEST_CASE("the compaction owed by a purge pass is durable until cleared") {
  testing::TempDir dir("audit-store-owed");
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    CHECK((*store)->purge_compaction_owed() == 0);
    (*store)->SetPurgeCompactionOwed(3);
    CHECK((*store)->purge_compaction_owed() == 3);
    REQUIRE((*store)->Commit().ok());
  }
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    CHECK((*store)->purge_compaction_owed() == 3);
    (*store)->SetPurgeCompactionOwed(0);
    REQUIRE((*store)->Commit().ok());
  }
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  CHECK((*store)->purge_compaction_owed() == 0);
}
