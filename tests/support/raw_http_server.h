// A loopback TCP server for clients' failure paths: it answers every connection with the same
// raw bytes (something that is not the expected server, a truncated or oversized answer) or,
// given no bytes, accepts and never answers (connections held open until it is destroyed).
#pragma once

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace aplus::testing {

class RawHttpServer {
 public:
  explicit RawHttpServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    REQUIRE(::listen(fd_, 16) == 0);
    thread_ = std::thread([this] {
      while (true) {
        int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0 || stop_) {
          if (client >= 0) ::close(client);
          return;
        }
        if (answer_.empty()) {
          held_.push_back(client);  // never answered
          continue;
        }
        char buffer[4096];
        (void)::read(client, buffer, sizeof buffer);  // the request: not looked at
        (void)::write(client, answer_.data(), answer_.size());
        ::close(client);
      }
    });
  }
  ~RawHttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (int client : held_) ::close(client);
    ::close(fd_);
  }
  RawHttpServer(const RawHttpServer&) = delete;
  RawHttpServer& operator=(const RawHttpServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;  // the accepting thread's only, until it is joined
  std::thread thread_;
};

}  // namespace aplus::testing
