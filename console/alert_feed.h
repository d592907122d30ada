// The live alerts of the console: the broker's alert stream (a SUB socket, CURVE with the
// console's key) merged with catch-ups (ListAlerts.after_sequence) by AlertFollower
// (common/alert_follower.h), kept as the most recent alerts by sequence, and handed to browsers
// waiting on GET /api/alerts/stream.
//
// The HTTP front door answers one response per request, so the stream is served as a series of
// short responses: a waiting request is answered as soon as an alert newer than its cursor is
// known, or after the hold time with none (then only its cursor is repeated). The browser's
// EventSource reconnects after `retry` and sends the last id it saw (Last-Event-ID): nothing is
// missed as long as the missed alerts are among the kKeep most recent.
//
// Every broker request of the console names a person (Envelope.on_behalf_of): a catch-up runs
// on behalf of the person whose stream is waiting, so that nobody's alerts are read for no one.
//
// Thread rules: the console's loop thread only (socket(), OnReadable, OnTick, Wait).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/alert_follower.h"
#include "common/broker_link.h"
#include "common/curve_client.h"
#include "http/responder.h"

namespace aplus {

class AlertFeed {
 public:
  static constexpr size_t kKeep = 1000;           // recent alerts kept for reconnecting streams
  static constexpr int64_t kCatchUpEveryMs = 2000;

  // Subscribes to every alert topic of `endpoint`. `link` sends the catch-ups (it outlives
  // the feed).
  AlertFeed(zmq::context_t& context, const std::string& endpoint,
            const std::optional<CurveClientKeys>& curve, BrokerLink& link, int request_timeout_ms,
            int64_t hold_ms);

  zmq::socket_t& socket() { return socket_; }
  // Drains the stream; call when poll says the socket is readable.
  void OnReadable();
  // Answers the streams whose hold ran out, catches up every kCatchUpEveryMs while someone
  // waits. Call at least every kCatchUpEveryMs.
  void OnTick(int64_t now_ms);

  // A browser's stream request for the alerts after `after` (its Last-Event-ID), acting for
  // `person` in console session `session_id`: answered at once when newer alerts are known,
  // else held. At most kMaxStreamsPerSession held streams per session (a few tabs; a newer one
  // answers the session's oldest at once: a browser has only about six connections per host)
  // and kMaxWaiters in all (the oldest answered first), so held streams cannot use up the
  // server's connections.
  static constexpr size_t kMaxStreamsPerSession = 3;
  static constexpr size_t kMaxWaiters = 128;
  void Wait(http::Responder responder, uint64_t after, const std::string& person,
            const std::string& session_id, int64_t now_ms);
  // Answers the held stream of a session that ended (sign-out).
  void Forget(const std::string& session_id);

  // An alert the console saw change (acknowledged through it): the kept copy is replaced, so
  // that reconnecting browsers get the new state. Alerts not kept are ignored.
  void Update(const wire::Alert& alert);

  // The newest alert sequence known (0 before any).
  uint64_t newest() const { return recent_.empty() ? 0 : recent_.rbegin()->first; }
  size_t waiting() const { return waiters_.size(); }

  // The text/event-stream body of `alerts` (sequence order), ending with `cursor` as the last
  // event id; an empty list says only the cursor. Each alert is one event "alert" whose data is
  // its JSON (proto field names).
  // `retry_ms` is how long the browser waits before it reconnects.
  static std::string EventStreamBody(const std::vector<wire::Alert>& alerts, uint64_t cursor,
                                     int64_t retry_ms = kRetryMs);
  static constexpr int64_t kRetryMs = 1000;
  // A stream ended to make room (the caps above) reconnects this much later, so that tabs over
  // the cap take turns slowly instead of ending each other every second.
  static constexpr int64_t kEvictedRetryMs = 15000;

 private:
  struct Waiter {
    http::Responder responder;
    uint64_t after;
    std::string person;
    std::string session_id;
    int64_t deadline_ms;
  };
  // Answers `waiter` now with what it has (possibly no news).
  static void Release(Waiter& waiter, const std::vector<wire::Alert>& alerts,
                      int64_t retry_ms = kRetryMs);
  void Keep(const wire::Alert& alert);
  void CatchUp(const std::string& person);
  // Answers every waiter that has news (or, with `expired_at` set, whose hold ran out).
  void Answer(int64_t now_ms, bool only_news);
  std::vector<wire::Alert> After(uint64_t after) const;

  zmq::socket_t socket_;
  BrokerLink& link_;
  const int request_timeout_ms_;
  const int64_t hold_ms_;
  AlertFollower follower_;
  std::map<uint64_t, wire::Alert> recent_;  // by sequence, at most kKeep
  std::deque<Waiter> waiters_;
  bool catching_up_ = false;
  int64_t next_catch_up_ms_ = 0;
};

}  // namespace aplus
