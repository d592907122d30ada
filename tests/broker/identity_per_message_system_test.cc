// Identity is checked per message and per connection, with the real broker and CURVE:
// - a message whose CURVE key is not the key of the session found by its routing id is never
//   served as that session (issue 8, finding 3: sessions were found by routing id only, and a
//   client may choose its routing id);
// - revoking a key cuts every connection of that key within 2 s, the alert stream included,
//   and only that key's (finding 4: only request-socket sessions were cut).
#include <doctest/doctest.h>

#include "common/network_keys.h"
#include "common/wire.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/network.h"

#include <fstream>
#include <sstream>

using namespace aplus;
using namespace aplus::testing;

namespace {

// A DEALER to the broker with `keys`, under a routing id of the client's choosing.
std::unique_ptr<zmq::socket_t> DealerWithRoutingId(TestNetwork& network,
                                                   const CurveClientKeys& keys,
                                                   const std::string& routing_id) {
  auto socket = std::make_unique<zmq::socket_t>(network.context(), zmq::socket_type::dealer);
  socket->set(zmq::sockopt::linger, 0);
  socket->set(zmq::sockopt::routing_id, routing_id);
  ApplyCurveClient(*socket, keys);
  socket->connect(network.broker_endpoint());
  return socket;
}

// Sends `request` and waits up to `timeout_ms` for one answer.
std::optional<wire::Envelope> Exchange(zmq::socket_t& socket, wire::Envelope request,
                                       uint64_t request_id, int timeout_ms) {
  request.set_request_id(request_id);
  auto frame = EncodeEnvelope(request);
  if (!socket.send(frame, zmq::send_flags::dontwait)) return std::nullopt;
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
  if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
  zmq::message_t reply;
  if (!socket.recv(reply, zmq::recv_flags::dontwait)) return std::nullopt;
  auto decoded = DecodeEnvelope(reply.data(), reply.size(), 16 << 20);
  if (!decoded.ok()) return std::nullopt;
  return *decoded;
}

wire::Envelope HelloAs(wire::Role role, const std::string& principal) {
  wire::Envelope envelope;
  envelope.mutable_hello()->set_role(role);
  envelope.mutable_hello()->set_principal(principal);
  return envelope;
}

std::string ShortWindowConfig(const TempDir& dir) {
  std::ifstream in(std::string(APLUS_SOURCE_DIR) + "/deploy/perche.toml");
  std::stringstream text;
  text << in.rdbuf();
  std::string config = text.str();
  const std::string from = "reply_policy = \"4 jours-ouvres\"";
  auto at = config.find(from);  // the first partner is France Travail
  REQUIRE(at != std::string::npos);
  config.replace(at, from.size(), "reply_policy = \"3 secondes\"");
  std::string path = dir.Sub("short.toml");
  std::ofstream(path) << config;
  return path;
}

// A CURVE subscriber to the alert stream, with a monitor that reports its disconnections.
class AlertFollower {
 public:
  AlertFollower(TestNetwork& network, const CurveClientKeys& keys, const std::string& name)
      : socket_(network.context(), zmq::socket_type::sub),
        monitor_(network.context(), zmq::socket_type::pair) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::subscribe, "alert.");
    ApplyCurveClient(socket_, keys);
    std::string monitor_endpoint = "inproc://monitor-" + name;
    REQUIRE(zmq_socket_monitor(socket_.handle(), monitor_endpoint.c_str(),
                               ZMQ_EVENT_DISCONNECTED) == 0);
    monitor_.connect(monitor_endpoint);
    socket_.connect(network.alerts_endpoint());
  }

  // Alerts received within `timeout_ms` (all of them, until the time is up or `enough` holds).
  std::vector<wire::Alert> Receive(int timeout_ms,
                                   const std::function<bool(const wire::Alert&)>& enough) {
    std::vector<wire::Alert> alerts;
    int64_t deadline = SteadyNowMs() + timeout_ms;
    while (SteadyNowMs() < deadline) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      zmq::message_t topic, payload;
      if (!socket_.recv(topic, zmq::recv_flags::dontwait) || !topic.more()) continue;
      if (!socket_.recv(payload, zmq::recv_flags::dontwait)) continue;
      wire::Alert alert;
      if (!alert.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) continue;
      alerts.push_back(alert);
      if (enough(alert)) break;
    }
    return alerts;
  }

  // True when the connection was cut (a DISCONNECTED event) within `timeout_ms`.
  bool WaitDisconnected(int timeout_ms) {
    zmq::pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
    return (item.revents & ZMQ_POLLIN) != 0;
  }

  ~AlertFollower() { zmq_socket_monitor(socket_.handle(), nullptr, 0); }

 private:
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
};

bool IsAbout(const wire::Alert& alert, const std::string& case_id) {
  return alert.case_id() == case_id;
}

}  // namespace

TEST_CASE("a message whose key is not its session's is refused, and the session dropped" *
          doctest::timeout(90)) {
  auto network = StartNetwork("identity-per-message");
  REQUIRE(network);
  auto agent_keys = network->Keys(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto msa_keys = network->Keys(wire::PARTNER_GATEWAY, "msa");

  // The agent gateway's session, on a routing id of its own choosing.
  auto victim = DealerWithRoutingId(*network, agent_keys, "chosen-id");
  auto welcome = Exchange(*victim, HelloAs(wire::AGENT_GATEWAY, "mairie-perche-en-noce"), 1, 5000);
  REQUIRE(welcome.has_value());
  REQUIRE_MESSAGE(welcome->has_welcome(), welcome->ShortDebugString());
  auto accepted = Exchange(*victim, SubmitRequest("Dossier privé de Nocé"), 2, 5000);
  REQUIRE(accepted.has_value());
  REQUIRE_MESSAGE(accepted->has_accepted(), accepted->ShortDebugString());
  std::string case_id = accepted->accepted().case_id();
  victim.reset();  // its connection goes; the session stays until it is found silent

  // Another key takes the same routing id and asks, without a Hello, for the agent's case.
  // (Until the broker has released the old connection's id, the new one is turned away and
  // reconnects: ask again on a fresh socket.)
  std::optional<wire::Envelope> answer;
  int64_t deadline = SteadyNowMs() + 8000;
  while (!answer && SteadyNowMs() < deadline) {
    auto impostor = DealerWithRoutingId(*network, msa_keys, "chosen-id");
    answer = Exchange(*impostor, GetCaseRequest(case_id), 3, 1000);
    if (answer) {
      CHECK_FALSE_MESSAGE(answer->has_case_view(), "served as another key's session");
      CHECK_MESSAGE(answer->error().code() == wire::NOT_AUTHENTICATED, answer->ShortDebugString());
      // The session is gone: the same key asking again is told to say Hello, not served.
      auto again = Exchange(*impostor, GetCaseRequest(case_id), 4, 5000);
      REQUIRE(again.has_value());
      CHECK(again->error().code() == wire::NOT_AUTHENTICATED);
      CHECK(again->error().message().find("Hello") != std::string::npos);
    }
  }
  REQUIRE_MESSAGE(answer.has_value(), "the impostor never got an answer");
  // Whichever came first ended the session: the connection's end (the broker monitors its
  // connections), or the first message carrying another key (the check of every message).
  CHECK(WaitUntil([&] {
    std::string log = network->broker().Log();
    return log.find("on the session of cp/mairie-perche-en-noce (another key)") != std::string::npos ||
           log.find("session closed: cp/mairie-perche-en-noce (connection closed)") != std::string::npos;
  }, 3000));
  // The agent's own key, saying Hello, is served as ever.
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  CHECK(agent->CallOk(GetCaseRequest(case_id), 5000).ok());
}

TEST_CASE("a session's deliveries never go to another connection that takes its routing id" *
          doctest::timeout(90)) {
  auto network = StartNetwork("identity-routing-id-deliveries");
  REQUIRE(network);
  auto victim = DealerWithRoutingId(*network, network->Keys(wire::PARTNER_GATEWAY, "france-travail"),
                                    "partner-chosen-id");
  auto welcome = Exchange(*victim, HelloAs(wire::PARTNER_GATEWAY, "france-travail"), 1, 5000);
  REQUIRE(welcome.has_value());
  REQUIRE_MESSAGE(welcome->has_welcome(), welcome->ShortDebugString());
  auto subscribed = Exchange(*victim, SubscribeRequest(8), 2, 5000);
  REQUIRE(subscribed.has_value());
  REQUIRE_MESSAGE(subscribed->has_subscribed(), subscribed->ShortDebugString());
  victim.reset();  // France Travail's gateway goes away

  // MSA's key takes the routing id (a Ping needs no session: it proves the connection is up).
  std::unique_ptr<zmq::socket_t> impostor;
  int64_t deadline = SteadyNowMs() + 8000;
  while (SteadyNowMs() < deadline) {
    impostor = DealerWithRoutingId(*network, network->Keys(wire::PARTNER_GATEWAY, "msa"),
                                   "partner-chosen-id");
    if (Exchange(*impostor, PingRequest(), 3, 1000)) break;
    impostor.reset();
  }
  REQUIRE_MESSAGE(impostor, "the second connection never got through");
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto accepted = agent->CallOk(SubmitRequest("Pour France Travail seulement"), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  // Nothing of France Travail's queue reaches MSA's connection.
  zmq::pollitem_t item{impostor->handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(2000));
  if (item.revents & ZMQ_POLLIN) {
    zmq::message_t pushed;
    REQUIRE(impostor->recv(pushed, zmq::recv_flags::dontwait));
    auto decoded = DecodeEnvelope(pushed.data(), pushed.size(), 16 << 20);
    CHECK_MESSAGE(!(decoded.ok() && decoded->has_delivery()),
                  "another partner's delivery reached this connection");
  }
}

TEST_CASE("revoking a key cuts its alert stream within 2 s, and only that key's" *
          doctest::timeout(120)) {
  TestNetwork network("identity-alert-revocation");
  REQUIRE(network.StartBroker({"--config", ShortWindowConfig(network.dir())}));
  // Two followers with two keys: the operator's and the administrator's.
  AlertFollower kept(network, network.Keys(wire::OPERATOR, "operator"), "kept");
  AlertFollower revoked(network, network.Keys(wire::ADMINISTRATOR, "administration"), "revoked");
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");

  // Both follow: the first case's warning reaches both (3 s window: warned within seconds).
  auto first = agent->CallOk(SubmitRequest("Avant la révocation"), 5000);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  std::string first_id = first->accepted().case_id();
  auto about_first = [&](const wire::Alert& alert) { return IsAbout(alert, first_id); };
  REQUIRE_FALSE(kept.Receive(20000, about_first).empty());
  REQUIRE_FALSE(revoked.Receive(20000, about_first).empty());

  auto [removed, output] = network.Aplus(
      "keyring remove --keyring " + network.keys().keyring_dir() + " " +
      KeyNameFor(wire::ADMINISTRATOR, "administration", ""));
  REQUIRE_MESSAGE(removed == 0, output);
  // Cut within 2 s (the keyring is polled every 100 ms here).
  CHECK(revoked.WaitDisconnected(2000));
  CHECK(WaitUntil([&] {
    return network.broker().Log().find("cutting the alert stream of a revoked key") !=
           std::string::npos;
  }, 2000));

  // A later case's alerts reach the operator still, and never the revoked key (its
  // reconnections are refused at the handshake).
  auto second = agent->CallOk(SubmitRequest("Après la révocation"), 5000);
  REQUIRE_MESSAGE(second.ok(), second.status().ToString());
  std::string second_id = second->accepted().case_id();
  auto breach_of_second = [&](const wire::Alert& alert) {
    return IsAbout(alert, second_id) && alert.kind() == wire::Alert::BREACH;
  };
  auto seen_by_kept = kept.Receive(20000, breach_of_second);
  CHECK(std::any_of(seen_by_kept.begin(), seen_by_kept.end(), breach_of_second));
  for (const auto& alert : revoked.Receive(1500, [](const wire::Alert&) { return false; })) {
    CHECK_MESSAGE(alert.case_id() != second_id, "a revoked key still follows: " << alert.alert_id());
  }
}
