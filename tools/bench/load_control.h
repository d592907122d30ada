// What the benchmark's main thread and its client threads share: the orders (atomics written by
// the main thread) and each worker's counters (atomics written by that worker only). Every
// counter counts answers actually received or frames actually sent; nothing is estimated.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>

namespace aplus::bench {

// Orders from the main thread. Thread rules: written by the main thread, read by workers.
struct LoadControl {
  std::atomic<bool> stop{false};            // workers close their sockets and return
  std::atomic<bool> sending{false};         // new submits may be sent
  // Closed loop: submits left to send across all workers (restart mode sends exactly N).
  std::atomic<int64_t> budget{std::numeric_limits<int64_t>::max()};
  // Open loop: steady ns of the first scheduled submit; new submits are scheduled only before
  // send_until_ns (both modes stop sending then).
  std::atomic<int64_t> schedule_start_ns{0};
  std::atomic<int64_t> send_until_ns{std::numeric_limits<int64_t>::max()};
  // Latency samples are kept for submits scheduled (or sent) inside [window_start, window_end).
  std::atomic<int64_t> window_start_ns{0};
  std::atomic<int64_t> window_end_ns{std::numeric_limits<int64_t>::max()};
  // Bumped to ask every connection for one Ping: its Pong proves that everything the connection
  // sent before (DeliveryAcks included, which have no answer) was applied and committed.
  std::atomic<uint64_t> flush_generation{0};
};

inline constexpr size_t kErrorCodeSlots = 16;

// One worker's counters. Thread rules: written by the owning worker only (relaxed), read by
// anyone at any time.
struct LoadCounters {
  std::atomic<uint64_t> submits_sent{0};
  std::atomic<uint64_t> accepted{0};        // Accepted answers received
  std::atomic<uint64_t> duplicates{0};      // ... of which duplicate = true (must stay 0)
  std::atomic<uint64_t> errors{0};          // Error envelopes received, any request
  std::array<std::atomic<uint64_t>, kErrorCodeSlots> errors_by_code{};
  std::atomic<uint64_t> outstanding{0};     // submits sent and not answered yet (a gauge)
  std::atomic<uint64_t> deliveries{0};      // escalation Deliveries received (every attempt)
  std::atomic<uint64_t> redeliveries{0};    // ... of which attempt > 1
  std::atomic<uint64_t> acked{0};           // delivery ids sent back in DeliveryAcks
  std::atomic<uint64_t> send_would_block{0};  // sends refused by a full pipe, retried later
  std::atomic<uint64_t> unexpected{0};      // answers to no request of ours, or of a wrong type
  std::atomic<uint64_t> pongs{0};
  std::atomic<uint64_t> ready_connections{0};  // welcomed (and, for partners, subscribed)
  std::atomic<uint64_t> failed_connections{0};  // Hello or Subscribe refused

  static void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void Sub(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
};

}  // namespace aplus::bench
