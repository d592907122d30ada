// A subscriber of the brokers' alert publications (the PUB endpoint, topic "alert.<kind>..."),
// connected to one or several brokers (a pair: only its leader publishes).
//
// Thread rules: one thread uses it (a ZeroMQ socket).
#pragma once

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/curve_client.h"
#include "common/wire.h"

namespace aplus::testing {

class AlertSubscriber {
 public:
  AlertSubscriber(zmq::context_t& context, const std::vector<std::string>& endpoints,
                  const CurveClientKeys& keys)
      : socket_(context, zmq::socket_type::sub) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::subscribe, "alert.");
    ApplyCurveClient(socket_, keys);
    for (const auto& endpoint : endpoints) socket_.connect(endpoint);
  }
  AlertSubscriber(zmq::context_t& context, const std::string& endpoint,
                  const CurveClientKeys& keys)
      : AlertSubscriber(context, std::vector<std::string>{endpoint}, keys) {}

  // The next publication within `timeout_ms`: its topic and alert.
  std::optional<std::pair<std::string, wire::Alert>> Next(int timeout_ms) {
    int64_t deadline = SteadyNowMs() + timeout_ms;
    while (true) {
      int64_t left = deadline - SteadyNowMs();
      if (left <= 0) return std::nullopt;
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(left));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      do {
        frames.emplace_back();
        if (!socket_.recv(frames.back(), zmq::recv_flags::none)) break;
      } while (frames.back().more());
      wire::Alert alert;
      if (frames.size() != 2 ||
          !alert.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
        FAIL_CHECK("a publication that is not topic + Alert (" << frames.size() << " frames)");
        continue;
      }
      return std::make_pair(frames[0].to_string(), alert);
    }
  }

 private:
  zmq::socket_t socket_;
};

}  // namespace aplus::testing
