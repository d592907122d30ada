// What both gateways do between a fail-stop trip and their exit (common/fail_stop.h): keep
// answering the local clients for kFailStopDrainMs, so that the answers already queued leave
// the socket and the requests still arriving get UNAVAILABLE instead of a timeout.
#pragma once

#include <chrono>
#include <functional>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/fail_stop.h"

namespace aplus {

// Polls `local` until kFailStopDrainMs have passed, calling `read_local` whenever it is
// readable (the gateway's own reader, which answers UNAVAILABLE once the FailStop tripped).
// Thread rules: the gateway's loop thread, after its loop returned.
inline void AnswerLocalClientsBeforeExit(zmq::socket_t& local,
                                         const std::function<void()>& read_local) {
  int64_t until = SteadyNowMs() + kFailStopDrainMs;
  for (int64_t now = SteadyNowMs(); now < until; now = SteadyNowMs()) {
    zmq::pollitem_t items[] = {{local.handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 1, std::chrono::milliseconds(until - now));
    } catch (const zmq::error_t&) {
      continue;  // a signal; the deadline still holds
    }
    if (items[0].revents & ZMQ_POLLIN) read_local();
  }
}

}  // namespace aplus
