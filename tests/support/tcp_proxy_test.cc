#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <zmq.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace aplus::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A real TCP echo server on 127.0.0.1 (a port the kernel picks), a thread per connection.
class EchoServer {
 public:
  EchoServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    socklen_t length = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~EchoServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (auto& thread : threads_) thread.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  int open_connections() const { return open_.load(); }

 private:
  void Accept() {
    while (true) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard lock(mutex_);
      fds_.push_back(fd);
      open_.fetch_add(1);
      threads_.emplace_back([this, fd] {
        char buffer[8192];
        while (true) {
          ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
          if (n <= 0) break;
          if (::send(fd, buffer, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
        }
        open_.fetch_sub(1);
      });
    }
  }
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::atomic<int> open_{0};
};

// A blocking client socket, closed when it dies.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // Up to `bytes` bytes, read until they all came, the peer closed, or `timeout_ms` passed.
  std::string Receive(size_t bytes, int timeout_ms) {
    std::string data;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (data.size() < bytes) {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      if (left <= 0) break;
      pollfd polled{fd_, POLLIN, 0};
      if (::poll(&polled, 1, left) <= 0) break;
      char buffer[65536];
      ssize_t n = ::recv(fd_, buffer, std::min(sizeof buffer, bytes - data.size()), 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      data.append(buffer, static_cast<size_t>(n));
    }
    return data;
  }
  // True when the peer closed (end of stream or reset) within `timeout_ms`.
  bool WaitClosed(int timeout_ms) {
    Receive(1 << 20, timeout_ms);
    return closed_;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

std::unique_ptr<TcpProxy> StartProxy(int target_port) {
  auto proxy = TcpProxy::Start(target_port);
  REQUIRE_MESSAGE(proxy.ok(), proxy.status().ToString());
  return std::move(proxy).value();
}

TEST_CASE("The proxy forwards both ways, in order, on several connections at once" *
          doctest::timeout(30)) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  CHECK(proxy->port() > 0);
  CHECK(proxy->endpoint() == "tcp://127.0.0.1:" + std::to_string(proxy->port()));

  Client small_a(proxy->port()), small_b(proxy->port());
  REQUIRE(small_a.connected());
  REQUIRE(small_b.connected());
  REQUIRE(small_a.Send("hello"));
  REQUIRE(small_b.Send("world"));
  CHECK(small_a.Receive(5, 5000) == "hello");
  CHECK(small_b.Receive(5, 5000) == "world");

  // 4 MiB, more than every buffer on the way: written by one thread, read back by this one.
  std::string big(4 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7919) % 26);
  Client bulk(proxy->port());
  REQUIRE(bulk.connected());
  std::thread writer([&] { CHECK(bulk.Send(big)); });
  std::string back = bulk.Receive(big.size(), 20000);
  writer.join();
  CHECK(back.size() == big.size());
  CHECK(back == big);
  CHECK(proxy->connections_accepted() == 3);
  CHECK(proxy->connections_open() == 3);
  CHECK(proxy->bytes_forwarded() == 2 * static_cast<int64_t>(big.size() + 10));
}

TEST_CASE("Pause holds every byte and every new connection; Resume lets them through in order" *
          doctest::timeout(30)) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client open_before(proxy->port());
  REQUIRE(open_before.connected());
  REQUIRE(open_before.Send("a"));
  REQUIRE(open_before.Receive(1, 5000) == "a");

  proxy->Pause();
  CHECK(proxy->mode() == TcpProxy::Mode::kPaused);
  int64_t bytes_at_pause = proxy->bytes_forwarded();
  REQUIRE(open_before.Send("bc"));
  // A link gone silent: no answer, and no end of stream either.
  CHECK(open_before.Receive(2, 400).empty());
  CHECK_FALSE(open_before.WaitClosed(100));
  // A new connection completes its handshake (the kernel's backlog) but nothing moves.
  Client opened_during(proxy->port());
  REQUIRE(opened_during.connected());
  REQUIRE(opened_during.Send("d"));
  CHECK(opened_during.Receive(1, 400).empty());
  CHECK(proxy->bytes_forwarded() == bytes_at_pause);
  CHECK(proxy->connections_accepted() == 1);

  proxy->Resume();
  CHECK(open_before.Receive(2, 5000) == "bc");
  CHECK(opened_during.Receive(1, 5000) == "d");
  CHECK(proxy->connections_accepted() == 2);
}

TEST_CASE("Cut closes every connection and refuses new ones until Resume" * doctest::timeout(30)) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client first(proxy->port()), second(proxy->port());
  REQUIRE(first.Send("x"));
  REQUIRE(second.Send("y"));
  REQUIRE(first.Receive(1, 5000) == "x");
  REQUIRE(second.Receive(1, 5000) == "y");
  CHECK(proxy->connections_open() == 2);

  proxy->Cut();
  CHECK(proxy->connections_open() == 0);
  CHECK(first.WaitClosed(5000));
  CHECK(second.WaitClosed(5000));
  // The far end learns it too.
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (echo.open_connections() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(echo.open_connections() == 0);

  // A reconnection during the cut is closed at once, without reaching the target.
  Client during(proxy->port());
  (void)during.Send("z");
  CHECK(during.WaitClosed(5000));
  CHECK(proxy->connections_accepted() == 2);
  CHECK(proxy->connections_refused() == 1);

  proxy->Resume();
  Client after(proxy->port());
  REQUIRE(after.connected());
  REQUIRE(after.Send("again"));
  CHECK(after.Receive(5, 5000) == "again");
  CHECK(proxy->connections_accepted() == 3);
}

TEST_CASE("A connection to a target that is down is closed, as without the proxy" *
          doctest::timeout(30)) {
  int dead_port = 0;
  {
    EchoServer gone;
    dead_port = gone.port();
  }
  auto proxy = StartProxy(dead_port);
  Client client(proxy->port());
  CHECK(client.WaitClosed(5000));
  CHECK(proxy->connections_accepted() == 0);
  CHECK(proxy->connections_open() == 0);
}

TEST_CASE("A listening port already taken is an error value" * doctest::timeout(30)) {
  EchoServer echo;
  auto first = StartProxy(echo.port());
  auto second = TcpProxy::Start(echo.port(), first->port());
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == wire::UNAVAILABLE);
}

// What the failover tests rely on: ZeroMQ reconnects through the proxy after a cut, and a
// message queued during the cut arrives once the link is back.
TEST_CASE("ZeroMQ reconnects through the proxy after a cut" * doctest::timeout(60)) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  std::string bound = router.get(zmq::sockopt::last_endpoint);
  int router_port = std::stoi(bound.substr(bound.rfind(':') + 1));
  auto proxy = StartProxy(router_port);

  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::reconnect_ivl, 50);
  dealer.set(zmq::sockopt::reconnect_ivl_max, 200);
  dealer.connect(proxy->endpoint());
  router.set(zmq::sockopt::rcvtimeo, 5000);

  auto receive_body = [&]() -> std::string {
    zmq::message_t identity, body;
    if (!router.recv(identity)) return "";
    if (!router.recv(body)) return "";
    return body.to_string();
  };
  dealer.send(zmq::buffer(std::string("one")));
  CHECK(receive_body() == "one");

  proxy->Cut();
  // Once it tries to reconnect, the dealer has dropped the old connection: what it sends now
  // waits in its queue (a message written into the dying connection would be lost with it).
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (proxy->connections_refused() == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(proxy->connections_refused() > 0);
  dealer.send(zmq::buffer(std::string("two")));
  router.set(zmq::sockopt::rcvtimeo, 500);
  CHECK(receive_body().empty());

  proxy->Resume();
  router.set(zmq::sockopt::rcvtimeo, 10000);
  CHECK(receive_body() == "two");
  CHECK(proxy->connections_accepted() >= 2);
}

}  // namespace
}  // namespace aplus::testing
