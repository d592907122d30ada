#include <doctest/doctest.h>

#include "store/broker_store.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {
records::CaseRecord MakeCase(const std::string& id, wire::CaseState state) {
  records::CaseRecord record;
  record.mutable_summary()->set_case_id(id);
  record.mutable_summary()->set_state(state);
  record.mutable_summary()->set_contact_point("mairie-berdhuis");
  return record;
}
}  // namespace

TEST_CASE("pending writes are visible before commit and durable after reopen") {
  testing::TempDir dir("store");
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    auto& s = **store;
    CHECK(s.NextCaseNumber() == 0);
    CHECK(s.NextCaseNumber() == 1);
    s.PutCase(MakeCase("PER-AAAA-AAAA", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    wire::Event event;
    event.set_sequence(0);
    event.set_kind("SUBMITTED");
    s.PutEvent("PER-AAAA-AAAA", event);
    records::DedupEntry dedup;
    dedup.set_case_id("PER-AAAA-AAAA");
    s.PutDedup("cp/mairie-berdhuis", "k1", dedup);
    s.IndexCaseForContactPoint("mairie-berdhuis", "PER-AAAA-AAAA");
    records::QueueItem item;
    item.set_case_id("PER-AAAA-AAAA");
    s.PutQueueItem("partner/msa", 7, item);
    // Visible to reads of the same turn before the fsync.
    REQUIRE(s.GetCase("PER-AAAA-AAAA").ok());
    CHECK(s.GetCase("PER-AAAA-AAAA")->has_value());
    CHECK((*s.GetDedup("cp/mairie-berdhuis", "k1"))->case_id() == "PER-AAAA-AAAA");
    CHECK(s.GetEvents("PER-AAAA-AAAA")->size() == 1);
    CHECK(s.HasPendingWrites());
    REQUIRE(s.Commit().ok());
    CHECK_FALSE(s.HasPendingWrites());
  }
  auto reopened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(reopened.ok());
  auto& s = **reopened;
  CHECK(s.case_counter() == 2);
  CHECK(s.state_counts().at(wire::SUBMITTED) == 1);
  auto record = s.GetCase("PER-AAAA-AAAA");
  REQUIRE(record.ok());
  REQUIRE(record->has_value());
  CHECK((*record)->summary().contact_point() == "mairie-berdhuis");
  CHECK(s.GetEvents("PER-AAAA-AAAA")->at(0).kind() == "SUBMITTED");
  CHECK(s.ListCaseIds("mairie-berdhuis", "", 10) == std::vector<std::string>{"PER-AAAA-AAAA"});
  auto queues = s.ScanQueues();
  REQUIRE(queues.count("partner/msa") == 1);
  CHECK(queues["partner/msa"].depth == 1);
  CHECK(queues["partner/msa"].next_sequence == 8);
  CHECK(s.ReadQueue("partner/msa", 1, 10).at(0).sequence == 7);
}

TEST_CASE("uncommitted writes vanish with the process, state counts follow transitions") {
  testing::TempDir dir("store-uncommitted");
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    auto& s = **store;
    s.PutCase(MakeCase("PER-BBBB-BBBB", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    REQUIRE(s.Commit().ok());
    s.PutCase(MakeCase("PER-BBBB-BBBB", wire::DELIVERED), wire::SUBMITTED);
    CHECK(s.state_counts().at(wire::DELIVERED) == 1);
    CHECK(s.state_counts().at(wire::SUBMITTED) == 0);
    s.PutCase(MakeCase("PER-CCCC-CCCC", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    // Not committed: dropped when the store closes.
  }
  auto reopened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(reopened.ok());
  CHECK((*reopened)->state_counts().at(wire::SUBMITTED) == 1);
  CHECK_FALSE((*reopened)->GetCase("PER-CCCC-CCCC")->has_value());
  CHECK((*(*reopened)->GetCase("PER-BBBB-BBBB"))->summary().state() == wire::SUBMITTED);
}

TEST_CASE("a database directory that cannot be opened is an error value") {
  auto store = BrokerStore::Open("/proc/aplus-cannot-exist/db");
  CHECK_FALSE(store.ok());
  CHECK(store.status().code() == wire::UNAVAILABLE);
}
