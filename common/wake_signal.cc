#include "common/wake_signal.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace aplus {
namespace {

int MakeEventFd() {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  return fd;
}

}  // namespace

WakeSignal::WakeSignal() : fd_(MakeEventFd()) {}

WakeSignal::~WakeSignal() { close(fd_); }

void WakeSignal::Raise() {
  uint64_t one = 1;
  // Cannot fail short of a counter overflow (2^64 - 1 raises without a clear).
  [[maybe_unused]] ssize_t written = write(fd_, &one, sizeof one);
}

void WakeSignal::Clear() {
  uint64_t count;
  // EAGAIN when not raised: nothing to clear.
  [[maybe_unused]] ssize_t read_bytes = read(fd_, &count, sizeof count);
}

}  // namespace aplus
