#include "tools/aplus/alert_commands.h"

#include <signal.h>
#include <strings.h>

#include <cerrno>
#include <csignal>
#include <iostream>
#include <algorithm>
#include <set>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/endpoint_list.h"
#include "common/sync_client.h"
#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

// Longest wait between two checks of the stop flag and the --for-seconds limit.
constexpr int64_t kPollSliceMs = 200;
// How often a follower asks the broker for what was raised since the last alert it
// considered (the stored alerts are the source of truth; the stream is only fast).
constexpr int64_t kCatchUpEveryMs = 2000;
// A catch-up call waits no longer than this (the broker may be down: the next one retries).
constexpr int kCatchUpTimeoutMs = 2000;
constexpr uint32_t kCatchUpPage = AlertFollower::kCatchUpPage;

volatile std::sig_atomic_t stop_requested = 0;

void RequestStop(int) { stop_requested = 1; }

// SIGINT/SIGTERM end a follow cleanly (exit 0). No SA_RESTART: a blocked poll returns EINTR.
void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = RequestStop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::string KindName(wire::Alert::Kind kind) {
  if (kind == wire::Alert::KIND_UNSPECIFIED) return "-";
  const std::string& name = wire::Alert::Kind_Name(kind);
  return name.empty() ? std::to_string(static_cast<int>(kind)) : name;
}

std::string PartnerCell(const wire::Alert& alert) {
  return alert.territory().empty() ? alert.partner()
                                   : alert.partner() + " (" + alert.territory() + ")";
}

wire::Envelope ListRequest(const AlertFilter& filter) { return AlertListRequest(filter); }

void PrintAlertLine(const GlobalOptions& options, const wire::Alert& alert) {
  if (options.json) {
    std::cout << MessageJson(alert) << std::endl;  // endl: each line reaches a pipe at once
  } else {
    std::cout << RenderAlertLine(alert) << std::flush;
  }
}

}  // namespace

wire::Alert::Kind ParseAlertKind(const std::string& text) {
  if (strcasecmp(text.c_str(), "warning") == 0) return wire::Alert::WARNING;
  if (strcasecmp(text.c_str(), "breach") == 0) return wire::Alert::BREACH;
  if (strcasecmp(text.c_str(), "dead-letter") == 0) return wire::Alert::DEAD_LETTER;
  return wire::Alert::KIND_UNSPECIFIED;
}

std::string RenderAlertList(const wire::AlertList& list) {
  if (list.alerts().empty()) return "no alerts\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& alert : list.alerts()) {
    rows.push_back({alert.alert_id(), KindName(alert.kind()), alert.case_id(), PartnerCell(alert),
                    alert.contact_point(), FormatMinute(alert.deadline_ms()),
                    FormatMinute(alert.raised_at_ms()),
                    alert.acked_by().empty() ? "-" : alert.acked_by()});
  }
  return RenderTable(
      {"ALERT", "KIND", "CASE", "PARTNER", "CONTACT POINT", "DEADLINE", "RAISED", "ACKED BY"},
      rows);
}

std::string RenderAlertLine(const wire::Alert& alert) {
  std::string kind = KindName(alert.kind());
  kind.resize(std::max<size_t>(kind.size(), 7), ' ');  // "WARNING" and "BREACH " line up
  std::string line = FormatSecond(alert.raised_at_ms()) + "  " + kind + "  " + alert.alert_id() +
                     "  case " + alert.case_id() + "  " + PartnerCell(alert) + "  " +
                     alert.contact_point() + "  deadline " + FormatMinute(alert.deadline_ms());
  if (!alert.acked_by().empty()) {
    line += "  taken by " + alert.acked_by() + " at " + FormatMinute(alert.acked_at_ms());
  }
  return OneLine(line) + "\n";
}

int RunAlerts(const GlobalOptions& options, const AlertFilter& filter) {
  auto answer = Exchange(options, options.broker, OperatorHello(options), ListRequest(filter),
                         wire::Envelope::kAlertList);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->alert_list(), RenderAlertList(answer->alert_list()));
}

int RunAlertsFollow(const GlobalOptions& options, const AlertFilter& filter, int for_seconds) {
  InstallStopHandlers();
  int64_t end_ms = for_seconds > 0 ? SteadyNowMs() + for_seconds * int64_t{1000} : INT64_MAX;
  zmq::context_t context(1);
  zmq::socket_t subscriber(context, zmq::socket_type::sub);
  subscriber.set(zmq::sockopt::linger, 0);
  auto keys = BrokerKeys(options);
  if (!keys.ok()) return ReportFailure(options, keys.status());
  // The alert stream is CURVE too: the broker admits operators' keys only.
  if (keys->has_value()) ApplyCurveClient(subscriber, **keys);
  try {
    for (const auto& prefix : AlertTopicPrefixes(filter)) {
      subscriber.set(zmq::sockopt::subscribe, prefix);
    }
    // A pair of brokers: both publication endpoints at once (only the leader publishes; the
    // follower shows an alert heard twice once).
    for (const auto& endpoint : EndpointListOrSelf(options.alerts)) subscriber.connect(endpoint);
  } catch (const zmq::error_t& e) {
    ReportFailure(options, Status(wire::INVALID_ARGUMENT,
                                  "cannot use endpoint " + options.alerts + ": " + e.what()));
    return kExitUsage;
  }

  // Subscribed first, listed second: an alert raised in between shows up in both, and its
  // sequence keeps it to one line.
  AlertFollower follower(filter);
  auto open = Exchange(options, options.broker, OperatorHello(options), ListRequest(filter),
                       wire::Envelope::kAlertList);
  if (!open.ok()) return ReportFailure(options, open.status());
  for (const auto& alert : open->alert_list().alerts()) {
    if (follower.OfferCaughtUp(alert)) PrintAlertLine(options, alert);
  }
  follower.Advance(open->alert_list().scanned_to_sequence());

  // The stream misses what is published while it is disconnected (a broker restart, a network
  // blip): every few seconds, the broker is asked for what was raised since the last alert
  // considered. A broker that does not answer is asked again at the next round.
  // One session for every catch-up (it says Hello again by itself after a broker restart).
  SyncClient broker(context, options.broker, OperatorHello(options),
                    keys->has_value() ? std::optional<CurveClientKeys>(**keys) : std::nullopt);
  const int catch_up_timeout_ms = std::min(options.timeout_ms, kCatchUpTimeoutMs);
  int64_t next_catch_up_ms = SteadyNowMs() + kCatchUpEveryMs;
  auto catch_up = [&] {
    while (!stop_requested) {
      auto answer = broker.CallOk(follower.CatchUpRequest(), catch_up_timeout_ms);
      if (!answer.ok() || !answer->has_alert_list()) return;
      for (const auto& alert : answer->alert_list().alerts()) {
        if (follower.OfferCaughtUp(alert)) PrintAlertLine(options, alert);
      }
      // What the broker looked at and filtered out needs no second look.
      follower.Advance(answer->alert_list().scanned_to_sequence());
      if (answer->alert_list().alerts_size() < static_cast<int>(kCatchUpPage)) return;
    }
  };

  while (!stop_requested) {
    int64_t now = SteadyNowMs();
    int64_t left = end_ms - now;
    if (left <= 0) break;
    if (now >= next_catch_up_ms) {
      catch_up();
      next_catch_up_ms = SteadyNowMs() + kCatchUpEveryMs;
      continue;
    }
    zmq::pollitem_t item{subscriber.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1,
                std::chrono::milliseconds(std::min({left, kPollSliceMs, next_catch_up_ms - now})));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // a signal: the loop condition decides
      return ReportFailure(options, Status(wire::INTERNAL, std::string("poll: ") + e.what()));
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> frames;
    try {
      do {
        frames.emplace_back();
        if (!subscriber.recv(frames.back(), zmq::recv_flags::dontwait)) break;
      } while (frames.back().more());
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return ReportFailure(options, Status(wire::INTERNAL, std::string("receive: ") + e.what()));
    }
    // Input from the network: anything but topic + Alert is skipped, never fatal.
    wire::Alert alert;
    if (frames.size() != 2 ||
        !alert.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
      continue;
    }
    if (follower.Offer(alert)) PrintAlertLine(options, alert);
  }
  return kExitOk;
}

int RunAlertAck(const GlobalOptions& options, const std::string& alert_id, const std::string& by) {
  wire::Envelope request;
  request.mutable_ack_alert()->set_alert_id(alert_id);
  request.mutable_ack_alert()->set_by(by.empty() ? options.operator_id : by);
  auto answer = Exchange(options, options.broker, OperatorHello(options), std::move(request),
                         wire::Envelope::kAlertAcked);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  const wire::Alert& alert = answer->alert_acked().alert();
  std::string human = RenderAlertLine(alert);
  std::string wanted = by.empty() ? options.operator_id : by;
  // The broker keeps the first taker: say so when it was someone else.
  if (!alert.acked_by().empty() && alert.acked_by() != wanted) {
    human += "already taken by " + alert.acked_by() + "\n";
  }
  if (!alert.text().empty()) human += OneLine(alert.text()) + "\n";
  return PrintAnswer(options, answer->alert_acked(), human);
}

}  // namespace aplus::cli
