#include "store/purge_compactor.h"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

namespace aplus {
namespace {

// `into` grows to cover `range` too (an unbounded side stays unbounded).
void Widen(KeyRange& into, const KeyRange& range) {
  if (!into.first || !range.first) {
    into.first.reset();
  } else if (*range.first < *into.first) {
    into.first = range.first;
  }
  if (!into.last || !range.last) {
    into.last.reset();
  } else if (*range.last > *into.last) {
    into.last = range.last;
  }
}

}  // namespace

PurgeCompactor::PurgeCompactor(RocksDb& db, int64_t min_interval_ms)
    : db_(db), min_interval_(std::max<int64_t>(min_interval_ms, 0)) {
  thread_ = std::thread([this] { Run(); });
}

PurgeCompactor::~PurgeCompactor() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  canceled_.store(true);
  wake_.notify_all();
  thread_.join();
}

void PurgeCompactor::Request(uint64_t generation, std::vector<KeyRange> ranges) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requested_ = std::max(requested_, generation);
    for (auto& range : ranges) {
      auto [it, inserted] = pending_.emplace(range.family, range);
      if (!inserted) Widen(it->second, range);
    }
  }
  wake_.notify_all();
}

void PurgeCompactor::Run() {
  using SteadyClock = std::chrono::steady_clock;
  // The first run may start at once: nothing ran before it.
  SteadyClock::time_point next_allowed = SteadyClock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || requested_ > completed_.load(); });
    if (stop_) return;
    // Honour the interval; requests arriving meanwhile join this run.
    if (wake_.wait_until(lock, next_allowed, [&] { return stop_; })) return;
    uint64_t generation = requested_;
    std::vector<KeyRange> ranges;
    for (auto& [family, range] : pending_) ranges.push_back(range);
    pending_.clear();
    lock.unlock();
    next_allowed = SteadyClock::now() + min_interval_;
    Status status = Compact(ranges);
    lock.lock();
    if (status.ok()) {
      completed_.store(generation);
      runs_.fetch_add(1);
      spdlog::info("retention: purge pass {} flushed and compacted ({} key ranges)", generation,
                   ranges.size());
    } else {
      if (stop_) return;
      failures_.fetch_add(1);
      // A failing disk is not hammered, whatever the interval.
      next_allowed = std::max(next_allowed, SteadyClock::now() + std::chrono::seconds(1));
      spdlog::error("retention: compaction of purge pass {} failed, retried later: {}", generation,
                    status.ToString());
      // Put the ranges back for the next run.
      for (auto& range : ranges) {
        auto [it, inserted] = pending_.emplace(range.family, range);
        if (!inserted) Widen(it->second, range);
      }
    }
  }
}

Status PurgeCompactor::Compact(const std::vector<KeyRange>& ranges) {
  // The flush first: it moves the overwriting values out of the memtables and retires every
  // log file that still holds the old ones. Every family, because a log file is deleted only
  // once no family needs it.
  Status flushed = db_.FlushAll();
  if (!flushed.ok()) return flushed;
  for (const auto& range : ranges) {
    Status compacted = db_.CompactRangeForced(range, &canceled_);
    if (!compacted.ok()) return compacted;
  }
  return Status::Ok();
}

}  // namespace aplus
