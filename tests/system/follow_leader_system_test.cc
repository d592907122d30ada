// Issue 12, "Clients follow the leader" (docs/AVAILABILITY.md): clients of a pair of brokers are
// given both endpoints; a standby answers NOT_LEADER naming the leader and the client moves there.
// Here the standby is a fake (a ROUTER in this test presenting the brokers' shared client-facing
// CURVE key, answering every envelope Error{NOT_LEADER, leader_endpoint}); the leader is a real
// broker, with real gateways and the real `aplus` command line.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <zmq_addon.hpp>

#include "common/clock.h"
#include "common/wire.h"
#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

// A standby that knows who leads: every envelope is answered NOT_LEADER naming `leader`.
// Served on a thread of its own until destroyed.
class FakeStandby {
 public:
  FakeStandby(zmq::context_t& context, const CurveKeyPair& broker_key, std::string leader)
      : socket_(context, zmq::socket_type::router), leader_(std::move(leader)) {
    socket_.set(zmq::sockopt::linger, 0);
    // The pair's nodes present the same client-facing key (docs/AVAILABILITY.md).
    socket_.set(zmq::sockopt::curve_server, 1);
    socket_.set(zmq::sockopt::curve_secretkey, broker_key.secret_key);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeStandby() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  int hellos() const { return hellos_.load(); }
  int envelopes() const { return envelopes_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      std::vector<zmq::message_t> frames;
      while (zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        if (frames.size() == 2) Answer(frames[0], frames[1]);
        frames.clear();
      }
    }
  }
  void Answer(const zmq::message_t& routing_id, const zmq::message_t& frame) {
    auto request = DecodeEnvelope(frame.data(), frame.size(), SIZE_MAX);
    if (!request.ok()) return;
    ++envelopes_;
    if (request->has_hello()) ++hellos_;
    wire::Envelope answer =
        MakeErrorEnvelope(request->request_id(), Status(wire::NOT_LEADER, "this node is a standby"));
    answer.mutable_error()->set_leader_endpoint(leader_);
    socket_.send(zmq::buffer(routing_id.data(), routing_id.size()), zmq::send_flags::sndmore);
    socket_.send(EncodeEnvelope(answer), zmq::send_flags::none);
  }

  zmq::socket_t socket_;
  const std::string leader_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<int> hellos_{0};
  std::atomic<int> envelopes_{0};
  std::thread thread_;
};

const char* kContactPoint = "mairie-perche-en-noce";

// The agent gateway of `network`, on its usual endpoint and data directory, but connected to
// `brokers` (one endpoint or a list). TestNetwork::StartAgentGateway names the broker itself.
std::unique_ptr<ChildProcess> StartAgentGateway(TestNetwork& network, const std::string& brokers,
                                                int start) {
  std::vector<std::string> args = {
      "--contact-point", kContactPoint, "--broker", brokers, "--listen", network.agent_endpoint(),
      "--data-dir", network.dir().Sub("agent"), "--key",
      network.KeyFile(wire::AGENT_GATEWAY, kContactPoint), "--broker-key",
      network.BrokerPublicKeyFile(), "--http-listen", "off", "--log-level", "info"};
  auto gateway = std::make_unique<ChildProcess>(
      "aplus-agent-gateway", args, network.dir().Sub("agent-" + std::to_string(start) + ".log"));
  REQUIRE(gateway->WaitForLog("ready on " + network.agent_endpoint()));
  return gateway;
}

// Submits one case through the agent gateway; its Accepted answer.
wire::Accepted Submit(TestNetwork& network, const std::string& key) {
  auto agent = network.AgentClient();
  auto answer = agent->Call(SubmitRequest("follow the leader " + key, key), 10000);
  REQUIRE(answer.ok());
  INFO(answer->DebugString());
  REQUIRE(answer->has_accepted());
  return answer->accepted();
}

// Waits until the partner gateway's inbox holds `case_id`.
bool ReachesPartner(TestNetwork& network, const std::string& case_id, int timeout_ms) {
  auto partner = network.PartnerClient();
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (SteadyNowMs() < deadline) {
    wire::Envelope request;
    request.mutable_get_inbox()->set_limit(1000);
    auto answer = partner->Call(request, 3000);
    if (answer.ok() && answer->has_inbox()) {
      for (const auto& escalation : answer->inbox().escalations()) {
        if (escalation.case_id() == case_id) return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The case behind a local reference at the agent gateway (its outbox entry until forwarded).
wire::Envelope LocalCase(TestNetwork& network, const std::string& local_ref) {
  auto agent = network.AgentClient();
  auto answer = agent->Call(GetCaseRequest(local_ref), 5000);
  REQUIRE(answer.ok());
  return *answer;
}

}  // namespace

TEST_CASE("a gateway given --broker STANDBY,LEADER moves to the leader and its case reaches the "
          "partner" * doctest::timeout(120)) {
  TestNetwork network("follow-leader-gateway");
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartPartnerGateway());
  FakeStandby standby(network.context(), network.keys().broker(), network.broker_endpoint());

  auto gateway =
      StartAgentGateway(network, standby.endpoint() + "," + network.broker_endpoint(), 1);
  wire::Accepted accepted = Submit(network, "pair-1");
  std::string case_id = accepted.case_id();
  if (accepted.state() == wire::QUEUED_LOCALLY) {
    // Submitted before the link reached the leader: the outbox forwards it once it has.
    int64_t deadline = SteadyNowMs() + 20000;
    while (SteadyNowMs() < deadline) {
      auto local = LocalCase(network, accepted.local_ref());
      if (local.has_case_view() && !local.case_view().summary().case_id().empty() &&
          local.case_view().summary().state() != wire::QUEUED_LOCALLY) {
        case_id = local.case_view().summary().case_id();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  INFO("gateway log:\n" << gateway->Log());
  REQUIRE_FALSE(case_id.empty());
  CHECK(ReachesPartner(network, case_id, 20000));
  CHECK(standby.hellos() >= 1);  // it did ask the standby first
  CHECK(gateway->Log().find("is not the leader (leader: " + network.broker_endpoint() +
                            "), moving to " + network.broker_endpoint()) != std::string::npos);
}

TEST_CASE("a gateway whose only broker is a standby does not follow a leader outside its list and "
          "keeps its outbox" * doctest::timeout(120)) {
  TestNetwork network("follow-leader-outside");
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartPartnerGateway());
  FakeStandby standby(network.context(), network.keys().broker(), network.broker_endpoint());

  std::string local_ref;
  {
    auto gateway = StartAgentGateway(network, standby.endpoint(), 1);
    wire::Accepted accepted = Submit(network, "outside-1");
    CHECK(accepted.state() == wire::QUEUED_LOCALLY);
    local_ref = accepted.local_ref();
    REQUIRE_FALSE(local_ref.empty());
    // Long enough for several Hellos and forward attempts; none goes to the broker it named.
    std::this_thread::sleep_for(std::chrono::milliseconds(4000));
    auto local = LocalCase(network, local_ref);
    INFO(local.DebugString() << "\ngateway log:\n" << gateway->Log());
    REQUIRE(local.has_case_view());
    CHECK(local.case_view().summary().state() == wire::QUEUED_LOCALLY);
    CHECK(standby.hellos() >= 1);
    CHECK(standby.hellos() <= 20);  // asked again with backoff, not in a storm
    auto stats = network.BrokerClient(wire::OPERATOR, "operator")->CallOk([] {
      wire::Envelope request;
      request.mutable_get_stats();
      return request;
    }(), 5000);
    REQUIRE(stats.ok());
    CHECK(stats->stats().cases_by_state().empty());  // the leader never heard of it
    gateway->Stop();
  }

  // Nothing was lost: given the pair, the same gateway forwards what it kept.
  auto gateway = StartAgentGateway(network, standby.endpoint() + "," + network.broker_endpoint(), 2);
  std::string case_id;
  int64_t deadline = SteadyNowMs() + 20000;
  while (case_id.empty() && SteadyNowMs() < deadline) {
    auto local = LocalCase(network, local_ref);
    if (local.has_case_view() && local.case_view().summary().state() != wire::QUEUED_LOCALLY) {
      case_id = local.case_view().summary().case_id();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO("gateway log:\n" << gateway->Log());
  REQUIRE_FALSE(case_id.empty());
  CHECK(ReachesPartner(network, case_id, 20000));
}

TEST_CASE("aplus --broker STANDBY,LEADER stats answers from the leader" * doctest::timeout(60)) {
  TestNetwork network("follow-leader-cli");
  REQUIRE(network.StartBroker());
  FakeStandby standby(network.context(), network.keys().broker(), network.broker_endpoint());

  std::string command = BinPath("aplus") + " --broker " + standby.endpoint() + "," +
                        network.broker_endpoint() + " --key " +
                        network.KeyFile(wire::OPERATOR, "operator") + " --broker-key " +
                        network.BrokerPublicKeyFile() + " --json stats 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  INFO(output);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // One JSON object on stdout (the move is logged on stderr).
  REQUIRE_FALSE(output.empty());
  CHECK(output.front() == '{');
  CHECK(output.find("NOT_LEADER") == std::string::npos);
  CHECK(standby.envelopes() >= 1);
}
