// What the broker keeps in memory for one queue: an index over the stored items, never the
// items themselves. Rebuilt at start-up from one pass over the queues family.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

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

  bool HasWork() const { return !redeliver.empty() || cursor < next_sequence; }
};

}  // namespace aplus
