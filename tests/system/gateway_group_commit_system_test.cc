// Group commit in the agent gateway (gateway/group_commit.h), counted at the syscall boundary:
// the real gateway runs with tests/support/fsync_shim.c preloaded, logging every fsync and
// fdatasync. A burst of submissions drained together shares fsyncs: before group commit each
// submission cost four (local ref, outbox append, the recorded answer, outbox removal), so 100
// cost about 400; now they cost about one per loop turn that wrote something.
#include <doctest/doctest.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <zmq_addon.hpp>

#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";

size_t LogLines(const std::string& path) {
  std::ifstream in(path);
  size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

}  // namespace

TEST_CASE("agent gateway: 100 submissions sent together cost far fewer than 100 fsyncs" *
          doctest::timeout(120)) {
  constexpr int kSubmissions = 100;
  TestNetwork network("group-commit-agent");
  const std::string log = network.dir().Sub("agent-fsync.log");
  network.SetEnvironment("aplus-agent-gateway",
                         {std::string("LD_PRELOAD=") + APLUS_FSYNC_SHIM, "APLUS_FSYNC_LOG=" + log});
  REQUIRE(network.StartBroker(kNoRateLimit));
  REQUIRE_MESSAGE(network.StartAgentGateway(kContactPoint, {"--forward-timeout-ms", "20000"}),
                  network.agent_gateway().Log());
  auto client = network.AgentClient();
  auto warm_up = client->Call(SubmitRequest("warm-up", "warm-up"), 20000);
  REQUIRE_MESSAGE((warm_up.ok() && warm_up->has_accepted()), network.agent_gateway().Log());
  REQUIRE(LogLines(log) > 0);  // the shim is in the path: the warm-up was fsynced

  // One DEALER sends the whole burst before reading anything.
  zmq::socket_t socket(network.context(), zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(network.agent_endpoint());
  size_t calls_before = LogLines(log);
  for (int i = 1; i <= kSubmissions; ++i) {
    wire::Envelope request =
        SubmitRequest("Dossier " + std::to_string(i), "burst-" + std::to_string(i));
    request.set_request_id(static_cast<uint64_t>(i));
    socket.send(zmq::message_t(EncodeEnvelope(request)), zmq::send_flags::none);
  }
  std::set<uint64_t> answered;
  std::set<std::string> case_ids;
  int64_t deadline = SteadyNowMs() + 60000;
  while (static_cast<int>(answered.size()) < kSubmissions && SteadyNowMs() < deadline) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    zmq::message_t frame;
    (void)socket.recv(frame);
    auto answer = DecodeEnvelope(frame.data(), frame.size(), SIZE_MAX);
    REQUIRE(answer.ok());
    INFO("answer to " << answer->request_id() << ": " << StatusOf(*answer).ToString());
    REQUIRE(answer->has_accepted());
    CHECK(answer->accepted().state() != wire::QUEUED_LOCALLY);
    answered.insert(answer->request_id());
    case_ids.insert(answer->accepted().case_id());
  }
  REQUIRE(static_cast<int>(answered.size()) == kSubmissions);
  CHECK(static_cast<int>(case_ids.size()) == kSubmissions);
  size_t calls = LogLines(log) - calls_before;
  std::cout << "agent gateway: " << kSubmissions << " submissions sent together cost " << calls
            << " fsync/fdatasync calls (" << static_cast<double>(calls) / kSubmissions
            << " per submission; 4 per submission before group commit)" << std::endl;
  // Generous for a loaded machine (a burst may spread over many loop turns), and still far
  // below the 4 per submission of separate commits.
  CHECK(calls < static_cast<size_t>(kSubmissions));
}

// Submissions/s through the agent gateway's local endpoint with many concurrent clients, each
// keeping a few submissions in flight (printed for docs/BENCHMARKS.md; asserted loosely: the
// machine may be loaded by other tests).
TEST_CASE("agent gateway: submissions/s with 16 concurrent clients" * doctest::timeout(180)) {
  constexpr int kClients = 16;
  constexpr int kInFlight = 8;
  constexpr int kPerClient = 125;  // 2000 submissions in all
  TestNetwork network("group-commit-rate");
  REQUIRE(network.StartBroker(kNoRateLimit));
  REQUIRE_MESSAGE(network.StartAgentGateway(kContactPoint, {"--forward-timeout-ms", "20000"}),
                  network.agent_gateway().Log());
  auto client = network.AgentClient();
  auto warm_up = client->Call(SubmitRequest("warm-up", "warm-up"), 20000);
  REQUIRE_MESSAGE((warm_up.ok() && warm_up->has_accepted()), network.agent_gateway().Log());

  std::vector<std::unique_ptr<zmq::socket_t>> sockets;
  std::vector<int> sent(kClients, 0), answered(kClients, 0);
  auto send_one = [&](int c) {
    int i = sent[c]++;
    wire::Envelope request = SubmitRequest("Dossier", "rate-" + std::to_string(c) + "-" +
                                                          std::to_string(i));
    request.set_request_id(static_cast<uint64_t>(i + 1));
    sockets[c]->send(zmq::message_t(EncodeEnvelope(request)), zmq::send_flags::none);
  };
  for (int c = 0; c < kClients; ++c) {
    sockets.push_back(std::make_unique<zmq::socket_t>(network.context(), zmq::socket_type::dealer));
    sockets.back()->set(zmq::sockopt::linger, 0);
    sockets.back()->connect(network.agent_endpoint());
  }
  int64_t started = SteadyNowMs();
  for (int c = 0; c < kClients; ++c) {
    for (int k = 0; k < kInFlight; ++k) send_one(c);
  }
  int total = 0;
  int refused = 0;
  int64_t deadline = started + 150000;
  while (total < kClients * kPerClient && SteadyNowMs() < deadline) {
    std::vector<zmq::pollitem_t> items;
    for (auto& socket : sockets) items.push_back({socket->handle(), 0, ZMQ_POLLIN, 0});
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    for (int c = 0; c < kClients; ++c) {
      if (!(items[c].revents & ZMQ_POLLIN)) continue;
      zmq::message_t frame;
      while (sockets[c]->recv(frame, zmq::recv_flags::dontwait)) {
        auto answer = DecodeEnvelope(frame.data(), frame.size(), SIZE_MAX);
        if (!answer.ok() || !answer->has_accepted() ||
            answer->accepted().state() == wire::QUEUED_LOCALLY) {
          ++refused;
        }
        ++answered[c];
        ++total;
        if (sent[c] < kPerClient) send_one(c);
      }
    }
  }
  int64_t elapsed = std::max<int64_t>(1, SteadyNowMs() - started);
  REQUIRE(total == kClients * kPerClient);
  CHECK(refused == 0);
  std::cout << "agent gateway: " << total << " submissions from " << kClients
            << " clients (" << kInFlight << " in flight each) in " << elapsed << " ms: "
            << total * 1000 / elapsed << " submissions/s" << std::endl;
}
