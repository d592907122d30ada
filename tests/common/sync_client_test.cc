// SyncClient in a program with signal handlers (`aplus alerts --follow` stops on SIGINT and
// SIGTERM): a signal during a call interrupts its poll (EINTR); the call must go on to its
// deadline and answer, not die of an uncaught zmq::error_t. And SyncClient with a pair of
// brokers' endpoints: it follows the leader (NOT_LEADER, an endpoint that answers nothing).
#include "common/sync_client.h"

#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <zmq_addon.hpp>

#include "common/wire.h"

using namespace aplus;

namespace {
std::atomic<int> signals_seen{0};
void CountSignal(int) { signals_seen.fetch_add(1); }

// A broker on a thread: a leader (Welcome, Stats) or a standby (NOT_LEADER naming `leader`).
class FakeNode {
 public:
  FakeNode(zmq::context_t& context, bool standby, std::string leader = "")
      : socket_(context, zmq::socket_type::router), standby_(standby), leader_(std::move(leader)) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] {
      while (!stop_) {
        zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(20));
        std::vector<zmq::message_t> frames;
        while (zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
          if (frames.size() == 2) Answer(frames[0], frames[1]);
          frames.clear();
        }
      }
    });
  }
  ~FakeNode() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  std::atomic<int> envelopes{0};

 private:
  void Answer(const zmq::message_t& routing_id, const zmq::message_t& frame) {
    auto request = DecodeEnvelope(frame.data(), frame.size(), SIZE_MAX);
    if (!request.ok()) return;
    ++envelopes;
    wire::Envelope answer;
    if (standby_) {
      answer = MakeErrorEnvelope(0, Status(wire::NOT_LEADER, "standby"));
      answer.mutable_error()->set_leader_endpoint(leader_);
    } else if (request->has_hello()) {
      answer.mutable_welcome()->set_instance_id("leader");
    } else {
      answer.mutable_stats();
    }
    answer.set_request_id(request->request_id());
    socket_.send(zmq::buffer(routing_id.data(), routing_id.size()), zmq::send_flags::sndmore);
    socket_.send(EncodeEnvelope(answer), zmq::send_flags::none);
  }
  zmq::socket_t socket_;
  const bool standby_;
  const std::string leader_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

wire::Envelope StatsRequest() {
  wire::Envelope request;
  request.mutable_get_stats();
  return request;
}

wire::Hello OperatorHello() {
  wire::Hello hello;
  hello.set_role(wire::OPERATOR);
  hello.set_principal("operator");
  return hello;
}
}  // namespace

TEST_CASE("a signal during a call does not end the program: the call answers by its deadline") {
  struct sigaction action {};
  action.sa_handler = CountSignal;  // no SA_RESTART: a blocked poll returns EINTR
  sigemptyset(&action.sa_mask);
  REQUIRE(sigaction(SIGUSR1, &action, nullptr) == 0);

  zmq::context_t context(1);
  zmq::socket_t silent(context, zmq::socket_type::router);  // takes requests, never answers
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  std::string endpoint = silent.get(zmq::sockopt::last_endpoint);

  SyncClient client(context, endpoint, std::nullopt, std::nullopt);
  pthread_t caller = pthread_self();
  std::thread interrupter([caller] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      pthread_kill(caller, SIGUSR1);
    }
  });
  wire::Envelope request;
  request.mutable_ping();
  auto started = std::chrono::steady_clock::now();
  Result<wire::Envelope> answer = client.Call(request, 1000);
  auto took = std::chrono::steady_clock::now() - started;
  interrupter.join();
  CHECK(signals_seen.load() >= 1);
  CHECK_FALSE(answer.ok());
  CHECK(answer.status().code() == wire::UNREACHABLE);
  CHECK(took >= std::chrono::milliseconds(900));  // the call went on to its deadline
  signal(SIGUSR1, SIG_DFL);
}

TEST_CASE("a call given STANDBY,LEADER is answered by the leader the standby names" *
          doctest::timeout(30)) {
  zmq::context_t context(1);
  FakeNode leader(context, false);
  FakeNode standby(context, true, leader.endpoint());
  SyncClient client(context, standby.endpoint() + "," + leader.endpoint(), OperatorHello());
  auto answer = client.CallOk(StatsRequest(), 5000);
  REQUIRE(answer.ok());
  CHECK(answer->has_stats());
  CHECK(client.endpoint() == leader.endpoint());
  CHECK(standby.envelopes.load() == 1);  // its Hello, answered NOT_LEADER
  // The next call goes straight to the leader.
  REQUIRE(client.CallOk(StatsRequest(), 5000).ok());
  CHECK(standby.envelopes.load() == 1);
}

TEST_CASE("a call whose first endpoint answers nothing is answered by the next within the "
          "deadline" * doctest::timeout(30)) {
  zmq::context_t context(1);
  zmq::socket_t silent(context, zmq::socket_type::router);  // takes requests, never answers
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  FakeNode leader(context, false);
  SyncClient client(context, silent.get(zmq::sockopt::last_endpoint) + "," + leader.endpoint(),
                    OperatorHello());
  auto answer = client.CallOk(StatsRequest(), 5000);
  REQUIRE(answer.ok());
  CHECK(client.endpoint() == leader.endpoint());
}

TEST_CASE("with one endpoint NOT_LEADER is the call's answer (a leader outside the list is not "
          "followed)" * doctest::timeout(30)) {
  zmq::context_t context(1);
  FakeNode leader(context, false);
  FakeNode standby(context, true, leader.endpoint());
  SyncClient client(context, standby.endpoint(), OperatorHello());
  auto answer = client.CallOk(StatsRequest(), 3000);
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.status().code() == wire::NOT_LEADER);
  CHECK(leader.envelopes.load() == 0);
}
