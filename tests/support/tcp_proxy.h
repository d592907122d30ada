// Test support: a TCP proxy between two programs on 127.0.0.1 that a test can cut or silence,
// to play the failures of a network link (docs/AVAILABILITY.md: the link between the brokers).
//
//   auto proxy_a = TcpProxy::Start(replication_port_a);       // listens on a free port
//   // node a: --replication-listen tcp://127.0.0.1:<replication_port_a>
//   //         --replication-advertise proxy_a->endpoint()   (the other node dials the proxy)
//   // node b likewise through proxy_b: whichever leads, its standby comes through a proxy.
//   proxy_a->Cut();     // every connection closed (RST), new ones closed at once
//   proxy_a->Pause();   // connections stay open but no byte moves, new ones wait unaccepted
//   proxy_a->Resume();  // back to forwarding
//
// Cut is a link that breaks: both ends learn it at once (a reset) and their reconnections
// fail until Resume. Pause is a link that goes silent: nothing is closed, bytes already sent
// wait in the kernel's buffers, a new connection completes its handshake (the kernel's backlog)
// but is not accepted; on Resume everything moves again, in order. Neither loses a byte of a
// connection that survives.
//
// The target is expected on loopback: the proxy connects to it from its own thread when it
// accepts a connection, waiting at most 1 s (a refused or timed-out connect closes the accepted
// one, as a client connecting directly would see).
//
// Thread rules: the proxy forwards on its own thread (poll). Cut, Pause and Resume may be called
// from any thread and return once the proxy thread has applied them (after Cut returns no
// connection is open; after Pause returns no byte is forwarded). The counters are atomics.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace aplus::testing {

class TcpProxy {
 public:
  enum class Mode { kForward, kPaused, kCut };

  // Listens on `listen_port` of 127.0.0.1 (0 = a port the kernel picks; read it with port())
  // and forwards each connection to `target_host`:`target_port`. UNAVAILABLE when the
  // listening socket cannot be made.
  static Result<std::unique_ptr<TcpProxy>> Start(int target_port, int listen_port = 0,
                                                 const std::string& target_host = "127.0.0.1");
  // Closes every connection and the listening socket, then joins the thread.
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // The port it listens on, and "tcp://127.0.0.1:<port>" (a ZeroMQ endpoint).
  int port() const { return port_; }
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  void Cut() { SetMode(Mode::kCut); }
  void Pause() { SetMode(Mode::kPaused); }
  void Resume() { SetMode(Mode::kForward); }
  Mode mode() const;

  // Connections accepted and forwarded since the start (those closed at once by a cut are not
  // counted), connections closed at once during a cut (a client that is trying to reconnect:
  // it has noticed the cut), connections open now, bytes forwarded in both directions.
  int64_t connections_accepted() const { return connections_accepted_.load(); }
  int64_t connections_refused() const { return connections_refused_.load(); }
  int64_t connections_open() const { return connections_open_.load(); }
  int64_t bytes_forwarded() const { return bytes_forwarded_.load(); }

 private:
  struct Connection;
  TcpProxy(int listen_fd, int port, int wake_read_fd, int wake_write_fd, std::string target_host,
           int target_port);
  void SetMode(Mode mode);
  void Run();  // the proxy thread

  // Constant after construction.
  const int listen_fd_;
  const int port_;
  const int wake_read_fd_;
  const int wake_write_fd_;
  const std::string target_host_;
  const int target_port_;

  // Guarded by mutex_: the mode asked for, and the count of requests the thread has applied.
  mutable std::mutex mutex_;
  std::condition_variable applied_;
  Mode mode_ = Mode::kForward;
  uint64_t requested_ = 0;
  uint64_t applied_count_ = 0;
  bool stopping_ = false;

  std::atomic<int64_t> connections_accepted_{0};
  std::atomic<int64_t> connections_refused_{0};
  std::atomic<int64_t> connections_open_{0};
  std::atomic<int64_t> bytes_forwarded_{0};
  std::thread thread_;
};

}  // namespace aplus::testing
