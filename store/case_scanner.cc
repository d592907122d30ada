#include "store/case_scanner.h"

#include <string>

namespace aplus {

Status VisitCases(rocksdb::Iterator& cases,
                  const std::function<bool(const records::CaseRecord&)>& visit,
                  const std::atomic<bool>* cancel) {
  records::CaseRecord record;
  for (cases.SeekToFirst(); cases.Valid(); cases.Next()) {
    if (cancel && cancel->load(std::memory_order_relaxed)) {
      return Status(wire::UNAVAILABLE, "the read of the cases was cancelled: the broker is stopping");
    }
    const rocksdb::Slice value = cases.value();
    if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      // The id part of the key: the number before it is binary (store/KEY_LAYOUT.md).
      std::string id = cases.key().size() > 8 ? cases.key().ToString().substr(8) : "?";
      return Status(wire::INTERNAL, "stored record of case " + id + " is unreadable");
    }
    if (!visit(record)) return Status::Ok();
  }
  if (cases.status().ok()) return Status::Ok();
  return Status(wire::UNAVAILABLE, "reading the cases failed: " + cases.status().ToString());
}

CaseScanner::CaseScanner(OpenCases open_cases, size_t max_waiting)
    : open_cases_(std::move(open_cases)), max_waiting_(max_waiting), thread_([this] { Run(); }) {}

CaseScanner::~CaseScanner() { Join(); }

void CaseScanner::Join() {
  cancel_.store(true);
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status CaseScanner::Start(Read read) {
  if (stopped_) return Status(wire::UNAVAILABLE, "the broker is stopping");
  {
    std::lock_guard lock(mutex_);
    if (waiting_.size() >= max_waiting_) {
      return Status(wire::RATE_LIMITED,
                    std::to_string(waiting_.size()) +
                        " reads of every case (reports, SLA boards) are already waiting: ask "
                        "again once they are answered")
          .WithRetryAfterMs(kRetryAfterMs);
    }
    waiting_.push_back(std::move(read));
  }
  ++outstanding_;
  wake_.notify_all();
  return Status::Ok();
}

void CaseScanner::Collect() {
  std::deque<std::pair<Read, Status>> finished;
  {
    std::lock_guard lock(mutex_);
    ready_.Clear();  // under the lock: a read finishing after this raises it again
    finished.swap(finished_);
  }
  for (auto& [read, status] : finished) {
    --outstanding_;
    read.done(status);
  }
}

void CaseScanner::Stop(const Status& why) {
  if (stopped_) return;
  stopped_ = true;
  Join();
  // The worker is gone: what it had not finished finishes with `why`.
  std::lock_guard lock(mutex_);
  for (auto& read : walking_) finished_.emplace_back(std::move(read), why);
  walking_.clear();
  for (auto& read : waiting_) finished_.emplace_back(std::move(read), why);
  waiting_.clear();
  if (!finished_.empty()) ready_.Raise();
}

void CaseScanner::HoldForTest(bool held) {
  {
    std::lock_guard lock(mutex_);
    held_ = held;
  }
  wake_.notify_all();
}

void CaseScanner::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stop_ || (!held_ && !waiting_.empty()); });
    if (stop_) return;
    walking_.assign(std::make_move_iterator(waiting_.begin()),
                    std::make_move_iterator(waiting_.end()));
    waiting_.clear();
    lock.unlock();
    // walking_ is the worker's until it hands the reads back under the lock: Stop() touches it
    // only after joining.
    std::vector<bool> seen_enough(walking_.size(), false);
    size_t still_reading = walking_.size();
    auto cases = open_cases_();
    Status status = VisitCases(*cases, [&](const records::CaseRecord& record) {
      for (size_t i = 0; i < walking_.size(); ++i) {
        if (seen_enough[i] || walking_[i].visit(record)) continue;
        seen_enough[i] = true;
        --still_reading;
      }
      return still_reading > 0;
    }, &cancel_);
    cases.reset();  // the snapshot is released before the answers are built
    if (status.ok()) {
      for (auto& read : walking_) {
        if (read.after_walk) read.after_walk();
      }
    }
    lock.lock();
    if (stop_) return;  // cancelled: Stop() answers the reads with its reason
    for (auto& read : walking_) finished_.emplace_back(std::move(read), status);
    walking_.clear();
    ready_.Raise();
  }
}

}  // namespace aplus
