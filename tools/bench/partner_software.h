// The partner's own software in `aplus-bench --mode gateways`: for one partner gateway, it
// takes the deliveries the way real partner software does, over that gateway's HTTP API:
//   - one reader long-polls GET /v1/events?after=CURSOR&wait=1&limit=1000 and keeps the
//     `case.delivered` events (each is written in the same fsynced batch as the stored
//     escalation, so an event read is an escalation stored by the partner gateway);
//   - `ack_connections` workers take each delivered case (POST /v1/cases/{id}/ack, with an
//     Idempotency-Key) over keep-alive connections: 200 when the broker confirmed it, 202 when
//     the gateway holds it durably in its outbox; both count as taken.
// The feed rather than webhooks: the feed hands out up to 1,000 events per request, where the
// webhook sender POSTs one event at a time in feed order and waits for each answer (signed,
// durably queued): made for reliability, not for volume.
//
// Every other status and every transport error is counted by kind, never dropped; a case
// whose ack failed is not retried (the run reports it as an error).
//
// Thread rules: Start() and Stop() on one thread; the counters and Snapshot() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace aplus::bench {

struct PartnerSoftwareOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string token;             // Authorization: Bearer
  uint32_t ack_connections = 8;  // concurrent POST .../ack
  std::string run_tag;           // makes the Idempotency-Keys of a run unique
};

struct PartnerSoftwareSnapshot {
  uint64_t delivered = 0;  // distinct case.delivered events read from the feed
  uint64_t duplicate_deliveries = 0;  // case.delivered for a case already read
  uint64_t other_events = 0;
  uint64_t acked = 0;         // 200
  uint64_t acked_queued = 0;  // 202 (held durably in the gateway's outbox)
  uint64_t feed_requests = 0;
  std::map<std::string, uint64_t> errors;  // "ack status 409", "feed transport: ...": count
};

class PartnerSoftware {
 public:
  explicit PartnerSoftware(PartnerSoftwareOptions options);
  ~PartnerSoftware();  // Stop()
  PartnerSoftware(const PartnerSoftware&) = delete;
  PartnerSoftware& operator=(const PartnerSoftware&) = delete;

  void Start();
  // Stops reading and acking (what is in flight finishes; a long poll ends within ~1 s).
  void Stop();

  PartnerSoftwareSnapshot Snapshot() const;
  // Steady ns at which each delivered case was read from the feed / its ack answered (200 or
  // 202); for end-to-end latencies. Call after Stop().
  const std::unordered_map<std::string, int64_t>& read_ns() const { return read_ns_; }
  const std::unordered_map<std::string, int64_t>& acked_ns() const { return acked_ns_; }

 private:
  void ReadFeed();
  void AckCases();
  void CountError(const std::string& kind);

  const PartnerSoftwareOptions options_;
  std::atomic<bool> running_{false};
  std::vector<std::thread> threads_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable work_;
  std::deque<std::string> to_ack_;
  std::unordered_map<std::string, int64_t> read_ns_;
  std::unordered_map<std::string, int64_t> acked_ns_;
  PartnerSoftwareSnapshot counts_;
};

}  // namespace aplus::bench
