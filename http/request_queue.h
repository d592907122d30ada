// The hand-off of HTTP requests to the thread that owns a program's state (a gateway's store is
// written by its zmq::poll loop only). The HTTP server thread pushes (request, responder); the
// owner thread polls fd() (common/wake_signal.h: put it in a zmq_pollitem_t with socket =
// nullptr, fd = fd(), events = ZMQ_POLLIN) and, when it is readable, calls Drain() and answers
// each request through its Responder, at once or later (long polls).
//
// Thread rules: Push from any thread (normally the server thread); Drain from one owner thread.
// Nothing pushed is dropped: past `capacity` waiting requests, Push answers 503 UNAVAILABLE
// (Retry-After 1) at once instead of queueing, so a stalled owner cannot exhaust memory.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

#include "common/wake_signal.h"
#include "http/http_message.h"
#include "http/http_server.h"
#include "http/responder.h"

namespace aplus::http {

struct PendingRequest {
  HttpRequest request;
  Responder responder;
};

class RequestQueue {
 public:
  static constexpr size_t kDefaultCapacity = 10000;

  // Throws std::system_error when no eventfd can be made (start-up only).
  explicit RequestQueue(size_t capacity = kDefaultCapacity);
  ~RequestQueue();
  RequestQueue(const RequestQueue&) = delete;
  RequestQueue& operator=(const RequestQueue&) = delete;

  // Readable while requests wait (level-triggered until Drain empties the queue).
  int fd() const { return ready_.fd(); }

  void Push(HttpRequest request, Responder responder);

  // Every waiting request, oldest first; clears the fd's readiness. Owner thread only.
  std::vector<PendingRequest> Drain();

  // A handler for HttpServer that pushes every request here. The queue must outlive the server.
  HttpHandler AsHandler();

 private:
  const size_t capacity_;
  WakeSignal ready_;  // raised while requests wait
  std::mutex mutex_;
  std::deque<PendingRequest> waiting_;  // guarded by mutex_
};

}  // namespace aplus::http
