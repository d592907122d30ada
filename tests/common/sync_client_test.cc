// SyncClient in a program with signal handlers (`aplus alerts --follow` stops on SIGINT and
// SIGTERM): a signal during a call interrupts its poll (EINTR); the call must go on to its
// deadline and answer, not die of an uncaught zmq::error_t.
#include "common/sync_client.h"

#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace aplus;

namespace {
std::atomic<int> signals_seen{0};
void CountSignal(int) { signals_seen.fetch_add(1); }
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
