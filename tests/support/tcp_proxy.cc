#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace aplus::testing {
namespace {

constexpr size_t kBufferBytes = 64 * 1024;

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// A reset rather than a FIN: a cut link, and no TIME_WAIT left behind by a test.
void CloseAbruptly(int fd) {
  if (fd < 0) return;
  struct linger abrupt = {1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abrupt, sizeof abrupt);
  ::close(fd);
}

void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A stopped (SIGSTOP) target still completes handshakes from its listen backlog; a full backlog
// drops them, and a blocking connect would then hold the proxy's thread (and every Cut, Pause
// and Resume) for the kernel's SYN retries.
constexpr int kConnectTimeoutMs = 1000;

// A non-blocking socket connected to host:port within `timeout_ms`, or -1.
int ConnectWithin(const std::string& host, int port, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    ::close(fd);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
  if (errno == EINPROGRESS) {
    pollfd polled{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof error;
    if (::poll(&polled, 1, timeout_ms) == 1 &&
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0) {
      return fd;
    }
  }
  CloseAbruptly(fd);
  return -1;
}

}  // namespace

// One forwarded connection: the accepted socket and the one to the target, and per direction
// the bytes read but not yet written.
struct TcpProxy::Connection {
  struct Direction {
    std::string pending;   // read from the source, not yet written to the destination
    size_t written = 0;    // bytes of `pending` already written
    bool source_eof = false;
    bool destination_shut = false;  // shutdown(SHUT_WR) sent once the source ended
    bool HasData() const { return written < pending.size(); }
    bool CanRead() const { return !source_eof && pending.size() - written < kBufferBytes; }
  };
  int fds[2] = {-1, -1};  // 0: the accepted client, 1: the target
  Direction directions[2];  // 0: client -> target, 1: target -> client
  bool failed = false;
  bool Done() const {
    return failed || (directions[0].destination_shut && directions[1].destination_shut);
  }
};

Result<std::unique_ptr<TcpProxy>> TcpProxy::Start(int target_port, int listen_port,
                                                  const std::string& target_host) {
  int listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd < 0) return Status(wire::UNAVAILABLE, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(listen_port));
  if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd, 64) != 0) {
    std::string why = std::strerror(errno);
    ::close(listen_fd);
    return Status(wire::UNAVAILABLE, "cannot listen on 127.0.0.1:" + std::to_string(listen_port) +
                                         ": " + why);
  }
  socklen_t length = sizeof address;
  ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length);
  int wake[2];
  if (::pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    ::close(listen_fd);
    return Status(wire::UNAVAILABLE, std::string("pipe: ") + std::strerror(errno));
  }
  return std::unique_ptr<TcpProxy>(new TcpProxy(listen_fd, ntohs(address.sin_port), wake[0],
                                                wake[1], target_host, target_port));
}

TcpProxy::TcpProxy(int listen_fd, int port, int wake_read_fd, int wake_write_fd,
                   std::string target_host, int target_port)
    : listen_fd_(listen_fd),
      port_(port),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd),
      target_host_(std::move(target_host)),
      target_port_(target_port) {
  thread_ = std::thread([this] { Run(); });
}

TcpProxy::~TcpProxy() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  char byte = 's';
  (void)!::write(wake_write_fd_, &byte, 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_read_fd_);
  ::close(wake_write_fd_);
}

TcpProxy::Mode TcpProxy::mode() const {
  std::lock_guard lock(mutex_);
  return mode_;
}

void TcpProxy::SetMode(Mode mode) {
  std::unique_lock lock(mutex_);
  mode_ = mode;
  uint64_t mine = ++requested_;
  char byte = 'm';
  (void)!::write(wake_write_fd_, &byte, 1);
  applied_.wait(lock, [&] { return applied_count_ >= mine || stopping_; });
}

void TcpProxy::Run() {
  std::vector<std::unique_ptr<Connection>> connections;
  auto close_connection = [&](Connection& connection) {
    CloseAbruptly(connection.fds[0]);
    CloseAbruptly(connection.fds[1]);
    connection.fds[0] = connection.fds[1] = -1;
    connections_open_.fetch_sub(1);
  };
  auto accept_all = [&](Mode mode) {
    while (true) {
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;  // EAGAIN (nothing more), or a transient error: poll again
      if (mode == Mode::kCut) {
        connections_refused_.fetch_add(1);  // before the client can see the close
        CloseAbruptly(client);
        continue;
      }
      int target = ConnectWithin(target_host_, target_port_, kConnectTimeoutMs);
      if (target < 0) {
        // The target is down: the client sees its connection closed, as it would without us.
        CloseAbruptly(client);
        continue;
      }
      SetNonBlocking(client);
      NoDelay(client);
      NoDelay(target);
      auto connection = std::make_unique<Connection>();
      connection->fds[0] = client;
      connection->fds[1] = target;
      connections.push_back(std::move(connection));
      connections_accepted_.fetch_add(1);
      connections_open_.fetch_add(1);
    }
  };
  // Moves what it can in direction `d` of `connection` (0: client -> target).
  auto read_side = [&](Connection& connection, int d) {
    auto& direction = connection.directions[d];
    char buffer[16 * 1024];
    while (direction.CanRead()) {
      ssize_t n = ::recv(connection.fds[d], buffer, sizeof buffer, 0);
      if (n > 0) {
        direction.pending.append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        direction.source_eof = true;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        connection.failed = true;
      }
      return;
    }
  };
  auto write_side = [&](Connection& connection, int d) {
    auto& direction = connection.directions[d];
    int destination = connection.fds[1 - d];
    while (direction.HasData()) {
      ssize_t n = ::send(destination, direction.pending.data() + direction.written,
                         direction.pending.size() - direction.written, MSG_NOSIGNAL);
      if (n > 0) {
        direction.written += static_cast<size_t>(n);
        bytes_forwarded_.fetch_add(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) connection.failed = true;
      break;
    }
    if (!direction.HasData()) {
      direction.pending.clear();
      direction.written = 0;
      if (direction.source_eof && !direction.destination_shut) {
        ::shutdown(destination, SHUT_WR);
        direction.destination_shut = true;
      }
    }
  };

  Mode mode = Mode::kForward;
  std::vector<pollfd> polled;
  std::vector<std::pair<Connection*, int>> owners;  // per polled entry past the first two
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      if (applied_count_ != requested_) {
        mode = mode_;
        if (mode == Mode::kCut) {
          for (auto& connection : connections) close_connection(*connection);
          connections.clear();
        }
        applied_count_ = requested_;
        applied_.notify_all();
      }
    }
    polled.clear();
    owners.clear();
    polled.push_back({wake_read_fd_, POLLIN, 0});
    // Paused: new connections wait in the kernel's backlog, unaccepted.
    polled.push_back({listen_fd_, static_cast<short>(mode == Mode::kPaused ? 0 : POLLIN), 0});
    if (mode == Mode::kForward) {
      for (auto& connection : connections) {
        for (int side = 0; side < 2; ++side) {
          // Side `side` reads for direction `side` and writes for the other one.
          short events = 0;
          if (connection->directions[side].CanRead()) events |= POLLIN;
          if (connection->directions[1 - side].HasData()) events |= POLLOUT;
          polled.push_back({connection->fds[side], events, 0});
          owners.emplace_back(connection.get(), side);
        }
      }
    }
    if (::poll(polled.data(), polled.size(), -1) < 0 && errno != EINTR) break;
    if (polled[0].revents & POLLIN) {
      char drain[64];
      while (::read(wake_read_fd_, drain, sizeof drain) > 0) {
      }
    }
    if (polled[1].revents & POLLIN) accept_all(mode);
    for (size_t i = 2; i < polled.size(); ++i) {
      auto [connection, side] = owners[i - 2];
      short revents = polled[i].revents;
      if (revents == 0 || connection->failed) continue;
      if (revents & POLLERR) {
        connection->failed = true;
        continue;
      }
      if (revents & (POLLIN | POLLHUP)) read_side(*connection, side);
      // Write what was just read at once, and whatever the destination can take now.
      write_side(*connection, side);
      write_side(*connection, 1 - side);
    }
    for (auto it = connections.begin(); it != connections.end();) {
      if ((*it)->Done()) {
        close_connection(**it);
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& connection : connections) close_connection(*connection);
  // Whoever waits for a mode change is released even if the thread stops first (poll failed).
  std::lock_guard lock(mutex_);
  stopping_ = true;
  applied_count_ = requested_;
  applied_.notify_all();
}

}  // namespace aplus::testing
