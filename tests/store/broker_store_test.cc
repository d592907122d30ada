#include "store/broker_store.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/case_id.h"
#include "store/case_scanner.h"
#include "store/key_layout.h"
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
  CHECK(*s.ListCaseIds("mairie-berdhuis", "", 10) == std::vector<std::string>{"PER-AAAA-AAAA"});
  auto scanned = s.ScanQueues();
  REQUIRE(scanned.ok());
  auto& queues = *scanned;
  REQUIRE(queues.count("partner/msa") == 1);
  CHECK(queues["partner/msa"].depth == 1);
  CHECK(queues["partner/msa"].next_sequence == 8);
  CHECK(s.ReadQueue("partner/msa", 1, 10)->at(0).sequence == 7);
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

TEST_CASE("each counter is written by the batch that changes it and read back after reopen") {
  // A batch rewrites only the counters it changed: batches that each touch other counters
  // must leave every counter right on disk.
  testing::TempDir dir("store-counters");
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    auto& s = **store;
    CHECK(s.NextCaseNumber() == 0);
    s.PutCase(MakeCase("PER-DDDD-DDDD", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    REQUIRE(s.Commit().ok());
    wire::AuditEntry entry;
    entry.set_case_id("PER-DDDD-DDDD");
    CHECK(s.AppendAudit(entry) == 1);
    REQUIRE(s.Commit().ok());  // the audit counter alone
    s.PutCase(MakeCase("PER-DDDD-DDDD", wire::DELIVERED), wire::SUBMITTED);
    REQUIRE(s.Commit().ok());  // two state counts alone
    CHECK(s.NextCaseNumber() == 1);
    s.PutCase(MakeCase("PER-EEEE-EEEE", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    CHECK(s.NextAlertSequence() == 1);
    REQUIRE(s.Commit().ok());
    CHECK(s.AppendAudit(entry) == 2);
    REQUIRE(s.Commit().ok());
  }
  auto reopened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(reopened.ok());
  auto& s = **reopened;
  CHECK(s.case_counter() == 2);
  CHECK(s.state_counts().at(wire::SUBMITTED) == 1);
  CHECK(s.state_counts().at(wire::DELIVERED) == 1);
  CHECK(s.NextAlertSequence() == 2);
  wire::AuditEntry entry;
  entry.set_case_id("PER-EEEE-EEEE");
  CHECK(s.AppendAudit(entry) == 3);
}

TEST_CASE("a database directory that cannot be opened is an error value") {
  auto store = BrokerStore::Open("/proc/aplus-cannot-exist/db");
  CHECK_FALSE(store.ok());
  CHECK(store.status().code() == wire::UNAVAILABLE);
}

// Finding 7 of issue 8: a failed commit must not leave the batch and the pending maps behind
// (they grew with every later request). Fail-stop: nothing of the failed batch is ever durable
// nor visible, and the failure is sticky (never retried).
TEST_CASE("a failed commit clears the batch and every pending map, and stays failed") {
  testing::TempDir dir("store-failed-commit");
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    auto& s = **store;
    s.PutCase(MakeCase("PER-AAAA-AAAA", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    REQUIRE(s.Commit().ok());

    s.FailNextCommitForTest();
    CHECK(s.NextCaseNumber() == 0);
    s.PutCase(MakeCase("PER-BBBB-BBBB", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    wire::Event event;
    event.set_sequence(0);
    s.PutEvent("PER-BBBB-BBBB", event);
    records::DedupEntry dedup;
    dedup.set_case_id("PER-BBBB-BBBB");
    s.PutDedup("cp/mairie-berdhuis", "k1", dedup);
    records::QueueItem item;
    item.set_case_id("PER-BBBB-BBBB");
    s.PutQueueItem("partner/msa", 1, item);
    s.SetQueueNext("partner/msa", 2);
    wire::Alert alert;
    alert.set_alert_id("PER-BBBB-BBBB/WARNING/1");
    s.PutAlert(alert, true);
    wire::AuditEntry audit;
    audit.set_case_id("PER-BBBB-BBBB");
    s.AppendAudit(audit);
    REQUIRE(s.HasPendingWrites());

    Status failed = s.Commit();
    CHECK(failed.code() == wire::UNAVAILABLE);
    CHECK_FALSE(s.HasPendingWrites());
    CHECK(s.pending_writes() == 0);
    // Nothing of the failed batch is visible any more.
    CHECK_FALSE(s.GetCase("PER-BBBB-BBBB")->has_value());
    CHECK(s.GetEvents("PER-BBBB-BBBB")->empty());
    CHECK_FALSE(s.GetDedup("cp/mairie-berdhuis", "k1")->has_value());
    CHECK_FALSE(s.GetQueueItem("partner/msa", 1)->has_value());
    CHECK_FALSE(s.GetAlert("PER-BBBB-BBBB/WARNING/1")->has_value());
    CHECK(s.GetAudit("PER-BBBB-BBBB")->empty());

    // Sticky: a later batch fails too (never an fsync retried), and is cleared as well.
    s.PutCase(MakeCase("PER-CCCC-CCCC", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    CHECK(s.Commit().code() == wire::UNAVAILABLE);
    CHECK_FALSE(s.HasPendingWrites());
    CHECK_FALSE(s.GetCase("PER-CCCC-CCCC")->has_value());
  }
  auto reopened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(reopened.ok());
  auto& s = **reopened;
  CHECK(s.GetCase("PER-AAAA-AAAA")->has_value());
  CHECK_FALSE(s.GetCase("PER-BBBB-BBBB")->has_value());
  CHECK_FALSE(s.GetCase("PER-CCCC-CCCC")->has_value());
  CHECK(s.case_counter() == 0);
  CHECK(s.state_counts().at(wire::SUBMITTED) == 1);
  CHECK(s.ScanQueues()->count("partner/msa") == 0);
}

namespace {
// Writes `value` under `key` of the meta family of the store at `path`, bypassing the store's
// own encoding (what a bug, a bad restore or a flipped bit could leave).
void WriteRawMeta(const std::string& path, const std::string& key, const std::string& value) {
  auto store = BrokerStore::Open(path);
  REQUIRE(store.ok());
  rocksdb::WriteBatch batch;
  REQUIRE(batch.Put((*store)->db().Family(keys::kMeta), key, value).ok());
  REQUIRE((*store)->db().Write(batch).ok());
}
}  // namespace

// Finding 8 of issue 8: a malformed counter was read as 0, so case numbers could be handed out
// again. Start-up must refuse, with a message naming the counter.
TEST_CASE("a malformed counter makes Open fail with a readable error") {
  struct Bad {
    std::string key;
    std::string value;
  };
  for (const Bad& bad : {Bad{std::string(keys::kCaseCounter), "12345"},
                         Bad{std::string(keys::kAlertCounter), std::string(3, '\0')},
                         Bad{std::string(keys::kAuditCounter), std::string(9, '\1')},
                         Bad{std::string(keys::kPurgeCompactionOwed), "x"},
                         Bad{keys::StateCountKey("SUBMITTED"), "1"},
                         Bad{keys::StateCountKey("NOT_A_STATE"), std::string(8, '\0')},
                         Bad{std::string(keys::kOpenCasesPrefix) + "mairie-berdhuis", "12"},
                         Bad{keys::AtRiskKey("msa"), std::string(7, '\0')}}) {
    CAPTURE(bad.key);
    testing::TempDir dir("store-bad-counter");
    {
      auto store = BrokerStore::Open(dir.Sub("db"));
      REQUIRE(store.ok());
      (*store)->NextCaseNumber();
      (*store)->PutCase(MakeCase("PER-AAAA-AAAA", wire::SUBMITTED), wire::STATE_UNSPECIFIED);
      REQUIRE((*store)->Commit().ok());
    }
    WriteRawMeta(dir.Sub("db"), bad.key, bad.value);
    auto reopened = BrokerStore::Open(dir.Sub("db"));
    REQUIRE_FALSE(reopened.ok());
    CHECK(reopened.status().code() == wire::INTERNAL);
    CHECK_MESSAGE(reopened.status().message().find(bad.key) != std::string::npos,
                  reopened.status().message());
    CHECK(reopened.status().message().find("cannot be served") != std::string::npos);
  }
}

TEST_CASE("a malformed queue mark is an error of the start-up scan, not sequence 1 again") {
  testing::TempDir dir("store-bad-mark");
  WriteRawMeta(dir.Sub("db"), std::string(keys::kQueueNextPrefix) + "partner/msa", "seven");
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  auto scanned = (*store)->ScanQueues();
  REQUIRE_FALSE(scanned.ok());
  CHECK(scanned.status().code() == wire::INTERNAL);
  CHECK(scanned.status().message().find("partner/msa") != std::string::npos);
}

// Scans used to end silently at a failed iterator (a corrupt block read as "no more cases").
// A corrupt table file is the cheapest real iterator error: the checksum of a data block fails.
TEST_CASE("an iterator error of a scan is an error value, not the end of the data") {
  testing::TempDir dir("store-corrupt");
  std::mt19937 random(7);
  auto noise = [&](size_t n) {
    std::string text(n, ' ');
    for (auto& c : text) c = static_cast<char>('a' + random() % 26);
    return text;
  };
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    for (int i = 0; i < 300; ++i) {
      records::CaseRecord record = MakeCase("PER-" + std::to_string(100000 + i), wire::SUBMITTED);
      record.set_body(noise(4000));  // incompressible: the cases family holds the big file
      (*store)->PutCase(record, wire::STATE_UNSPECIFIED);
    }
    REQUIRE((*store)->Commit().ok());
    REQUIRE((*store)->db().FlushAll().ok());
  }
  std::filesystem::path largest;
  uintmax_t largest_size = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.Sub("db"))) {
    if (entry.path().extension() == ".sst" && entry.file_size() > largest_size) {
      largest = entry.path();
      largest_size = entry.file_size();
    }
  }
  REQUIRE(largest_size > 500000);
  {
    std::fstream file(largest, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(largest_size / 3));
    std::string garbage(20000, '\xA5');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto store = BrokerStore::Open(dir.Sub("db"));  // the counters live elsewhere: it opens
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  size_t visited = 0;
  Status scanned = VisitCases(*(*store)->CommittedCases(), [&](const records::CaseRecord&) {
    ++visited;
    return true;
  });
  CHECK_FALSE(scanned.ok());
  CHECK(visited < 300);
  MESSAGE(scanned.ToString());
}

namespace {
// Every key of `family` as stored, in order.
std::vector<std::string> RawKeys(RocksDb& db, const char* family) {
  std::vector<std::string> keys;
  auto it = db.NewIterator(db.Family(family));
  for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
  return keys;
}

constexpr const char* kCaseFamilies[] = {keys::kCases, keys::kContent, keys::kEvents,
                                         keys::kAudit};
}  // namespace

TEST_CASE("case records are keyed by case number: the families grow at their end") {
  testing::TempDir dir("store-case-keys");
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  auto& s = **store;
  // Ids of consecutive numbers are far apart in id order (the keyed permutation).
  std::vector<std::string> ids;
  for (uint64_t n = 0; n < 50; ++n) {
    ids.push_back(FormatCaseId("PER", s.NextCaseNumber()));
    s.PutCase(MakeCase(ids.back(), wire::SUBMITTED), wire::STATE_UNSPECIFIED);
    REQUIRE(s.Commit().ok());
  }
  REQUIRE_FALSE(std::is_sorted(ids.begin(), ids.end()));
  std::vector<std::string> visited;
  REQUIRE(VisitCases(*s.CommittedCases(), [&](const records::CaseRecord& record) {
            visited.push_back(record.summary().case_id());
            return true;
          }).ok());
  CHECK(visited == ids);  // number order, which is the order of submission
  for (const auto& key : RawKeys(s.db(), keys::kCases)) CHECK(key.substr(8, 3) == "PER");
}

TEST_CASE("a store keyed by case id alone is renumbered at open, resumably, nothing lost") {
  testing::TempDir dir("store-renumber");
  struct Expected {
    std::string id;
    std::string body;
  };
  std::vector<Expected> cases;
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    auto& s = **store;
    for (int n = 0; n < 300; ++n) {
      std::string id = FormatCaseId("PER", s.NextCaseNumber());
      cases.push_back({id, "body of case " + std::to_string(n)});
      s.PutCase(MakeCase(id, wire::SUBMITTED), wire::STATE_UNSPECIFIED);
      records::CaseContent content;
      content.set_body(cases.back().body);
      s.PutContent(id, content);
      for (uint32_t e = 0; e < 3; ++e) {
        wire::Event event;
        event.set_sequence(e);
        event.set_kind("EVENT" + std::to_string(e));
        s.PutEvent(id, event);
      }
      wire::AuditEntry entry;
      entry.set_case_id(id);
      s.AppendAudit(entry);
    }
    s.PutCase(MakeCase("PER-AAAA-AAAA", wire::SUBMITTED), wire::STATE_UNSPECIFIED);  // no number
    REQUIRE(s.Commit().ok());
    CHECK(s.purge_compaction_owed() == 0);
  }
  {
    // Rewrite it as the first layout wrote it: the number taken off every key. The last
    // third stays numbered, as a start stopped midway through the move leaves them.
    auto db = BrokerStore::OpenDatabase(dir.Sub("db"), RocksDbOptions{});
    REQUIRE(db.ok());
    rocksdb::WriteBatch batch;
    for (const char* family : kCaseFamilies) {
      auto raw = RawKeys(**db, family);
      for (size_t i = 0; i < raw.size() * 2 / 3; ++i) {
        auto value = (*db)->Get((*db)->Family(family), raw[i]);
        REQUIRE(value.ok());
        batch.Delete((*db)->Family(family), raw[i]);
        batch.Put((*db)->Family(family), raw[i].substr(8), **value);
      }
    }
    REQUIRE((*db)->Write(batch).ok());
  }
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  auto& s = **store;
  for (const char* family : kCaseFamilies) {
    for (const auto& key : RawKeys(s.db(), family)) {
      CHECK_MESSAGE(key[0] == '\0', family);  // every key numbered
    }
  }
  CHECK(RawKeys(s.db(), keys::kCases).size() == 301);
  CHECK(RawKeys(s.db(), keys::kEvents).size() == 900);
  for (const auto& expected : cases) {
    auto record = s.GetCase(expected.id);
    REQUIRE(record.ok());
    REQUIRE(record->has_value());
    auto content = s.GetContent(expected.id);
    REQUIRE(content.ok());
    REQUIRE(content->has_value());
    CHECK((*content)->body() == expected.body);
    auto events = s.GetEvents(expected.id);
    REQUIRE(events.ok());
    REQUIRE(events->size() == 3);
    CHECK(events->at(2).kind() == "EVENT2");
    CHECK(s.GetAudit(expected.id)->size() == 1);
  }
  CHECK(s.GetCase("PER-AAAA-AAAA")->has_value());
  // The old copies (and their tombstones) are compacted away before the store serves: no
  // table file of these families holds a key past the numbered ones, and no compaction is
  // owed any more.
  std::vector<rocksdb::LiveFileMetaData> files;
  s.db().raw()->GetLiveFilesMetaData(&files);
  size_t case_files = 0;
  for (const auto& file : files) {
    bool case_family = false;
    for (const char* family : kCaseFamilies) case_family |= file.column_family_name == family;
    if (!case_family) continue;
    ++case_files;
    CHECK_MESSAGE(file.largestkey[0] == '\0', file.column_family_name);
  }
  CHECK(case_files >= 4);
  CHECK(s.purge_compaction_owed() == 0);
}

TEST_CASE("timers of one due instant are ordered by case number; keys of the earlier layout are "
          "read and deleted as found") {
  testing::TempDir dir("store-due-keys");
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  auto& s = **store;
  // A day's deadlines fall at one instant: the timers follow submission order within it.
  const int64_t due = 1'800'000'000'000;
  std::vector<std::string> ids;
  for (int n = 0; n < 20; ++n) {
    ids.push_back(FormatCaseId("PER", s.NextCaseNumber()));
    s.PutTimer({due, ids.back(), keys::kTimerWarning, 1, {}});
  }
  REQUIRE_FALSE(std::is_sorted(ids.begin(), ids.end()));
  // One timer stored as an earlier version wrote it: be64(due) + case id + \0 + kind.
  const std::string old_id = FormatCaseId("PER", 1000);
  std::string old_key;
  AppendBigEndian64(old_key, static_cast<uint64_t>(due));
  old_key += old_id + std::string(1, '\0') + keys::kTimerBreach;
  std::string generation;
  AppendBigEndian32(generation, 3);
  s.db().raw()->Put(rocksdb::WriteOptions(), s.db().Family(keys::kDue), old_key, generation);
  REQUIRE(s.Commit().ok());

  auto found = s.DueTimers(due, due, 100);
  REQUIRE(found.ok());
  REQUIRE(found->timers.size() == ids.size() + 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    CHECK(found->timers[i].case_id == ids[i]);  // number order
    CHECK(found->timers[i].kind == keys::kTimerWarning);
    CHECK(found->timers[i].generation == 1);
  }
  const auto& old = found->timers.back();  // a letter sorts after the case keys' zero byte
  CHECK(old.case_id == old_id);
  CHECK(old.kind == keys::kTimerBreach);
  CHECK(old.generation == 3);
  for (const auto& timer : found->timers) s.DeleteFoundTimer(timer);
  REQUIRE(s.Commit().ok());
  CHECK(RawKeys(s.db(), keys::kDue).empty());
}

TEST_CASE("a contact point's cases are listed in submission order; an index of the earlier "
          "layout is renumbered at open") {
  testing::TempDir dir("store-contact-point-index");
  std::vector<std::string> numbered;  // indexed as this version does
  std::vector<std::string> old;       // indexed as an earlier version did: contact point + \0 + id
  {
    auto store = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(store.ok());
    auto& s = **store;
    for (int n = 0; n < 30; ++n) {
      numbered.push_back(FormatCaseId("PER", s.NextCaseNumber()));
      s.IndexCaseForContactPoint("mairie-berdhuis", numbered.back());
    }
    REQUIRE(s.Commit().ok());
    REQUIRE_FALSE(std::is_sorted(numbered.begin(), numbered.end()));
    CHECK(*s.ListCaseIds("mairie-berdhuis", "", 100) == numbered);
    std::vector<std::string> paged;
    std::string after;
    while (true) {
      auto page = s.ListCaseIds("mairie-berdhuis", after, 4);
      REQUIRE(page.ok());
      if (page->empty()) break;
      paged.insert(paged.end(), page->begin(), page->end());
      after = page->back();
    }
    CHECK(paged == numbered);
    // Entries of an earlier version, for this contact point (numbers after the ones above)
    // and for two others, one of which has numbered entries too.
    rocksdb::WriteBatch batch;
    auto* family = s.db().Family(keys::kByContactPoint);
    for (uint64_t n = 100; n < 110; ++n) {
      old.push_back(FormatCaseId("PER", n));
      for (const char* contact_point : {"mairie-berdhuis", "mairie-cour-maugis", "mairie-perche"}) {
        batch.Put(family, std::string(contact_point) + std::string(1, '\0') + old.back(), "");
      }
    }
    s.IndexCaseForContactPoint("mairie-perche", FormatCaseId("PER", 5));
    REQUIRE(s.Commit().ok());
    REQUIRE(s.db().Write(batch).ok());
  }
  auto reopened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(reopened.ok());
  auto& s = **reopened;
  std::vector<std::string> berdhuis = numbered;
  berdhuis.insert(berdhuis.end(), old.begin(), old.end());
  CHECK(*s.ListCaseIds("mairie-berdhuis", "", 100) == berdhuis);
  CHECK(*s.ListCaseIds("mairie-cour-maugis", "", 100) == old);
  std::vector<std::string> perche = {FormatCaseId("PER", 5)};
  perche.insert(perche.end(), old.begin(), old.end());
  CHECK(*s.ListCaseIds("mairie-perche", "", 100) == perche);
  // Every entry under its numbered key: a zero byte after the contact point's separator.
  auto stored = RawKeys(s.db(), keys::kByContactPoint);
  CHECK(stored.size() == berdhuis.size() + old.size() + perche.size());
  for (const auto& key : stored) {
    size_t end = key.find('\0');
    REQUIRE(end != std::string::npos);
    CHECK(key[end + 1] == '\0');
  }
}
