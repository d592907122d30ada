// Group commit for a gateway's store, like the broker's: everything one loop turn writes
// (outbox appends of the requests drained this turn, removals and cache writes of the answers
// received this turn, mailbox and inbox deliveries) shares one fsync of the write-ahead log,
// and nothing that depends on those writes leaves the process before that fsync returned OK:
// the answers to local clients, the acknowledgements and requests to the broker are deferred
// (AfterCommit) until Commit.
//
// A turn:  Begin(); ... writes, AfterCommit(effect) ...; Commit();
// Commit runs the effects in the order they were deferred, each with Status::Ok() when the
// fsync succeeded, or with the failure (the FailStop has tripped then: nothing is acknowledged,
// and a client gets the error instead of its answer: its request may not be on disk).
// Outside a turn, writes are synced one by one (RocksDb::Write) and effects run at once.
// A turn that wrote something is timed (its fsync, CommitGroup) for the commit observer
// (aplus_commit_seconds, gateway/gateway_metrics.h); a turn without writes is not a commit.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/fail_stop.h"
#include "common/status.h"
#include "store/rocks_db.h"

namespace aplus {

// Thread rules: the owning gateway's loop thread only.
class GroupCommit {
 public:
  // Runs after the commit with its outcome (OK, or why the writes may not be durable).
  using Effect = std::function<void(const Status& committed)>;

  // `db` and `fail_stop` must outlive this object.
  GroupCommit(RocksDb& db, FailStop& fail_stop) : db_(db), fail_stop_(fail_stop) {}

  void Begin() { db_.BeginGroup(); }
  bool open() const { return db_.group_open(); }

  // Inside a turn: `effect` waits for Commit. Outside: it runs now, with the store's state
  // (OK unless a write failed earlier).
  void AfterCommit(Effect effect) {
    if (open()) {
      effects_.push_back(std::move(effect));
      return;
    }
    effect(fail_stop_.tripped() ? fail_stop_.status() : Status::Ok());
  }

  // Ends the turn: one fsync for its writes, then the effects. A failed fsync trips the
  // FailStop (never retried). Returns the outcome.
  Status Commit() {
    const bool timed = observer_ && db_.group_dirty();
    const auto started = std::chrono::steady_clock::now();
    Status committed = db_.CommitGroup();
    if (timed) {
      observer_(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    if (!committed.ok()) fail_stop_.Trip("cannot commit this turn's writes", committed);
    if (committed.ok() && fail_stop_.tripped()) committed = fail_stop_.status();
    ++commits_;
    // Effects may defer more effects (none are in a turn now: they run at once).
    auto effects = std::move(effects_);
    effects_.clear();
    for (auto& effect : effects) effect(committed);
    return committed;
  }

  // Called after each commit that had writes, with how long its fsync took (seconds); null:
  // none. Runs on the loop thread, before the effects.
  void SetCommitObserver(std::function<void(double seconds)> observer) {
    observer_ = std::move(observer);
  }

  // Turns committed so far; for tests and logs.
  uint64_t commits() const { return commits_; }

 private:
  RocksDb& db_;
  FailStop& fail_stop_;
  std::vector<Effect> effects_;
  std::function<void(double seconds)> observer_;
  uint64_t commits_ = 0;
};

}  // namespace aplus
