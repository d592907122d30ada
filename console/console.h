// aplus-console: the operators' web console. One program holding one CURVE key (role CONSOLE,
// "console.<id>") towards the broker, serving a web application (console/web/) and a JSON API
// (docs/console-api.md) to people who sign in with their own token (`aplus tokens add
// <operator id>`). The broker takes identity from keys only and a browser has none: every
// request the console sends names the signed-in person in Envelope.on_behalf_of, and the broker
// authorises and audits it as that person ("console/<id> for op/<person>"). The console
// decides nothing about rights itself: personal data, acknowledgements and requeues are the
// broker's to allow.
//
// Thread rules: one loop thread (Run) owns everything: the HTTP front door's requests, the
// broker link, the alert feed and the sessions. Open and the destructor run on the thread
// that calls Run.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/broker_link.h"
#include "common/live_token_store.h"
#include "common/network_config.h"
#include "common/status.h"
#include "console/alert_feed.h"
#include "console/console_options.h"
#include "console/console_sessions.h"
#include "console/rate_meter.h"
#include "http/http_front_door.h"
#include "metrics/http_request_metrics.h"
#include "metrics/program_metrics.h"

namespace aplus {

class Console {
 public:
  // Starts the HTTP listener and connects to the broker (lazily: the console starts, and
  // answers 503 for broker data, while the broker is away). INVALID_ARGUMENT for an unusable
  // token directory or listener options (non-loopback without TLS...), UNAVAILABLE when the
  // address cannot be bound.
  static Result<std::unique_ptr<Console>> Open(ConsoleOptions options, NetworkConfig config);
  ~Console();

  // Serves until `stop` is set (checked at least every 100 ms).
  void Run(const std::atomic<bool>& stop);

  // "http://127.0.0.1:7430" (https under TLS).
  std::string url() const;

 private:
  using Handler = std::function<void(HttpCall&&, const ConsoleSession&)>;

  Console(ConsoleOptions options, NetworkConfig config);
  std::vector<HttpRoute> Routes();
  // A route for signed-in people only: 401 without a live session; for a POST, 403 unless
  // X-CSRF-Token is the session's.
  HttpRoute Signed(std::string method, std::string pattern, Handler handler);

  // Sends `request` for the session's person; `on_answer` gets the answer when its body is
  // `expected`, otherwise the call is answered with the problem (the broker's refusal mapped to
  // its HTTP status, 503 when the broker did not answer in time).
  void Ask(const ConsoleSession& session, wire::Envelope request, const http::Responder& responder,
           wire::Envelope::BodyCase expected, std::function<void(const wire::Envelope&)> on_answer);

  // Route handlers (console_routes.cc).
  void SignIn(HttpCall&& call);
  // Whether the token `session` was opened with is still in the token directory.
  bool TokenStillValid(const ConsoleSession& session) const;
  void SignOut(HttpCall&& call, const ConsoleSession& session);
  void Me(HttpCall&& call, const ConsoleSession& session);
  void Overview(HttpCall&& call, const ConsoleSession& session);
  void Queues(HttpCall&& call, const ConsoleSession& session);
  void DeadLetters(HttpCall&& call, const ConsoleSession& session);
  void Requeue(HttpCall&& call, const ConsoleSession& session);
  void SlaBoard(HttpCall&& call, const ConsoleSession& session);
  void Alerts(HttpCall&& call, const ConsoleSession& session);
  void AlertStream(HttpCall&& call, const ConsoleSession& session);
  void AckAlert(HttpCall&& call, const ConsoleSession& session);
  void Case(HttpCall&& call, const ConsoleSession& session);
  void CaseAudit(HttpCall&& call, const ConsoleSession& session);
  void Reports(HttpCall&& call, const ConsoleSession& session);
  void StaticFile(HttpCall&& call);
  void Metrics(HttpCall&& call);

  const ConsoleOptions options_;
  const NetworkConfig config_;
  zmq::context_t context_{1};
  std::unique_ptr<BrokerLink> link_;  // before feed_: the feed holds a reference to it
  std::unique_ptr<AlertFeed> feed_;
  LiveTokenStore tokens_;             // the people's sign-in tokens
  int64_t next_token_check_ms_ = 0;   // tokens_ reloaded at most once a second
  // The latest report (Console::Reports): one computation at a time, kept kReportCacheMs.
  static constexpr int64_t kReportCacheMs = 60'000;
  struct ReportCache {
    std::string key;  // "<from_ms>/<to_ms>"
    int64_t made_ms = 0;
    http::HttpResponse response;
    bool computing = false;
    std::vector<http::Responder> waiting;
  };
  ReportCache report_cache_;
  ConsoleSessions sessions_;
  RateMeter rates_;
  ProgramMetrics metrics_;
  HttpRequestMetrics http_requests_{metrics_.registry()};  // aplus_http_requests_total
  std::unique_ptr<HttpFrontDoor> door_;
};

}  // namespace aplus
