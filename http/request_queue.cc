#include "http/request_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "http/problem.h"

namespace aplus::http {
namespace {

int MakeEventFd() {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  return fd;
}

}  // namespace

RequestQueue::RequestQueue(size_t capacity) : capacity_(capacity), event_fd_(MakeEventFd()) {}

RequestQueue::~RequestQueue() {
  // Destroying the waiting responders answers their requests 500 (responder.h).
  {
    std::lock_guard lock(mutex_);
    waiting_.clear();
  }
  close(event_fd_);
}

void RequestQueue::Push(HttpRequest request, Responder responder) {
  {
    std::lock_guard lock(mutex_);
    if (waiting_.size() < capacity_) {
      waiting_.push_back({std::move(request), std::move(responder)});
      uint64_t one = 1;
      // Cannot fail short of a counter overflow (2^64 - 1 pushes without a drain).
      [[maybe_unused]] ssize_t written = write(event_fd_, &one, sizeof one);
      return;
    }
  }
  responder.Send(ProblemResponse(
      Status(wire::UNAVAILABLE, "too many requests are waiting to be served").WithRetryAfterMs(1000)));
}

std::vector<PendingRequest> RequestQueue::Drain() {
  std::lock_guard lock(mutex_);
  uint64_t count;
  // Reset the counter under the lock so that a Push after it makes the fd readable again.
  [[maybe_unused]] ssize_t read_bytes = read(event_fd_, &count, sizeof count);
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
