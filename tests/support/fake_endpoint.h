// Test support for the command line's tests: a fake broker or gateway endpoint (a ROUTER on
// a free 127.0.0.1 port whose thread answers every request with a handler and records it).
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/wire.h"
#include "tests/support/child_process.h"

namespace aplus::testing {

using Envelope = wire::Envelope;

// Binds `socket` to a free 127.0.0.1 port that no other suite can pick meanwhile (FreePort);
// returns the endpoint.
inline std::string BindSomewhere(zmq::socket_t& socket) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::string candidate = Endpoint(FreePort());
    try {
      socket.bind(candidate);
      return candidate;
    } catch (const zmq::error_t&) {
      // Taken by a program outside the suites: try another.
    }
  }
  FAIL("no free port");
  return {};
}

// A ROUTER on 127.0.0.1; a thread answers every request with `handler` and records it.
class FakeEndpoint {
 public:
  using Handler = std::function<Envelope(const Envelope&)>;

  explicit FakeEndpoint(Handler handler) : handler_(std::move(handler)) {
    socket_.set(zmq::sockopt::linger, 0);
    endpoint_ = BindSomewhere(socket_);
    thread_ = std::thread([this] { Serve(); });
  }

  ~FakeEndpoint() {
    stop_ = true;
    thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }

  std::vector<Envelope> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      do {
        frames.emplace_back();
        (void)socket_.recv(frames.back());
      } while (frames.back().more());
      if (frames.size() != 2) continue;
      auto request = aplus::DecodeEnvelope(frames[1].data(), frames[1].size(), SIZE_MAX);
      if (!request.ok()) continue;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(*request);
      }
      Envelope answer = handler_(*request);
      answer.set_request_id(request->request_id());
      socket_.send(frames[0], zmq::send_flags::sndmore);
      socket_.send(aplus::EncodeEnvelope(answer), zmq::send_flags::none);
    }
  }

  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::router};
  std::string endpoint_;
  Handler handler_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<Envelope> requests_;  // guarded by mutex_
  std::thread thread_;              // last: starts once everything above exists
};

inline Envelope ErrorAnswer(aplus::wire::ErrorCode code, const std::string& message) {
  Envelope answer;
  answer.mutable_error()->set_code(code);
  answer.mutable_error()->set_message(message);
  return answer;
}

}  // namespace aplus::testing
