#include "http/request_queue.h"

#include "http/problem.h"

namespace aplus::http {

RequestQueue::RequestQueue(size_t capacity) : capacity_(capacity) {}

RequestQueue::~RequestQueue() {
  // Destroying the waiting responders answers their requests 500 (responder.h).
  {
    std::lock_guard lock(mutex_);
    waiting_.clear();
  }
}

void RequestQueue::Push(HttpRequest request, Responder responder) {
  {
    std::lock_guard lock(mutex_);
    if (waiting_.size() < capacity_) {
      waiting_.push_back({std::move(request), std::move(responder)});
      ready_.Raise();
      return;
    }
  }
  responder.Send(ProblemResponse(
      Status(wire::UNAVAILABLE, "too many requests are waiting to be served").WithRetryAfterMs(1000)));
}

std::vector<PendingRequest> RequestQueue::Drain() {
  std::lock_guard lock(mutex_);
  // Cleared under the lock so that a Push after it makes the fd readable again.
  ready_.Clear();
  std::vector<PendingRequest> drained(std::make_move_iterator(waiting_.begin()),
                                      std::make_move_iterator(waiting_.end()));
  waiting_.clear();
  return drained;
}

HttpHandler RequestQueue::AsHandler() {
  return [this](HttpRequest request, Responder responder) {
    Push(std::move(request), std::move(responder));
  };
}

}  // namespace aplus::http
