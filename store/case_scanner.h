// Reads of every stored case (SLA reports, the SLA board) off the broker's loop. A read of all
// the cases costs about a second per million cases; on the loop it stopped every submission,
// delivery and timer for that long (issue 11: flat to 10,000,000 cases). The loop hands each
// read here with what to do with each record; a worker thread walks the committed records (an
// iterator made when the walk starts: the state at that instant, after the read was asked);
// the loop collects the outcomes at its next turns and answers then: ready_fd() wakes its poll
// when a read has finished (a report or board answered at once, not at the poll's timeout).
//
// The reads waiting when a walk starts share it (one pass over the cases answers them all):
// the console asks for a report per week of its period at once, up to 55 reads.
//
// Thread rules: construct, Start(), Collect(), Stop() and the destructor on the owner's thread
// (the broker's loop). `visit` runs on the worker thread: it may touch only what its read owns
// and immutable state (the network config, the SLA clock). `done` runs on the owner's thread,
// from Collect(). The destructor cancels the walk in progress, drops the reads not collected
// (their `done` never runs) and joins the worker; it must run before the database closes.
// Members below `mutex_` are guarded by it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <rocksdb/iterator.h>

#include "common/status.h"
#include "common/wake_signal.h"
#include "records.pb.h"

namespace aplus {

// Calls `visit` for each case record `cases` yields from its first key, in key order, until it
// returns false. INTERNAL naming the case for a record that cannot be parsed (a report would
// silently leave it out otherwise), UNAVAILABLE for an iterator error or when `cancel` is set.
// The one walk of the cases: the scanner's, and the store's tests'.
Status VisitCases(rocksdb::Iterator& cases,
                  const std::function<bool(const records::CaseRecord&)>& visit,
                  const std::atomic<bool>* cancel = nullptr);

class CaseScanner {
 public:
  struct Read {
    // false: this read has seen enough (the others sharing the walk go on).
    std::function<bool(const records::CaseRecord&)> visit;
    std::function<void(const Status&)> done;  // the outcome of the walk, for this read
    // On the worker thread, after a walk that ended well (optional): what `done` would
    // otherwise compute on the owner's thread from what `visit` gathered (sorts).
    std::function<void()> after_walk;
  };
  // An iterator over the committed case records; called on the worker thread at each walk.
  using OpenCases = std::function<std::unique_ptr<rocksdb::Iterator>()>;

  // At most `max_waiting` reads wait for the next walk.
  CaseScanner(OpenCases open_cases, size_t max_waiting);
  ~CaseScanner();
  CaseScanner(const CaseScanner&) = delete;
  CaseScanner& operator=(const CaseScanner&) = delete;

  // Queues `read` for the next walk. RATE_LIMITED with a retry hint (its `done` never runs)
  // when max_waiting reads wait already; UNAVAILABLE once stopped.
  Status Start(Read read);
  // Runs the `done` of every read finished since the last call, in the order they finished.
  void Collect();
  // Readable while finished reads wait for Collect() (common/wake_signal.h): poll it.
  int ready_fd() const { return ready_.fd(); }
  // Cancels the walk in progress and joins the worker; every read not answered yet finishes
  // with `why` (the next Collect runs their `done`). Start refuses from then on.
  void Stop(const Status& why);
  // Reads started whose `done` has not run yet.
  size_t outstanding() const { return outstanding_; }

  // Tests: while held, the worker waits before starting the next walk.
  void HoldForTest(bool held);

 private:
  void Run();
  void Join();

  static constexpr int64_t kRetryAfterMs = 1000;
  const OpenCases open_cases_;
  const size_t max_waiting_;
  size_t outstanding_ = 0;  // owner's thread only
  bool stopped_ = false;    // owner's thread only
  std::atomic<bool> cancel_{false};
  WakeSignal ready_;  // raised while finished_ holds reads

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool held_ = false;
  std::deque<Read> waiting_;
  std::vector<Read> walking_;  // the reads of the walk in progress
  std::deque<std::pair<Read, Status>> finished_;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace aplus
