// The broker store's audit family: entries in global order per case, durable counter.
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
