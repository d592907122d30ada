// common/broker_link.h against a scripted fake broker (a ROUTER on loopback), driven on this
// thread: the link heals itself when the broker restarts behind its back (a Pong or Welcome
// from another instance, NOT_AUTHENTICATED to anything) and retries a Subscribe refused with a
// transient error.
#include "common/broker_link.h"

#include <doctest/doctest.h>

#include <functional>
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
  int hellos = 0;
  int subscribes = 0;

  void Serve() {
    while (true) {
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        return;
      }
      if (frames.size() != 2) continue;
      auto request = DecodeEnvelope(frames[1].data(), frames[1].size(), SIZE_MAX);
      if (!request.ok()) continue;
      wire::Envelope answer;
      if (request->has_hello()) {
        ++hellos;
        if (refuse_hello != wire::ERROR_UNSPECIFIED) {
          answer = ErrorAnswer(refuse_hello);
        } else {
          answer.mutable_welcome()->set_instance_id(instance);
        }
      } else if (request->has_subscribe()) {
        answer = subscribe_answer(subscribes++);
      } else if (request->has_ping()) {
        answer.mutable_pong()->set_instance_id(instance);
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

// Runs the link and the fake broker until `done` holds; false after `timeout_ms`.
bool RunUntil(BrokerLink& link, ScriptedBroker& broker, const std::function<bool()>& done,
              int timeout_ms = 5000) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (SteadyNowMs() < deadline) {
    broker.Serve();
    zmq::pollitem_t item{link.socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(10));
    if (item.revents & ZMQ_POLLIN) link.OnReadable();
    link.OnTick();
    if (done()) return true;
  }
  return false;
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
