// The cases at risk: the rule (store/cases_at_risk.h) and the per-partner counts the store keeps
// at each PutCase, across commits, restarts and the one count of a store written before them.
#include <doctest/doctest.h>

#include <rocksdb/write_batch.h>

#include "common/case_id.h"
#include "store/broker_store.h"
#include "store/cases_at_risk.h"
#include "store/key_layout.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {

records::CaseRecord Case(const std::string& id, const std::string& partner, wire::CaseState state) {
  records::CaseRecord record;
  record.mutable_summary()->set_case_id(id);
  record.mutable_summary()->set_partner(partner);
  record.mutable_summary()->set_state(state);
  record.mutable_summary()->set_contact_point("mairie-berdhuis");
  return record;
}

records::CaseRecord Warned(records::CaseRecord record) {
  record.mutable_summary()->set_warned(true);
  return record;
}

// What the store holds for `partner` (absent and 0 are the same figure).
uint64_t AtRisk(const BrokerStore& store, const std::string& partner) {
  auto it = store.cases_at_risk().find(partner);
  return it == store.cases_at_risk().end() ? 0 : it->second;
}

records::CaseRecord Stored(BrokerStore& store, const std::string& id) {
  auto record = store.GetCase(id);
  REQUIRE_MESSAGE(record.ok(), record.status().ToString());
  REQUIRE(record->has_value());
  return **record;
}

}  // namespace

TEST_CASE("at risk: warned, not breached, not answered, neither closed nor cancelled") {
  struct Row {
    wire::CaseState state;
    bool warned, breached, answered, at_risk;
  };
  const Row rows[] = {
      {wire::SUBMITTED, false, false, false, false},
      {wire::SUBMITTED, true, false, false, true},
      {wire::DELIVERED, true, false, false, true},
      {wire::ACKNOWLEDGED, true, false, false, true},
      {wire::INFO_REQUESTED, true, false, false, true},  // paused, still at risk
      {wire::TRANSFERRED, true, false, false, true},
      {wire::ACKNOWLEDGED, true, true, false, false},    // breached: counted there instead
      {wire::ANSWERED, true, false, true, false},
      {wire::CLOSED, true, false, true, false},
      {wire::CLOSED, true, false, false, false},
      {wire::CANCELLED, true, false, false, false},
  };
  for (const Row& row : rows) {
    CAPTURE(wire::CaseState_Name(row.state));
    CAPTURE(row.warned);
    CAPTURE(row.breached);
    CAPTURE(row.answered);
    wire::CaseSummary summary;
    summary.set_state(row.state);
    summary.set_warned(row.warned);
    summary.set_breached(row.breached);
    summary.set_answered_at_ms(row.answered ? 1'800'000'000'000 : 0);
    CHECK(IsAtRisk(summary) == row.at_risk);
  }
}

TEST_CASE("the counts follow each change of a case, within a batch and across a restart") {
  testing::TempDir dir("store-at-risk");
  const std::string id = FormatCaseId("PER", 0);
  {
    auto opened = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(opened.ok());
    BrokerStore& store = **opened;
    CHECK(store.NextCaseNumber() == 0);
    store.PutCase(Case(id, "france-travail", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    REQUIRE(store.Commit().ok());
    CHECK(AtRisk(store, "france-travail") == 0);

    // The warning: counted, and the record says where.
    records::CaseRecord read = Stored(store, id);
    store.PutCase(Warned(read), wire::SUBMITTED);
    CHECK(AtRisk(store, "france-travail") == 1);
    CHECK(Stored(store, id).at_risk_partner() == "france-travail");
    // Written again in the same batch from the copy read before the first write (the caller's
    // record does not carry the mark the store set): still counted once.
    store.PutCase(Warned(read), wire::SUBMITTED);
    CHECK(AtRisk(store, "france-travail") == 1);
    REQUIRE(store.Commit().ok());
  }
  {
    auto opened = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(opened.ok());
    BrokerStore& store = **opened;
    CHECK(AtRisk(store, "france-travail") == 1);

    // A transfer clears the warning and changes the partner: uncounted where it was counted.
    records::CaseRecord record = Stored(store, id);
    record.mutable_summary()->set_partner("msa");
    record.mutable_summary()->set_warned(false);
    record.mutable_summary()->set_state(wire::TRANSFERRED);
    store.PutCase(record, wire::SUBMITTED);
    CHECK(AtRisk(store, "france-travail") == 0);
    CHECK(AtRisk(store, "msa") == 0);
    REQUIRE(store.Commit().ok());

    // Warned at the new partner, then paused by a question: at risk there.
    record = Stored(store, id);
    record.mutable_summary()->set_warned(true);
    store.PutCase(record, wire::TRANSFERRED);
    record = Stored(store, id);
    record.mutable_summary()->set_state(wire::INFO_REQUESTED);
    store.PutCase(record, wire::TRANSFERRED);
    REQUIRE(store.Commit().ok());
    CHECK(AtRisk(store, "msa") == 1);

    // A second case of the same partner, then a breach of the first and a reply to the second.
    CHECK(store.NextCaseNumber() == 1);
    const std::string second = FormatCaseId("PER", 1);
    store.PutCase(Warned(Case(second, "msa", wire::DELIVERED)), wire::STATE_UNSPECIFIED);
    CHECK(AtRisk(store, "msa") == 2);
    record = Stored(store, id);
    record.mutable_summary()->set_breached(true);
    store.PutCase(record, wire::INFO_REQUESTED);
    CHECK(AtRisk(store, "msa") == 1);
    REQUIRE(store.Commit().ok());
    record = Stored(store, second);
    record.mutable_summary()->set_state(wire::ANSWERED);
    record.mutable_summary()->set_answered_at_ms(1'800'000'000'000);
    store.PutCase(record, wire::DELIVERED);
    CHECK(AtRisk(store, "msa") == 0);
    CHECK(Stored(store, second).at_risk_partner().empty());
    // Not committed: the process ends with this batch lost.
  }
  auto reopened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(reopened.ok());
  CHECK(AtRisk(**reopened, "msa") == 1);  // the second case, warned; its reply never written
  CHECK(AtRisk(**reopened, "france-travail") == 0);
}

TEST_CASE("a store written before the counters is counted once, at its first open") {
  testing::TempDir dir("store-at-risk-count");
  const std::string path = dir.Sub("db");
  // What an earlier release left: records without the mark, no counters, no `counted` key.
  // One record carries a mark the rule contradicts (a count interrupted midway, then changed).
  {
    auto db = BrokerStore::OpenDatabase(path, RocksDbOptions{});
    REQUIRE(db.ok());
    auto* cases = (*db)->Family(keys::kCases);
    rocksdb::WriteBatch batch;
    auto put = [&](const records::CaseRecord& record) {
      REQUIRE(batch.Put(cases, keys::CaseKey(record.summary().case_id()),
                        record.SerializeAsString()).ok());
    };
    put(Warned(Case(FormatCaseId("PER", 0), "msa", wire::DELIVERED)));
    put(Warned(Case(FormatCaseId("PER", 1), "msa", wire::INFO_REQUESTED)));
    put(Warned(Case(FormatCaseId("PER", 2), "caf", wire::ACKNOWLEDGED)));
    records::CaseRecord breached = Warned(Case(FormatCaseId("PER", 3), "caf", wire::ACKNOWLEDGED));
    breached.mutable_summary()->set_breached(true);
    breached.set_at_risk_partner("caf");
    put(breached);
    put(Case(FormatCaseId("PER", 4), "caf", wire::SUBMITTED));
    put(Warned(Case(FormatCaseId("PER", 5), "caf", wire::CANCELLED)));
    REQUIRE((*db)->Write(batch).ok());
  }
  {
    auto opened = BrokerStore::Open(path);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    BrokerStore& store = **opened;
    CHECK(AtRisk(store, "msa") == 2);
    CHECK(AtRisk(store, "caf") == 1);
    CHECK(Stored(store, FormatCaseId("PER", 0)).at_risk_partner() == "msa");
    CHECK(Stored(store, FormatCaseId("PER", 2)).at_risk_partner() == "caf");
    CHECK(Stored(store, FormatCaseId("PER", 3)).at_risk_partner().empty());
    // From the marks, the next change uncounts where the count was made.
    records::CaseRecord record = Stored(store, FormatCaseId("PER", 2));
    record.mutable_summary()->set_state(wire::CLOSED);
    store.PutCase(record, wire::ACKNOWLEDGED);
    REQUIRE(store.Commit().ok());
    CHECK(AtRisk(store, "caf") == 0);
  }
  // The next open reads the counters and no case: a record changed behind the store's back
  // (warned, without the store's count) is not seen by it.
  {
    auto db = BrokerStore::OpenDatabase(path, RocksDbOptions{});
    REQUIRE(db.ok());
    rocksdb::WriteBatch batch;
    records::CaseRecord warned = Warned(Case(FormatCaseId("PER", 4), "caf", wire::SUBMITTED));
    REQUIRE(batch.Put((*db)->Family(keys::kCases), keys::CaseKey(FormatCaseId("PER", 4)),
                      warned.SerializeAsString()).ok());
    REQUIRE((*db)->Write(batch).ok());
  }
  auto reopened = BrokerStore::Open(path);
  REQUIRE_MESSAGE(reopened.ok(), reopened.status().ToString());
  CHECK(AtRisk(**reopened, "msa") == 2);
  CHECK(AtRisk(**reopened, "caf") == 0);
}

TEST_CASE("an unreadable record is left out of the count, and the store still opens") {
  testing::TempDir dir("store-at-risk-unreadable");
  const std::string path = dir.Sub("db");
  {
    auto db = BrokerStore::OpenDatabase(path, RocksDbOptions{});
    REQUIRE(db.ok());
    auto* cases = (*db)->Family(keys::kCases);
    rocksdb::WriteBatch batch;
    REQUIRE(batch.Put(cases, keys::CaseKey(FormatCaseId("PER", 0)), "\xff\xff not a record").ok());
    records::CaseRecord warned = Warned(Case(FormatCaseId("PER", 1), "msa", wire::DELIVERED));
    REQUIRE(batch.Put(cases, keys::CaseKey(FormatCaseId("PER", 1)), warned.SerializeAsString()).ok());
    REQUIRE((*db)->Write(batch).ok());
  }
  auto opened = BrokerStore::Open(path);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  CHECK(AtRisk(**opened, "msa") == 1);
  // The unreadable record is still there, still an error to whoever reads it.
  auto unreadable = (*opened)->GetCase(FormatCaseId("PER", 0));
  REQUIRE_FALSE(unreadable.ok());
  CHECK(unreadable.status().code() == wire::INTERNAL);
}
