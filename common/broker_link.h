// A gateway's connection to the broker: one DEALER socket, the session (Hello, Welcome,
// Subscribe), liveness (pings), request/answer correlation with timeouts, and deliveries.
// It is driven by the gateway's own poll loop: poll `socket()`, call OnReadable() when it is
// readable and OnTick() at least every NextWakeInMs() milliseconds.
//
// The link heals itself (see "Broker instances" in proto/aplus.proto). It remembers the
// broker instance id of its Welcome; a Pong or Welcome naming another instance, or a
// NOT_AUTHENTICATED answer to anything (Subscribe included), means the broker restarted and
// forgot the session: the link fails its pending requests (UNREACHABLE, so that outboxes send
// them again), says Hello at once, re-subscribes after the Welcome and runs the ready handler
// (outboxes flush). A Subscribe refused with a transient error (common/retry_policy.h) or left
// unanswered is sent again with backoff. Pings go every kPingEveryMs, so a broker restarted
// within the silence limit is noticed within about a second of it being ready.
//
// The link follows the leader of a pair of brokers (docs/AVAILABILITY.md, "Clients follow the
// leader"). It is given a list of endpoints (common/endpoint_list.h) and talks to one at a
// time. An Error NOT_LEADER (to Hello or to anything else) moves it to Error.leader_endpoint
// when that is one of its endpoints, else to the next one of the list; a broker silent for the
// silence limit also moves it to the next one. A move is the re-Hello path on a fresh socket:
// pending requests fail UNREACHABLE (outboxes send them again), Hello goes at once, Subscribe
// after the Welcome, then the ready handler. Once the link has moved through the whole list
// without a Welcome (no leader anywhere yet), further Hellos wait with backoff, never a storm.
// With one endpoint, NOT_LEADER is a refused Hello: asked again with backoff on the same one.
// A NOT_LEADER with a retry hint (Error.retry_after_ms) comes from a standby that may take over
// and no longer hears its leader: the link stays on it and says Hello again after the hint,
// instead of going back to the dead leader it still names while that leader's lease runs out.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/curve_client.h"
#include "common/retry_policy.h"
#include "common/status.h"

namespace aplus {

// Thread rules: everything runs on the owning gateway's loop thread; handlers are called on it.
class BrokerLink {
 public:
  using AnswerHandler = std::function<void(Result<wire::Envelope>)>;
  using DeliveryHandler = std::function<void(wire::Delivery&&)>;
  using ReadyHandler = std::function<void()>;

  // `endpoints`: one broker endpoint or a comma-separated list of a pair's (the link starts
  // with the first; a list that does not parse is taken as one endpoint: validate flags with
  // ParseEndpointList). `window` is the credit window asked for after Welcome (0 = do not
  // subscribe). `curve` unset = a plain connection, for a broker run with --insecure.
  BrokerLink(zmq::context_t& context, const std::string& endpoints, wire::Hello hello,
             uint32_t window, std::optional<CurveClientKeys> curve);
  ~BrokerLink();
  BrokerLink(const BrokerLink&) = delete;
  BrokerLink& operator=(const BrokerLink&) = delete;

  zmq::socket_t& socket() { return *socket_; }

  // Called for each Delivery pushed by the broker. Acknowledge with AckDeliveries once the
  // item is durable on the gateway's side.
  void SetDeliveryHandler(DeliveryHandler handler) { on_delivery_ = std::move(handler); }
  // Called each time a session is (re)established with the broker, and when a broker whose
  // Pongs said it acknowledged nothing (a pair's strict leader without a standby) says it
  // acknowledges again: flush outboxes then.
  void SetReadyHandler(ReadyHandler handler) { on_ready_ = std::move(handler); }
  // Fills each Ping before it is sent (a partner gateway reports its failing webhooks there).
  using PingFiller = std::function<void(wire::Ping&)>;
  void SetPingFiller(PingFiller filler) { fill_ping_ = std::move(filler); }

  // True once the broker welcomed this session and it has heard from the broker recently.
  bool ready() const { return ready_; }
  // The broker instance that welcomed the current session ("" before the first Welcome).
  const std::string& instance_id() const { return instance_id_; }
  // True once the broker confirmed the current session's Subscribe.
  bool subscribed() const { return subscribed_; }
  // Sessions established so far (1 after the first Welcome); for tests and logs.
  uint64_t sessions() const { return sessions_; }
  // The endpoint the link talks to now (one of its list).
  const std::string& endpoint() const { return endpoints_[current_]; }
  // Times the link moved to another endpoint of its list (or to the same one again, with a
  // list of one); for tests and logs.
  uint64_t moves() const { return moves_; }

  // Fail-stop: the gateway lost durability. From now on nothing is sent to the broker (no
  // acknowledgement, no request); requests are answered UNAVAILABLE at once.
  void Halt() { halted_ = true; }

  // Sends `request` when the session is ready. `handler` is called exactly once: with the
  // broker's answer (possibly an Error body), or with UNREACHABLE when no answer came within
  // `timeout_ms` or the session is not ready.
  void Request(wire::Envelope request, int timeout_ms, AnswerHandler handler);

  // Tells the broker these deliveries are durable here.
  void AckDeliveries(const std::string& queue, const std::vector<uint64_t>& delivery_ids);

  // Drains the socket; call when poll says it is readable.
  void OnReadable();
  // Expires requests, sends pings and hellos. Call at least every NextWakeInMs().
  void OnTick();
  int NextWakeInMs() const;

 private:
  struct Pending {
    int64_t deadline_ms;
    AnswerHandler handler;
  };
  void Reconnect();
  void SendHello();
  // Leaves the current endpoint for `leader` when it is in the list, else for the next one:
  // fails what is pending, connects a fresh socket and says Hello (at once, or after backoff
  // once the whole list was tried without a Welcome).
  void MoveOn(const std::string& why, const std::string& leader);
  // A standby answered NOT_LEADER with a retry hint: it may take over and no longer hears its
  // leader (dead or frozen, its etcd lease running out), so it is about to win. The link stays
  // on it instead of going back to the leader it names: pending requests fail UNREACHABLE,
  // Hello is said again after the hint (bounded), and the link is welcomed as soon as the
  // standby leads. At most kElectionStayMaxMs: then the link goes to the leader it names.
  void StayForElection(const std::string& why, int64_t retry_after_ms);
  // Not in a session any more (a fresh socket, or a standby's answer): no Welcome, no
  // Subscribe, no Hello or Subscribe outstanding.
  void ForgetSession();
  // The broker forgot this session (restart): fail what is pending, Hello again at once.
  void Rehello(const std::string& why);
  void SendSubscribe();
  void OnWelcome(const wire::Welcome& welcome);
  void OnSubscribeAnswer(const wire::Envelope& envelope);
  void Handle(wire::Envelope&& envelope);
  bool SendEnvelope(const wire::Envelope& envelope);
  void FailAllPending(const std::string& why);

  zmq::context_t& context_;
  const std::vector<std::string> endpoints_;  // never empty
  size_t current_ = 0;                         // index in endpoints_
  uint64_t moves_ = 0;
  size_t moves_since_welcome_ = 0;
  int64_t arrived_at_ms_ = 0;  // steady clock: when the current endpoint's socket was made
  // Since when the link stays on a standby that hints an election (steady ms; 0: not staying).
  int64_t staying_since_ms_ = 0;
  // What the broker's Welcome or last Pong said (`acknowledging`; absent: true).
  bool broker_acknowledging_ = true;
  const wire::Hello hello_;
  const uint32_t window_;
  const std::optional<CurveClientKeys> curve_;
  std::unique_ptr<zmq::socket_t> socket_;
  DeliveryHandler on_delivery_;
  ReadyHandler on_ready_;
  PingFiller fill_ping_;
  bool ready_ = false;
  uint64_t next_request_id_ = 1;
  uint64_t hello_request_id_ = 0;
  uint64_t subscribe_request_id_ = 0;
  int64_t subscribe_sent_at_ms_ = 0;
  int64_t subscribe_retry_at_ms_ = 0;  // steady clock; 0 = no retry due
  Backoff subscribe_backoff_;
  bool subscribed_ = false;
  bool halted_ = false;
  std::string instance_id_;
  uint64_t sessions_ = 0;
  int64_t hello_sent_at_ms_ = 0;
  // After a refused Hello (BAD_CREDENTIAL, RATE_LIMITED...): not again before this (steady
  // clock), with backoff, so that a misconfigured or throttled gateway does not storm the broker.
  int64_t hello_retry_at_ms_ = 0;
  Backoff hello_backoff_;
  int64_t last_heard_ms_ = 0;
  int64_t last_ping_ms_ = 0;
  // The first ping sent since the broker was last heard (<= last_heard_ms_: none pending).
  int64_t first_unanswered_ping_ms_ = 0;
  std::map<uint64_t, Pending> pending_;
};

}  // namespace aplus
