// Group commit (gateway/group_commit.h over RocksDb::BeginGroup/CommitGroup): what depends on
// a turn's writes runs only after the turn's one fsync, with its outcome; a failed write in
// the turn reaches every deferred effect as an error and trips the FailStop; outside a turn
// writes are synced one by one and effects run at once.
#include "gateway/group_commit.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/support/child_process.h"

using namespace aplus;

namespace {

Status Put(RocksDb& db, const std::string& key, const std::string& value) {
  rocksdb::WriteBatch batch;
  batch.Put(db.Family("things"), key, value);
  return db.Write(batch);
}

}  // namespace

TEST_CASE("effects wait for the turn's commit and see its outcome; the writes are readable "
          "at once and survive a reopen") {
  testing::TempDir dir("group-commit");
  const std::string path = dir.Sub("db");
  {
    auto db = RocksDb::Open(path, {"things"});
    REQUIRE(db.ok());
    FailStop fail_stop;
    GroupCommit commit(**db, fail_stop);
    std::vector<std::string> ran;
    commit.Begin();
    CHECK(commit.open());
    REQUIRE(Put(**db, "a", "1").ok());
    REQUIRE(Put(**db, "b", "2").ok());
    auto read = (*db)->Get((*db)->Family("things"), "a");
    REQUIRE(read.ok());
    CHECK(read->value_or("") == "1");  // visible before the commit
    commit.AfterCommit([&](const Status& committed) {
      CHECK(committed.ok());
      ran.push_back("first");
    });
    commit.AfterCommit([&](const Status&) { ran.push_back("second"); });
    CHECK(ran.empty());
    CHECK(commit.Commit().ok());
    CHECK(ran == std::vector<std::string>{"first", "second"});
    CHECK_FALSE(commit.open());
    // Outside a turn: at once.
    commit.AfterCommit([&](const Status& committed) {
      CHECK(committed.ok());
      ran.push_back("third");
    });
    CHECK(ran.size() == 3);
    // An empty turn commits without writing.
    commit.Begin();
    CHECK(commit.Commit().ok());
    CHECK_FALSE(fail_stop.tripped());
  }
  auto db = RocksDb::Open(path, {"things"});
  REQUIRE(db.ok());
  auto read = (*db)->Get((*db)->Family("things"), "b");
  REQUIRE(read.ok());
  CHECK(read->value_or("") == "2");
}

TEST_CASE("a failed write in a turn: every deferred effect gets the error, the FailStop trips, "
          "later turns fail too") {
  testing::TempDir dir("group-commit-fail");
  auto db = RocksDb::Open(dir.Sub("db"), {"things"});
  REQUIRE(db.ok());
  FailStop fail_stop;
  GroupCommit commit(**db, fail_stop);
  std::vector<Status> outcomes;
  commit.Begin();
  REQUIRE(Put(**db, "a", "1").ok());
  commit.AfterCommit([&](const Status& committed) { outcomes.push_back(committed); });
  (*db)->FailNextWriteForTest();
  CHECK_FALSE(Put(**db, "b", "2").ok());
  commit.AfterCommit([&](const Status& committed) { outcomes.push_back(committed); });
  CHECK(commit.Commit().code() == wire::UNAVAILABLE);
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].code() == wire::UNAVAILABLE);
  CHECK(outcomes[1].code() == wire::UNAVAILABLE);
  CHECK(fail_stop.tripped());
  commit.Begin();
  CHECK_FALSE(Put(**db, "c", "3").ok());
  CHECK_FALSE(commit.Commit().ok());
}

TEST_CASE("the commit observer times the turns that wrote something, and only those "
          "(aplus_commit_seconds)") {
  testing::TempDir dir("group-commit-observer");
  auto db = RocksDb::Open(dir.Sub("db"), {"things"});
  REQUIRE(db.ok());
  FailStop fail_stop;
  GroupCommit commit(**db, fail_stop);
  std::vector<double> observed;
  commit.SetCommitObserver([&](double seconds) { observed.push_back(seconds); });
  commit.Begin();  // nothing written: no fsync, nothing observed
  CHECK(commit.Commit().ok());
  CHECK(observed.empty());
  commit.Begin();
  REQUIRE(Put(**db, "a", "1").ok());
  REQUIRE(Put(**db, "b", "2").ok());
  CHECK(commit.Commit().ok());
  REQUIRE(observed.size() == 1);  // one turn, one commit
  CHECK(observed[0] >= 0.0);
  CHECK(observed[0] < 60.0);
  REQUIRE(Put(**db, "c", "3").ok());  // outside a turn: synced on its own, not a group commit
  CHECK(observed.size() == 1);
}
