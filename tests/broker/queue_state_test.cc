// QueueState's oldest-item age (aplus_queue_oldest_message_age_seconds, Stats): the oldest
// TIME, not the smallest sequence, since a requeued dead letter keeps its old sequence.
#include "broker/queue_state.h"

#include <doctest/doctest.h>

using namespace aplus;

TEST_CASE("a requeued item with an old sequence does not hide an older waiting item") {
  QueueState queue;
  CHECK_FALSE(queue.OldestEnqueuedMs());
  queue.Enqueued(3, 1'000);     // will be dead-lettered
  queue.Enqueued(10, 5'000);    // waits
  queue.Removed(3);             // parked
  CHECK(*queue.OldestEnqueuedMs() == 5'000);
  queue.Enqueued(3, 90'000);    // requeued an hour later, same sequence
  CHECK(*queue.OldestEnqueuedMs() == 5'000);
  queue.Removed(10);
  CHECK(*queue.OldestEnqueuedMs() == 90'000);
  queue.Enqueued(3, 95'000);    // requeued again while still stored: one entry, new time
  CHECK(*queue.OldestEnqueuedMs() == 95'000);
  queue.Removed(3);
  CHECK_FALSE(queue.OldestEnqueuedMs());
}

TEST_CASE("items restored at start-up count as old as the oldest of them until they leave") {
  QueueState queue;
  queue.restored_below = 5;
  queue.restored_left = 2;
  queue.restored_oldest_ms = 100;
  queue.Enqueued(5, 50'000);
  CHECK(*queue.OldestEnqueuedMs() == 100);
  queue.Removed(1);
  queue.Removed(2);
  CHECK(*queue.OldestEnqueuedMs() == 50'000);
}
