// `aplus alerts [--follow] | alerts ack`: the SLA alerts of the broker, read by an operator
// session (OperatorHello), and followed live on the broker's alert PUB socket (--alerts).
//
// Published alerts are two frames: the topic "alert.<WARNING|BREACH|DEAD_LETTER>.<partner>.<territory>" and
// a serialized wire::Alert (proto/aplus.proto).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "aplus.pb.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

struct AlertFilter {
  std::string partner;                                     // "" = every partner
  std::string territory;                                   // "" = every territory
  wire::Alert::Kind kind = wire::Alert::KIND_UNSPECIFIED;  // unspecified = both kinds
  bool include_acked = false;                              // --all
  uint32_t limit = 0;                                      // 0 = the broker's default (100)
};

// "warning" / "breach" (any case) -> the kind; KIND_UNSPECIFIED for anything else.
wire::Alert::Kind ParseAlertKind(const std::string& text);

// ListAlerts; prints the table (or one AlertList JSON object).
int RunAlerts(const GlobalOptions& options, const AlertFilter& filter);

// Subscribes to the alert topics of `filter`, prints the open alerts (ListAlerts), then every
// alert raised later that matches, once per alert sequence, one line each (JSON Lines under
// --json), until SIGINT/SIGTERM (exit 0) or `for_seconds` have elapsed (0 = no limit). The
// subscription is made before the list is read, so an alert raised in between is not missed;
// every 2 s the broker is asked for the alerts raised since the last one considered
// (ListAlerts.after_sequence), so alerts published while the stream was disconnected (a broker
// restart, a network blip) are shown too. A broker that does not answer is asked again.
int RunAlertsFollow(const GlobalOptions& options, const AlertFilter& filter, int for_seconds);

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
  // not shown yet (nor acknowledged, unless --all); everything up to its sequence then counts
  // as considered.
  bool OfferCaughtUp(const wire::Alert& alert);
  // ListAlerts for what was raised after the watermark (the open alerts while it is 0).
  wire::Envelope CatchUpRequest() const;
  // Everything up to `sequence` counts as considered (a catch-up's scanned_to_sequence).
  void Advance(uint64_t sequence);
  uint64_t watermark() const { return watermark_; }

 private:
  // True the first time this alert (by sequence; by id without one) is offered.
  bool Remember(const wire::Alert& alert);

  AlertFilter filter_;
  uint64_t watermark_ = 0;
  std::set<uint64_t> shown_above_;    // sequences shown from the stream, above the watermark
  std::set<std::string> shown_ids_;   // alerts without a sequence (an older broker)
};

// AckAlert; prints the alert with who took it. `by` "" = the operator id.
int RunAlertAck(const GlobalOptions& options, const std::string& alert_id, const std::string& by);

// The SUB prefixes for `filter`: "alert." for everything, "alert.BREACH." for one kind,
// "alert.BREACH.<partner>." for a kind and a partner (the topic cannot be narrowed to a partner
// without a kind: that filter, and the territory, are applied to the decoded alert).
std::vector<std::string> AlertTopicPrefixes(const AlertFilter& filter);

// Whether `alert` passes the partner, territory, kind and acked filters.
bool AlertMatches(const AlertFilter& filter, const wire::Alert& alert);

// Table: alert id, kind, case, partner (territory), contact point, deadline, raised at, acked by.
std::string RenderAlertList(const wire::AlertList& list);
// One line: raised at, kind, alert id, case, partner, contact point, deadline, acked by.
std::string RenderAlertLine(const wire::Alert& alert);

}  // namespace aplus::cli
