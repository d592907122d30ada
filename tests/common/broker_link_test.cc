// common/broker_link.h against a scripted fake broker (a ROUTER on loopback), driven on this
// thread: the link heals itself when the broker restarts behind its back (a Pong or Welcome
// from another instance, NOT_AUTHENTICATED to anything), retries a Subscribe refused with a
// transient error, and follows the leader of a pair (NOT_LEADER, a silent endpoint).
#include "common/broker_link.h"

#include <doctest/doctest.h>

#include <functional>
#include <optional>
#include <zmq_addon.hpp>

#include "common/clock.h"
#include "common/wire.h"

using namespace aplus;

namespace {

wire::Envelope ErrorAnswer(wire::ErrorCode code, int64_t retry_after_ms = 0) {
  return MakeErrorEnvelope(0, Status(code, "scripted").WithRetryAfterMs(retry_after_ms));
}

// Answers what the link sends, as `script` says; counts what it saw.
class ScriptedBroker {
 public:
  explicit ScriptedBroker(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  std::string instance = "instance-a";
  // Answer to the n-th Subscribe (0-based); default Subscribed.
  std::function<wire::Envelope(int n)> subscribe_answer = [](int) {
    wire::Envelope answer;
    answer.mutable_subscribed();
    return answer;
  };
  // Hellos are refused with this code while it is set (a key the broker does not take).
  wire::ErrorCode refuse_hello = wire::ERROR_UNSPECIFIED;
  // A standby of a pair while set: every envelope is answered NOT_LEADER naming `leader`.
  bool standby = false;
  std::string leader;
  // The standby's NOT_LEADER carries this retry hint (it may take over and no longer hears its
  // leader); 0 = none.
  int64_t retry_hint_ms = 0;
  // A dead or frozen broker while set: reads everything, answers nothing.
  bool silent = false;
  // Welcome and Pong say `acknowledging` while set (a pair's leader: whether it acknowledges).
  std::optional<bool> acknowledging;
  int hellos = 0;
  int subscribes = 0;
  int envelopes = 0;  // everything received
  int pings = 0;

  void Serve() {
    while (true) {
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        return;
      }
      if (frames.size() != 2) continue;
      auto request = DecodeEnvelope(frames[1].data(), frames[1].size(), SIZE_MAX);
      if (!request.ok()) continue;
      ++envelopes;
      wire::Envelope answer;
      if (request->has_hello()) ++hellos;
      if (request->has_ping()) ++pings;
      if (silent) continue;
      if (standby) {
        answer = ErrorAnswer(wire::NOT_LEADER, retry_hint_ms);
        answer.mutable_error()->set_leader_endpoint(leader);
      } else if (request->has_hello()) {
        if (refuse_hello != wire::ERROR_UNSPECIFIED) {
          answer = ErrorAnswer(refuse_hello);
        } else {
          answer.mutable_welcome()->set_instance_id(instance);
          if (acknowledging) answer.mutable_welcome()->set_acknowledging(*acknowledging);
        }
      } else if (request->has_subscribe()) {
        answer = subscribe_answer(subscribes++);
      } else if (request->has_ping()) {
        answer.mutable_pong()->set_instance_id(instance);
        if (acknowledging) answer.mutable_pong()->set_acknowledging(*acknowledging);
      } else if (request->has_get_stats()) {
        answer.mutable_stats();
      } else {
        continue;
      }
      answer.set_request_id(request->request_id());
      socket_.send(zmq::buffer(frames[0].to_string()), zmq::send_flags::sndmore);
      socket_.send(EncodeEnvelope(answer), zmq::send_flags::none);
    }
  }

 private:
  zmq::socket_t socket_;
  std::string endpoint_;
};

// Runs the link and the fake brokers until `done` holds; false after `timeout_ms`.
bool RunUntil(BrokerLink& link, std::vector<ScriptedBroker*> brokers,
              const std::function<bool()>& done, int timeout_ms = 5000) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (SteadyNowMs() < deadline) {
    for (auto* broker : brokers) broker->Serve();
    zmq::pollitem_t item{link.socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(10));
    if (item.revents & ZMQ_POLLIN) link.OnReadable();
    link.OnTick();
    if (done()) return true;
  }
  return false;
}
bool RunUntil(BrokerLink& link, ScriptedBroker& broker, const std::function<bool()>& done,
              int timeout_ms = 5000) {
  return RunUntil(link, std::vector<ScriptedBroker*>{&broker}, done, timeout_ms);
}

wire::Envelope StatsRequest() {
  wire::Envelope request;
  request.mutable_get_stats();
  return request;
}

wire::Hello PartnerHello() {
  wire::Hello hello;
  hello.set_role(wire::PARTNER_GATEWAY);
  hello.set_principal("france-travail");
  return hello;
}

}  // namespace

TEST_CASE("a Pong from another broker instance makes the link say Hello and Subscribe again" *
          doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker broker(context);
  BrokerLink link(context, broker.endpoint(), PartnerHello(), 8, std::nullopt);
  int ready_calls = 0;
  link.SetReadyHandler([&ready_calls] { ++ready_calls; });
  REQUIRE(RunUntil(link, broker, [&] { return link.subscribed(); }));
  CHECK(link.instance_id() == "instance-a");
  CHECK(broker.hellos == 1);
  CHECK(ready_calls == 1);

  // The broker restarted within the silence limit: same endpoint, pongs still come.
  broker.instance = "instance-b";
  REQUIRE(RunUntil(
      link, broker, [&] { return link.instance_id() == "instance-b" && link.subscribed(); },
      3000));
  CHECK(broker.hellos == 2);
  CHECK(broker.subscribes == 2);
  CHECK(link.sessions() == 2);
  CHECK(ready_calls == 2);  // the outboxes flush on the new session
}

TEST_CASE("NOT_AUTHENTICATED to a Subscribe makes the link say Hello again" *
          doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker broker(context);
  broker.subscribe_answer = [](int n) {
    if (n == 0) return ErrorAnswer(wire::NOT_AUTHENTICATED);
    wire::Envelope answer;
    answer.mutable_subscribed();
    return answer;
  };
  BrokerLink link(context, broker.endpoint(), PartnerHello(), 8, std::nullopt);
  REQUIRE(RunUntil(link, broker, [&] { return link.subscribed(); }));
  CHECK(broker.hellos == 2);
  CHECK(broker.subscribes == 2);
}

TEST_CASE("a Subscribe refused with a transient error is sent again after a backoff" *
          doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker broker(context);
  broker.subscribe_answer = [](int n) {
    if (n == 0) return ErrorAnswer(wire::RATE_LIMITED, 50);
    if (n == 1) return ErrorAnswer(wire::UNAVAILABLE);
    wire::Envelope answer;
    answer.mutable_subscribed();
    return answer;
  };
  BrokerLink link(context, broker.endpoint(), PartnerHello(), 8, std::nullopt);
  REQUIRE(RunUntil(link, broker, [&] { return link.subscribed(); }));
  CHECK(broker.subscribes == 3);
  CHECK(broker.hellos == 1);  // the session itself was fine
}

TEST_CASE("a permanent Subscribe refusal is asked again only slowly" * doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker broker(context);
  broker.subscribe_answer = [](int) { return ErrorAnswer(wire::PERMISSION_DENIED); };
  BrokerLink link(context, broker.endpoint(), PartnerHello(), 8, std::nullopt);
  REQUIRE(RunUntil(link, broker, [&] { return broker.subscribes == 1; }));
  RunUntil(link, broker, [] { return false; }, 1500);
  CHECK(broker.subscribes == 1);
  CHECK_FALSE(link.subscribed());
  CHECK(link.ready());  // requests still flow
  // Not given up for good either: a link "ready" without deliveries would wait for a
  // reconnection that may never come.
  CHECK(RunUntil(link, broker, [&] { return broker.subscribes == 2; }, 10000));
}

TEST_CASE("a refused Hello is said again after a backoff, never in a storm" *
          doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker broker(context);
  broker.refuse_hello = wire::BAD_CREDENTIAL;
  BrokerLink link(context, broker.endpoint(), PartnerHello(), 8, std::nullopt);
  RunUntil(link, broker, [] { return false; }, 2000);
  // Before the fix a refusal was answered by the next Hello at once (hundreds a second).
  CHECK(broker.hellos >= 1);
  CHECK(broker.hellos <= 5);
  CHECK_FALSE(link.ready());
  // Once the key is admitted the link comes up by itself.
  broker.refuse_hello = wire::ERROR_UNSPECIFIED;
  CHECK(RunUntil(link, broker, [&] { return link.subscribed(); }, 10000));
}

// ---- Following the leader of a pair (docs/AVAILABILITY.md, "Clients follow the leader") ----

TEST_CASE("NOT_LEADER to Hello moves the link to the leader it names, which welcomes it" *
          doctest::timeout(30)) {
  // Without a retry hint (the standby still hears its leader: alive, perhaps stalled for this
  // gateway only) the link goes to the named leader at once.
  zmq::context_t context;
  ScriptedBroker standby(context);
  ScriptedBroker leader(context);
  leader.instance = "leader";
  standby.standby = true;
  standby.leader = leader.endpoint();
  BrokerLink link(context, standby.endpoint() + "," + leader.endpoint(), PartnerHello(), 8,
                  std::nullopt);
  int ready_calls = 0;
  link.SetReadyHandler([&ready_calls] { ++ready_calls; });
  REQUIRE(RunUntil(link, {&standby, &leader}, [&] { return link.subscribed(); }));
  CHECK(link.endpoint() == leader.endpoint());
  CHECK(link.instance_id() == "leader");
  CHECK(link.moves() == 1);
  CHECK(standby.hellos == 1);
  CHECK(leader.hellos == 1);
  CHECK(ready_calls == 1);
}

TEST_CASE("NOT_LEADER naming a broker outside the list moves the link to the next endpoint" *
          doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker standby(context);
  ScriptedBroker leader(context);
  standby.standby = true;
  standby.leader = "tcp://192.0.2.1:7400";  // not one of the link's endpoints
  BrokerLink link(context, standby.endpoint() + "," + leader.endpoint(), PartnerHello(), 8,
                  std::nullopt);
  REQUIRE(RunUntil(link, {&standby, &leader}, [&] { return link.subscribed(); }));
  CHECK(link.endpoint() == leader.endpoint());
  CHECK(link.moves() == 1);
}

TEST_CASE("NOT_LEADER to a request fails what is pending UNREACHABLE, moves, says Hello at once "
          "and subscribes on the new leader" * doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker first(context);
  ScriptedBroker second(context);
  first.instance = "first";
  second.instance = "second";
  BrokerLink link(context, first.endpoint() + "," + second.endpoint(), PartnerHello(), 8,
                  std::nullopt);
  int ready_calls = 0;
  link.SetReadyHandler([&ready_calls] { ++ready_calls; });
  REQUIRE(RunUntil(link, {&first, &second}, [&] { return link.subscribed(); }));
  REQUIRE(link.endpoint() == first.endpoint());

  // A failover: the first broker is a standby now and names the second as leader.
  first.standby = true;
  first.leader = second.endpoint();
  std::vector<Status> answers;
  link.Request(StatsRequest(), 5000, [&](Result<wire::Envelope> answer) {
    answers.push_back(answer.ok() ? StatusOf(*answer) : answer.status());
  });
  link.Request(StatsRequest(), 5000, [&](Result<wire::Envelope> answer) {
    answers.push_back(answer.ok() ? StatusOf(*answer) : answer.status());
  });
  int64_t asked_at = SteadyNowMs();
  REQUIRE(RunUntil(link, {&first, &second},
                   [&] { return link.subscribed() && link.instance_id() == "second"; }));
  // Hello went at once, not after a retry interval or the silence limit.
  CHECK(SteadyNowMs() - asked_at < 1500);
  REQUIRE(answers.size() == 2);
  for (const auto& answer : answers) CHECK(answer.code() == wire::UNREACHABLE);  // sent again
  CHECK(link.endpoint() == second.endpoint());
  CHECK(link.moves() == 1);
  CHECK(second.hellos == 1);
  CHECK(second.subscribes == 1);
  CHECK(ready_calls == 2);  // the outboxes flush on the new session

  // Requests flow on the new leader.
  std::optional<Status> after;
  link.Request(StatsRequest(), 5000, [&](Result<wire::Envelope> answer) {
    after = answer.ok() ? StatusOf(*answer) : answer.status();
  });
  REQUIRE(RunUntil(link, {&first, &second}, [&] { return after.has_value(); }));
  CHECK(after->ok());
}

TEST_CASE("a silent endpoint is left for the next one of the list" * doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker leader(context);
  // Nothing listens on the first endpoint.
  std::string nobody = "tcp://127.0.0.1:" + std::to_string([&] {
    zmq::socket_t probe(context, zmq::socket_type::router);
    probe.bind("tcp://127.0.0.1:*");
    std::string bound = probe.get(zmq::sockopt::last_endpoint);
    return std::stoi(bound.substr(bound.rfind(':') + 1));
  }());
  BrokerLink link(context, nobody + "," + leader.endpoint(), PartnerHello(), 8, std::nullopt);
  REQUIRE(RunUntil(link, leader, [&] { return link.subscribed(); }, 10000));
  CHECK(link.endpoint() == leader.endpoint());
  CHECK(link.moves() == 1);
}

TEST_CASE("a list whose brokers are all standbys is asked with backoff, never in a storm" *
          doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker a(context);
  ScriptedBroker b(context);
  a.standby = b.standby = true;  // an election under way: no leader known
  BrokerLink link(context, a.endpoint() + "," + b.endpoint(), PartnerHello(), 8, std::nullopt);
  RunUntil(link, {&a, &b}, [] { return false; }, 2500);
  CHECK_FALSE(link.ready());
  CHECK(a.hellos + b.hellos >= 2);
  CHECK(a.hellos + b.hellos <= 10);
  // Once one of them leads, the link gets there by itself.
  b.standby = false;
  CHECK(RunUntil(link, {&a, &b}, [&] { return link.subscribed(); }, 15000));
  CHECK(link.endpoint() == b.endpoint());
}

TEST_CASE("with one endpoint a standby's NOT_LEADER is not followed elsewhere: the link stays, "
          "and asks again with backoff" * doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker standby(context);
  ScriptedBroker leader(context);
  standby.standby = true;
  standby.leader = leader.endpoint();  // a leader this link was not given
  BrokerLink link(context, standby.endpoint(), PartnerHello(), 8, std::nullopt);
  std::optional<Status> answer;
  RunUntil(link, {&standby, &leader}, [] { return false; }, 2500);
  link.Request(StatsRequest(), 1000, [&](Result<wire::Envelope> result) {
    answer = result.ok() ? StatusOf(*result) : result.status();
  });
  REQUIRE(answer.has_value());
  CHECK(answer->code() == wire::UNREACHABLE);  // an outbox keeps it (QUEUED_LOCALLY)
  CHECK_FALSE(link.ready());
  CHECK(link.endpoint() == standby.endpoint());
  CHECK(leader.envelopes == 0);
  CHECK(standby.hellos >= 1);
  CHECK(standby.hellos <= 8);
}

TEST_CASE("a standby that may take over and no longer hears its leader keeps the link: it is "
          "welcomed as soon as the standby leads, never sent back to the dead leader" *
          doctest::timeout(40)) {
  zmq::context_t context;
  ScriptedBroker a(context);
  ScriptedBroker b(context);
  b.standby = true;
  b.leader = a.endpoint();  // until a's lease runs out, etcd still names a
  b.instance = "instance-b";
  BrokerLink link(context, a.endpoint() + "," + b.endpoint(), PartnerHello(), 8, std::nullopt);
  REQUIRE(RunUntil(link, {&a, &b}, [&] { return link.subscribed(); }));
  REQUIRE(link.endpoint() == a.endpoint());

  a.silent = true;        // killed: its lease runs for a few seconds more
  b.retry_hint_ms = 500;  // b no longer hears a and may take over
  const int a_hellos = a.hellos;
  REQUIRE(RunUntil(link, {&a, &b}, [&] { return link.endpoint() == b.endpoint(); }, 10000));
  RunUntil(link, {&a, &b}, [] { return false; }, 2000);
  CHECK(link.endpoint() == b.endpoint());
  CHECK(a.hellos == a_hellos);  // never sent back to the silent leader
  CHECK(b.hellos >= 3);         // every 500 ms (the hint), not a backoff grown to seconds
  CHECK(b.hellos <= 8);
  // b wins the election: welcomed within about one hint.
  b.standby = false;
  int64_t won_at = SteadyNowMs();
  REQUIRE(RunUntil(link, {&a, &b}, [&] { return link.subscribed(); }, 5000));
  CHECK(SteadyNowMs() - won_at < 1500);
  CHECK(link.endpoint() == b.endpoint());
}

TEST_CASE("a standby that keeps hinting without winning is left, after a while, for the "
          "leader it names" * doctest::timeout(40)) {
  // Its leader is alive after all (the brokers' link cut, say): the link does not stay forever.
  zmq::context_t context;
  ScriptedBroker a(context);
  ScriptedBroker b(context);
  b.standby = true;
  b.leader = a.endpoint();
  b.retry_hint_ms = 500;
  BrokerLink link(context, b.endpoint() + "," + a.endpoint(), PartnerHello(), 8, std::nullopt);
  RunUntil(link, {&a, &b}, [] { return false; }, 3000);
  CHECK_FALSE(link.ready());
  CHECK(link.endpoint() == b.endpoint());
  CHECK(a.hellos == 0);
  REQUIRE(RunUntil(link, {&a, &b}, [&] { return link.subscribed(); }, 15000));
  CHECK(link.endpoint() == a.endpoint());
  CHECK(b.hellos >= 15);  // about 10 s of Hellos every 500 ms
  CHECK(b.hellos <= 25);
}

TEST_CASE("a Welcome or Pong that says the broker acknowledges again runs the ready handler "
          "once" * doctest::timeout(30)) {
  zmq::context_t context;
  ScriptedBroker broker(context);
  BrokerLink link(context, broker.endpoint(), PartnerHello(), 8, std::nullopt);
  int ready_calls = 0;
  link.SetReadyHandler([&ready_calls] { ++ready_calls; });
  REQUIRE(RunUntil(link, broker, [&] { return link.subscribed(); }));
  REQUIRE(ready_calls == 1);
  // Each phase lasts until the broker has answered two more Pings.
  auto two_pongs = [&] {
    int until = broker.pings + 2;
    REQUIRE(RunUntil(link, broker, [&] { return broker.pings >= until; }, 5000));
    RunUntil(link, broker, [] { return false; }, 50);  // the last Pong read
  };
  // A broker that does not say (older than the field): nothing.
  two_pongs();
  CHECK(ready_calls == 1);
  broker.acknowledging = true;  // acknowledging all along: nothing either
  two_pongs();
  CHECK(ready_calls == 1);
  broker.acknowledging = false;  // a strict leader lost its standby
  two_pongs();
  CHECK(ready_calls == 1);
  broker.acknowledging = true;  // the standby is back: outboxes flush now
  two_pongs();
  CHECK(ready_calls == 2);
  two_pongs();
  CHECK(ready_calls == 2);      // once per resumption
  CHECK(link.sessions() == 1);  // the same session throughout
}
