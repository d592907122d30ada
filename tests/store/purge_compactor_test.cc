// PurgeCompactor against a real RocksDB directory: an overwritten value is in the files (log and
// table files) until the compactor has run, and in none of them afterwards; requests are
// merged; runs keep their interval; the destructor joins promptly.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "common/clock.h"
#include "store/broker_store.h"
#include "store/purge_compactor.h"
#include "tests/support/child_process.h"
#include "tests/support/data_files.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

records::CaseRecord MakeCase(const std::string& id, const std::string& body) {
  records::CaseRecord record;
  record.mutable_summary()->set_case_id(id);
  record.mutable_summary()->set_state(wire::CLOSED);
  record.set_body(body);
  return record;
}

bool WaitFor(const std::function<bool()>& condition, int timeout_ms) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (!condition()) {
    if (SteadyNowMs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace

TEST_CASE("after the compactor ran, an overwritten value is in no file of the database") {
  TempDir dir("purge-compactor");
  const std::string db_dir = dir.Sub("db");
  auto store = BrokerStore::Open(db_dir);
  REQUIRE(store.ok());
  auto& s = **store;
  Marker in_table = MakeMarker("table");
  Marker in_log = MakeMarker("log");
  Marker kept = MakeMarker("kept");
  // One value reaches a table file before it is overwritten, the other only the log.
  s.PutCase(MakeCase("PER-AAAA-AAAA", in_table.text), wire::STATE_UNSPECIFIED);
  s.PutCase(MakeCase("PER-CCCC-CCCC", kept.text), wire::STATE_UNSPECIFIED);
  REQUIRE(s.Commit().ok());
  REQUIRE(s.db().FlushAll().ok());
  s.PutCase(MakeCase("PER-BBBB-BBBB", in_log.text), wire::STATE_UNSPECIFIED);
  REQUIRE(s.Commit().ok());
  CHECK_MESSAGE(!FilesContaining(db_dir, in_table.text).empty(), "control: the value is on disk");
  CHECK_MESSAGE(!FilesContaining(db_dir, in_log.text).empty(), "control: the value is on disk");

  s.PutCase(MakeCase("PER-AAAA-AAAA", ""), wire::CLOSED);
  s.PutCase(MakeCase("PER-BBBB-BBBB", ""), wire::CLOSED);
  REQUIRE(s.Commit().ok());
  // Overwriting alone leaves the old values where they were.
  CHECK(!FilesWithAnyPiece(db_dir, in_table).empty());
  CHECK(!FilesWithAnyPiece(db_dir, in_log).empty());

  PurgeCompactor compactor(s.db(), 0);
  auto ranges = s.CaseRanges("PER-AAAA-AAAA");
  for (auto& range : s.CaseRanges("PER-BBBB-BBBB")) ranges.push_back(range);
  compactor.Request(1, ranges);
  REQUIRE(WaitFor([&] { return compactor.completed() == 1; }, 20000));
  CHECK(compactor.runs() == 1);
  CHECK(compactor.failures() == 0);
  CHECK_MESSAGE(FilesWithAnyPiece(db_dir, in_table).empty(),
                JoinNames(FilesWithAnyPiece(db_dir, in_table)));
  CHECK_MESSAGE(FilesWithAnyPiece(db_dir, in_log).empty(),
                JoinNames(FilesWithAnyPiece(db_dir, in_log)));
  // What was not overwritten is still there, and readable.
  CHECK((*s.GetCase("PER-CCCC-CCCC"))->body() == kept.text);
  CHECK((*s.GetCase("PER-AAAA-AAAA"))->body().empty());
}

TEST_CASE("requests arriving during the interval are merged into the next run") {
  TempDir dir("purge-compactor-interval");
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  auto& s = **store;
  s.PutCase(MakeCase("PER-AAAA-AAAA", "x"), wire::STATE_UNSPECIFIED);
  REQUIRE(s.Commit().ok());
  PurgeCompactor compactor(s.db(), 1500);
  int64_t start = SteadyNowMs();
  compactor.Request(1, s.CaseRanges("PER-AAAA-AAAA"));
  REQUIRE(WaitFor([&] { return compactor.completed() == 1; }, 10000));
  compactor.Request(2, s.CaseRanges("PER-BBBB-BBBB"));
  compactor.Request(3, s.CaseDataFamilies());
  REQUIRE(WaitFor([&] { return compactor.completed() == 3; }, 10000));
  // The first run started at once, the second not before the interval was over.
  CHECK(SteadyNowMs() - start >= 1500);
  CHECK(compactor.runs() == 2);
}

TEST_CASE("the destructor stops a waiting compactor at once") {
  TempDir dir("purge-compactor-stop");
  auto store = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  int64_t start = SteadyNowMs();
  {
    PurgeCompactor compactor((*store)->db(), 3600 * 1000);
    compactor.Request(1, (*store)->CaseDataFamilies());
    REQUIRE(WaitFor([&] { return compactor.completed() == 1; }, 10000));
    compactor.Request(2, (*store)->CaseDataFamilies());  // waits an hour
  }
  CHECK(SteadyNowMs() - start < 5000);
}
