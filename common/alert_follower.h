// Following the broker's SLA alerts without missing one: what `aplus alerts --follow` and the
// operator console (console/alert_feed.h) both do. Alerts come two ways: fast but lossy on the
// broker's alert PUB socket (two frames, the topic "alert.<KIND>.<partner>.<territory>" and a
// serialized wire::Alert), and slow but complete from ListAlerts.after_sequence (the stored
// alerts are the source of truth). AlertFollower merges both so that each alert is shown once.
// With a pair of brokers (docs/AVAILABILITY.md) the SUB socket is connected to both nodes'
// publication endpoints; only the leader publishes, and an alert heard from both (around a
// failover) carries the same replicated sequence and deterministic id: it is shown once.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "aplus.pb.h"

namespace aplus {

struct AlertFilter {
  std::string partner;                                     // "" = every partner
  std::string territory;                                   // "" = every territory
  wire::Alert::Kind kind = wire::Alert::KIND_UNSPECIFIED;  // unspecified = every kind
  bool include_acked = false;                              // --all
  uint32_t limit = 0;                                      // 0 = the broker's default (100)
};

// What a follower has shown: alerts are considered in sequence order up to a watermark (what a
// catch-up returned), and the stream's alerts above it are remembered by sequence until a
// catch-up passes them. Each alert is shown once, whichever way it comes first.
// Thread rules: one thread.
class AlertFollower {
 public:
  explicit AlertFollower(AlertFilter filter) : filter_(std::move(filter)) {}
  // An alert from the stream: true when it matches the filter and was not shown yet.
  bool Offer(const wire::Alert& alert);
  // An alert from a listing or catch-up (in sequence order, filtered by the broker): true when
  // not shown yet (nor acknowledged, unless include_acked); everything up to its sequence then
  // counts as considered.
  bool OfferCaughtUp(const wire::Alert& alert);
  // ListAlerts for what was raised after the watermark (the open alerts while it is 0).
  wire::Envelope CatchUpRequest() const;
  // Everything up to `sequence` counts as considered (a catch-up's scanned_to_sequence).
  void Advance(uint64_t sequence);
  uint64_t watermark() const { return watermark_; }
  // The largest catch-up page CatchUpRequest asks for: a full page means "ask again at once".
  static constexpr uint32_t kCatchUpPage = 1000;

 private:
  // True the first time this alert (by sequence; by id without one) is offered.
  bool Remember(const wire::Alert& alert);

  AlertFilter filter_;
  uint64_t watermark_ = 0;
  std::set<uint64_t> shown_above_;    // sequences shown from the stream, above the watermark
  std::set<std::string> shown_ids_;   // alerts without a sequence (an older broker)
};

// ListAlerts of `filter` (the open alerts).
wire::Envelope AlertListRequest(const AlertFilter& filter);

// The SUB prefixes for `filter`: "alert." for everything, "alert.BREACH." for one kind,
// "alert.BREACH.<partner>." for a kind and a partner (the topic cannot be narrowed to a partner
// without a kind: that filter, and the territory, are applied to the decoded alert).
std::vector<std::string> AlertTopicPrefixes(const AlertFilter& filter);

// Whether `alert` passes the partner, territory, kind and acked filters.
bool AlertMatches(const AlertFilter& filter, const wire::Alert& alert);

}  // namespace aplus
