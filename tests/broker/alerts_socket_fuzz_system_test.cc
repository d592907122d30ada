// "Bad input is answered, not obeyed" for the broker's other socket: the alerts PUB endpoint.
// A PUB socket reads nothing but subscriptions, so the worst a stranger can send is garbage
// bytes at its TCP port and floods of odd subscriptions. After 10,000 of each the broker must
// still serve requests and still publish alerts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>
#include <random>

#include <doctest/doctest.h>

#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

int PortOf(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

// Opens a raw TCP connection to 127.0.0.1:port, writes `bytes`, closes it.
void SendRawBytes(int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    [[maybe_unused]] auto written = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  ::close(fd);
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

}  // namespace

TEST_CASE("garbage at the alerts endpoint changes nothing and alerts still flow") {
  TestNetwork network("alerts-fuzz");
  REQUIRE(network.StartBroker({"--config", ShortWindowConfig(network.dir())}));
  uint64_t seed = 20261127;
  MESSAGE("seed " << seed);
  std::mt19937_64 random(seed);
  int port = PortOf(network.alerts_endpoint());

  // 10,000 garbage frames over raw TCP, five per connection: random lengths and bytes, some
  // connections opening like a ZMTP greeting so that the handshake gets further before failing.
  for (int connection = 0; connection < 2000; ++connection) {
    std::string bytes;
    if (connection % 3 == 0) bytes = std::string("\xff\0\0\0\0\0\0\0\x01\x7f", 10);
    for (int frame = 0; frame < 5; ++frame) {
      std::string chunk(1 + random() % 300, '\0');
      for (auto& byte : chunk) byte = static_cast<char>(random());
      bytes += chunk;
    }
    SendRawBytes(port, bytes);
  }
  // 10,000 odd subscriptions from real SUB sockets.
  {
    zmq::socket_t sub(network.context(), zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    ApplyCurveClient(sub, network.Keys(wire::OPERATOR, "operator"));
    sub.connect(network.alerts_endpoint());
    for (int i = 0; i < 10000; ++i) {
      std::string topic(random() % 64, '\0');
      for (auto& byte : topic) byte = static_cast<char>(random());
      sub.set(zmq::sockopt::subscribe, topic);
      if (i % 2) sub.set(zmq::sockopt::unsubscribe, topic);
    }
  }
  REQUIRE(network.broker().Running());

  // The broker still serves, and its alerts still reach a subscriber.
  zmq::socket_t follower(network.context(), zmq::socket_type::sub);
  follower.set(zmq::sockopt::subscribe, "alert.");
  ApplyCurveClient(follower, network.Keys(wire::OPERATOR, "operator"));
  follower.connect(network.alerts_endpoint());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto accepted = agent->CallOk(SubmitRequest("Après le bruit"), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  std::string case_id = accepted->accepted().case_id();
  bool breach_seen = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!breach_seen && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{follower.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(200));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    zmq::message_t topic, payload;
    REQUIRE(follower.recv(topic));
    REQUIRE(topic.more());
    REQUIRE(follower.recv(payload));
    wire::Alert alert;
    REQUIRE(alert.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
    if (alert.case_id() == case_id && alert.kind() == wire::Alert::BREACH) breach_seen = true;
  }
  CHECK(breach_seen);
  CHECK(network.broker().Running());
}
