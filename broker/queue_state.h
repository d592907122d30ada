// What the broker keeps in memory for one queue: an index over the stored items, never the
// items themselves. Rebuilt at start-up from one pass over the queues family.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "broker/broker_metrics.h"

namespace aplus {

struct InFlightDelivery {
  std::string routing_id;     // session it was sent to
  int64_t lease_deadline_ms;  // steady clock: redelivered if not acked by then
  uint32_t attempt;
};

struct QueueState {
  std::string name;
  uint64_t next_sequence = 1;  // sequence of the next appended item
  uint64_t depth = 0;          // stored items (waiting or in flight)
  uint64_t dead_lettered = 0;  // items parked in this queue's dead-letter queue
  // Items with sequence >= cursor have never been handed out in this run.
  uint64_t cursor = 1;
  std::map<uint64_t, InFlightDelivery> in_flight;
  // Items handed out before (in this run or, after a restart, in an earlier one) that must be
  // sent again: older than anything past the cursor, so they go first.
  std::set<uint64_t> redeliver;
  // Attempts made in this run for items not yet acknowledged.
  std::map<uint64_t, uint32_t> attempts;

  // The partner this queue serves ("" for a mailbox) and its counters (null for a mailbox):
  // looked up once when the queue is first seen.
  std::string partner;
  std::string territory;
  BrokerMetrics::PartnerCounters* metrics = nullptr;

  // Enqueue times (wall clock, ms), for the oldest item's age (metrics, Stats). Kept in memory
  // only: no write per message. Items stored before this start have no recorded time: they
  // all count as old as the oldest of them (read once at start-up), an upper bound that
  // errs towards an alert, until the last of them has left.
  std::map<uint64_t, int64_t> enqueued_ms;  // items added (or requeued) in this run
  // The same times, ordered: a requeued item keeps its old (small) sequence with a new time,
  // so the smallest sequence is not the oldest time.
  std::multiset<int64_t> enqueue_times;
  uint64_t restored_below = 0;     // items with a smaller sequence were stored at start-up
  uint64_t restored_left = 0;      // ... of which this many are still stored
  int64_t restored_oldest_ms = 0;  // the oldest of them, when it was enqueued

  bool HasWork() const { return !redeliver.empty() || cursor < next_sequence; }
  // An item entered the queue (appended, or requeued from its dead letters).
  void Enqueued(uint64_t sequence, int64_t now_ms) {
    auto [it, inserted] = enqueued_ms.try_emplace(sequence, now_ms);
    if (!inserted) {
      enqueue_times.erase(enqueue_times.find(it->second));
      it->second = now_ms;
    }
    enqueue_times.insert(now_ms);
  }
  // A stored item left the queue (acknowledged, withdrawn, dead-lettered).
  void Removed(uint64_t sequence) {
    auto it = enqueued_ms.find(sequence);
    if (it != enqueued_ms.end()) {
      enqueue_times.erase(enqueue_times.find(it->second));
      enqueued_ms.erase(it);
    } else if (sequence < restored_below && restored_left > 0) {
      --restored_left;
    }
  }
  // When the oldest stored item was enqueued; nullopt when the queue is empty.
  std::optional<int64_t> OldestEnqueuedMs() const {
    std::optional<int64_t> oldest;
    if (restored_left > 0) oldest = restored_oldest_ms;
    if (!enqueue_times.empty()) {
      int64_t first = *enqueue_times.begin();
      oldest = oldest ? std::min(*oldest, first) : first;
    }
    return oldest;
  }
};

}  // namespace aplus
