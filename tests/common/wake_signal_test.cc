// common/wake_signal.h: the fd is readable from the first Raise() until Clear(), from any thread,
// and a poll waiting on it wakes at once.
#include "common/wake_signal.h"

#include <fcntl.h>
#include <poll.h>

#include <chrono>
#include <thread>

#include <doctest/doctest.h>

using namespace aplus;

namespace {

bool ReadableWithin(const WakeSignal& signal, int timeout_ms) {
  pollfd item{signal.fd(), POLLIN, 0};
  return poll(&item, 1, timeout_ms) == 1 && (item.revents & POLLIN);
}

}  // namespace

TEST_CASE("not readable until raised, readable until cleared, whatever the count of raises") {
  WakeSignal signal;
  CHECK_FALSE(ReadableWithin(signal, 0));
  signal.Raise();
  CHECK(ReadableWithin(signal, 0));
  signal.Raise();
  signal.Raise();
  CHECK(ReadableWithin(signal, 0));
  signal.Clear();
  CHECK_FALSE(ReadableWithin(signal, 0));
  signal.Clear();  // clearing what is not raised changes nothing
  CHECK_FALSE(ReadableWithin(signal, 0));
  signal.Raise();
  CHECK(ReadableWithin(signal, 0));
}

TEST_CASE("a raise from another thread wakes a poll waiting on the fd") {
  WakeSignal signal;
  const auto started = std::chrono::steady_clock::now();
  std::thread raiser([&signal] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    signal.Raise();
  });
  // Waits for the raise, not for the poll's 10 s timeout.
  CHECK(ReadableWithin(signal, 10000));
  raiser.join();
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

TEST_CASE("each signal has its own fd, closed when it goes") {
  int fd;
  {
    WakeSignal first;
    WakeSignal second;
    CHECK(first.fd() != second.fd());
    fd = first.fd();
  }
  CHECK(fcntl(fd, F_GETFD) == -1);
}
