// `aplus alerts [--follow] | alerts ack`: the SLA alerts of the broker, read by an operator
// session (OperatorHello), and followed live on the broker's alert PUB socket (--alerts).
//
// Published alerts are two frames: the topic "alert.<WARNING|BREACH|DEAD_LETTER>.<partner>.<territory>" and
// a serialized wire::Alert (proto/aplus.proto).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aplus.pb.h"
#include "common/alert_follower.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

// The filter and the follower are shared with the console (common/alert_follower.h).
using AlertFilter = aplus::AlertFilter;

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

// AckAlert; prints the alert with who took it. `by` "" = the operator id.
int RunAlertAck(const GlobalOptions& options, const std::string& alert_id, const std::string& by);

// Table: alert id, kind, case, partner (territory), contact point, deadline, raised at, acked by.
std::string RenderAlertList(const wire::AlertList& list);
// One line: raised at, kind, alert id, case, partner, contact point, deadline, acked by.
std::string RenderAlertLine(const wire::Alert& alert);

}  // namespace aplus::cli
