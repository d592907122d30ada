// Reads of every case off the owner's thread (store/case_scanner.h): the walk, the snapshot a
// scan reads, the bound on waiting scans, and a stop with scans outstanding.
#include "store/case_scanner.h"

#include <doctest/doctest.h>
#include <poll.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <thread>

#include "common/case_id.h"
#include "store/broker_store.h"
#include "store/key_layout.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {

std::unique_ptr<BrokerStore> StoreWithCases(const std::string& path, uint64_t count) {
  auto opened = BrokerStore::Open(path);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  for (uint64_t n = 0; n < count; ++n) {
    records::CaseRecord record;
    record.mutable_summary()->set_case_id(FormatCaseId("PER", (*opened)->NextCaseNumber()));
    record.mutable_summary()->set_state(wire::SUBMITTED);
    (*opened)->PutCase(record, wire::STATE_UNSPECIFIED);
  }
  REQUIRE((*opened)->Commit().ok());
  return std::move(opened).value();
}

// Collects until `done` or 10 s.
bool CollectUntil(CaseScanner& scanner, const std::function<bool()>& done) {
  for (int i = 0; i < 2000 && !done(); ++i) {
    scanner.Collect();
    if (!done()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace

TEST_CASE("the walk visits every case in key order, stops when asked, and names an unreadable one") {
  testing::TempDir dir("case-walk");
  auto store = StoreWithCases(dir.Sub("db"), 5);
  std::vector<std::string> ids;
  REQUIRE(VisitCases(*store->CommittedCases(), [&](const records::CaseRecord& record) {
            ids.push_back(record.summary().case_id());
            return true;
          }).ok());
  REQUIRE(ids.size() == 5);
  for (uint64_t n = 0; n < 5; ++n) CHECK(ids[n] == FormatCaseId("PER", n));
  size_t visited = 0;
  REQUIRE(VisitCases(*store->CommittedCases(), [&](const records::CaseRecord&) {
            return ++visited < 2;
          }).ok());
  CHECK(visited == 2);

  rocksdb::WriteBatch batch;
  REQUIRE(batch.Put(store->db().Family(keys::kCases), keys::CaseKey(FormatCaseId("PER", 3)),
                    "\xff\xff not a record").ok());
  REQUIRE(store->db().Write(batch).ok());
  Status unreadable = VisitCases(*store->CommittedCases(), [](const records::CaseRecord&) { return true; });
  CHECK(unreadable.code() == wire::INTERNAL);
  CHECK_MESSAGE(unreadable.message().find(FormatCaseId("PER", 3)) != std::string::npos,
                unreadable.message());
}

// A scanner over `store`'s committed cases that counts its walks.
struct CountedScanner {
  std::atomic<int> walks{0};
  CaseScanner scanner;
  CountedScanner(BrokerStore& store, size_t max_waiting)
      : scanner(
            [this, &store] {
              ++walks;
              return store.CommittedCases();
            },
            max_waiting) {}
};

TEST_CASE("a read walks the cases as they are when its walk starts, and answers on Collect") {
  testing::TempDir dir("case-scan");
  auto store = StoreWithCases(dir.Sub("db"), 3);
  CountedScanner counted(*store, 4);
  CaseScanner& scanner = counted.scanner;
  scanner.HoldForTest(true);
  size_t visited = 0;
  std::optional<Status> outcome;
  const auto owner = std::this_thread::get_id();
  std::thread::id visited_on, done_on;
  REQUIRE(scanner
              .Start({[&](const records::CaseRecord&) {
                        visited_on = std::this_thread::get_id();
                        ++visited;
                        return true;
                      },
                      [&](const Status& status) {
                        done_on = std::this_thread::get_id();
                        outcome = status;
                      },
                      {}})
              .ok());
  CHECK(scanner.outstanding() == 1);
  // Two more cases committed while the read waits: its walk, which starts later, sees them.
  records::CaseRecord later;
  for (int i = 0; i < 2; ++i) {
    later.mutable_summary()->set_case_id(FormatCaseId("PER", store->NextCaseNumber()));
    store->PutCase(later, wire::STATE_UNSPECIFIED);
  }
  REQUIRE(store->Commit().ok());
  scanner.Collect();
  CHECK_FALSE(outcome.has_value());  // held: not walked yet
  scanner.HoldForTest(false);
  REQUIRE(CollectUntil(scanner, [&] { return outcome.has_value(); }));
  CHECK(outcome->ok());
  CHECK(visited == 5);
  CHECK(visited_on != owner);  // walked on the worker
  CHECK(done_on == owner);     // answered on the owner's thread
  CHECK(scanner.outstanding() == 0);
  CHECK(counted.walks.load() == 1);
}

TEST_CASE("reads waiting together share one walk; one that has seen enough leaves the others "
          "walking") {
  testing::TempDir dir("case-scan-shared");
  auto store = StoreWithCases(dir.Sub("db"), 10);
  CountedScanner counted(*store, 8);
  CaseScanner& scanner = counted.scanner;
  scanner.HoldForTest(true);
  std::vector<size_t> visited(3, 0), seen_after_walk(3, 0);
  std::vector<std::thread::id> after_walk_on(3);
  int answered = 0;
  for (size_t r = 0; r < 3; ++r) {
    const size_t wanted = r == 0 ? 2 : SIZE_MAX;  // the first stops after two cases
    REQUIRE(scanner
                .Start({[&, r, wanted](const records::CaseRecord&) { return ++visited[r] < wanted; },
                        [&](const Status& status) {
                          CHECK(status.ok());
                          ++answered;
                        },
                        [&, r] {
                          after_walk_on[r] = std::this_thread::get_id();
                          seen_after_walk[r] = visited[r];
                        }})
                .ok());
  }
  scanner.HoldForTest(false);
  REQUIRE(CollectUntil(scanner, [&] { return answered == 3; }));
  CHECK(counted.walks.load() == 1);
  CHECK(visited == std::vector<size_t>{2, 10, 10});
  // Each read's last step ran on the worker, once its walk was complete.
  CHECK(seen_after_walk == visited);
  for (const auto& id : after_walk_on) CHECK(id != std::this_thread::get_id());
}

// A read that visits every case and counts its answer in `answered`; `expect_ok`: the walk
// must have ended well.
CaseScanner::Read CountingRead(int& answered, bool expect_ok) {
  return CaseScanner::Read{[](const records::CaseRecord&) { return true; },
                           [&answered, expect_ok](const Status& status) {
                             if (expect_ok) CHECK(status.ok());
                             ++answered;
                           },
                           {}};
}

TEST_CASE("reads beyond the bound are refused with a hint, and the waiting ones all answer") {
  testing::TempDir dir("case-scan-bound");
  auto store = StoreWithCases(dir.Sub("db"), 10);
  CountedScanner counted(*store, 2);
  CaseScanner& scanner = counted.scanner;
  scanner.HoldForTest(true);
  int answered = 0;
  auto read = [&] { return CountingRead(answered, /*expect_ok=*/true); };
  REQUIRE(scanner.Start(read()).ok());
  REQUIRE(scanner.Start(read()).ok());
  Status refused = scanner.Start(read());
  CHECK(refused.code() == wire::RATE_LIMITED);
  CHECK(refused.retry_after_ms() > 0);
  CHECK(scanner.outstanding() == 2);
  scanner.HoldForTest(false);
  REQUIRE(CollectUntil(scanner, [&] { return answered == 2; }));
  CHECK(scanner.outstanding() == 0);
  REQUIRE(scanner.Start(read()).ok());  // room again
  REQUIRE(CollectUntil(scanner, [&] { return answered == 3; }));
}

bool ReadyWithin(const CaseScanner& scanner, int timeout_ms) {
  pollfd item{scanner.ready_fd(), POLLIN, 0};
  return poll(&item, 1, timeout_ms) == 1;
}

TEST_CASE("the ready fd wakes the owner when a read has finished, and is quiet after Collect") {
  testing::TempDir dir("case-scan-ready");
  auto store = StoreWithCases(dir.Sub("db"), 10);
  CountedScanner counted(*store, 4);
  CaseScanner& scanner = counted.scanner;
  scanner.HoldForTest(true);
  int answered = 0;
  auto read = [&] { return CountingRead(answered, /*expect_ok=*/false); };
  REQUIRE(scanner.Start(read()).ok());
  CHECK_FALSE(ReadyWithin(scanner, 50));  // held: nothing finished
  scanner.HoldForTest(false);
  // The owner polls as the broker's loop does, and wakes when the walk ends, not at a timeout.
  REQUIRE(ReadyWithin(scanner, 10000));
  scanner.Collect();
  CHECK(answered == 1);
  CHECK_FALSE(ReadyWithin(scanner, 0));
  // A stop's answers wake the owner too.
  scanner.HoldForTest(true);
  REQUIRE(scanner.Start(read()).ok());
  scanner.Stop(Status(wire::UNAVAILABLE, "stopping"));
  CHECK(ReadyWithin(scanner, 0));
  scanner.Collect();
  CHECK(answered == 2);
  CHECK_FALSE(ReadyWithin(scanner, 0));
}

// A read whose walk stands still at its first case until `go`, then takes 5 ms a case: 2,000
// cases make a walk of 10 s, which a stop or a destruction must cut short.
CaseScanner::Read SlowRead(std::atomic<size_t>& visited, std::atomic<bool>& go,
                           std::function<void(const Status&)> done) {
  return CaseScanner::Read{[&visited, &go](const records::CaseRecord&) {
                             ++visited;
                             while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
                             std::this_thread::sleep_for(std::chrono::milliseconds(5));
                             return true;
                           },
                           std::move(done),
                           {}};
}

TEST_CASE("a stop answers the reads walking and waiting with its reason, and refuses new ones") {
  testing::TempDir dir("case-scan-stop");
  auto store = StoreWithCases(dir.Sub("db"), 2000);
  CountedScanner counted(*store, 8);
  CaseScanner& scanner = counted.scanner;
  std::atomic<size_t> visited{0};
  std::atomic<bool> go{false};
  std::vector<Status> outcomes;
  auto record = [&](const Status& status) { outcomes.push_back(status); };
  REQUIRE(scanner.Start(SlowRead(visited, go, record)).ok());
  while (visited.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(scanner.Start(SlowRead(visited, go, record)).ok());  // waits behind the walk
  go = true;
  scanner.Stop(Status(wire::NOT_LEADER, "leadership lost"));
  CHECK(visited.load() < 2000);
  CHECK(outcomes.empty());  // answered on the owner's thread, at Collect
  scanner.Collect();
  REQUIRE(outcomes.size() == 2);
  for (const Status& outcome : outcomes) {
    CHECK(outcome.code() == wire::NOT_LEADER);
    CHECK(outcome.message() == "leadership lost");
  }
  CHECK(scanner.outstanding() == 0);
  CHECK(scanner.Start(SlowRead(visited, go, record)).code() == wire::UNAVAILABLE);
}

TEST_CASE("a scanner destroyed with reads outstanding answers none of them, and the store then "
          "closes") {
  testing::TempDir dir("case-scan-destroy");
  auto store = StoreWithCases(dir.Sub("db"), 2000);
  bool answered = false;
  std::atomic<size_t> visited{0};
  std::atomic<bool> go{false};
  {
    CountedScanner counted(*store, 8);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(counted.scanner.Start(SlowRead(visited, go, [&](const Status&) { answered = true; })).ok());
    }
    while (visited.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    counted.scanner.Collect();
    go = true;
  }  // cancelled within one case of a walk of 10 s
  CHECK_FALSE(answered);
  CHECK(visited.load() < 3 * 2000);
  store.reset();  // no iterator left open on it
}
