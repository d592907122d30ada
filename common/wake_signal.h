// Wakes a thread that waits in zmq::poll (or poll(2)) when another thread has handed it work:
// an eventfd, readable from the first Raise() until Clear(). Put fd() in a zmq_pollitem_t with
// socket = nullptr, fd = fd(), events = ZMQ_POLLIN.
//
// Used where a worker's results wait for an owner's loop: HTTP requests for a program's loop
// (http/request_queue.h), finished reads of every case for the broker's (store/case_scanner.h).
// Without it the owner finds them only when its poll times out (up to 100 ms for the broker).
//
// Thread rules: Raise() from any thread; Clear() and fd() from the owner. To miss nothing, the
// owner clears before it takes the work (under the lock that guards the work, or before taking
// it): a Raise() after the Clear() leaves the fd readable for the next poll.
#pragma once

namespace aplus {

class WakeSignal {
 public:
  // Throws std::system_error when no eventfd can be made (start-up only).
  WakeSignal();
  ~WakeSignal();
  WakeSignal(const WakeSignal&) = delete;
  WakeSignal& operator=(const WakeSignal&) = delete;

  int fd() const { return fd_; }
  void Raise();
  void Clear();

 private:
  const int fd_;
};

}  // namespace aplus
