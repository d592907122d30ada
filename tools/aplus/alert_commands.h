// `aplus alerts [--follow] | alerts ack`: the SLA alerts of the broker, read by an operator
// session (OperatorHello), and followed live on the broker's alert PUB socket (--alerts).
//
// Published alerts are two frames: the topic "alert.<WARNING|BREACH>.<partner>.<territory>" and
// a serialized wire::Alert (proto/aplus.proto).
#pragma once

#include <cstdint>
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
// published alert that matches, once per alert id, one line each (JSON Lines under --json),
// until SIGINT/SIGTERM (exit 0) or `for_seconds` have elapsed (0 = no limit). The subscription
// is made before the list is read, so an alert raised in between is not missed.
int RunAlertsFollow(const GlobalOptions& options, const AlertFilter& filter, int for_seconds);

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
