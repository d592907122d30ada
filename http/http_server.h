// The one HTTP/1.1 server of A+ (the gateways' API, and later the broker's metrics and the
// console), on Boost.Beast over Boost.Asio, with optional TLS (OpenSSL).
//
// Threads: the server owns one thread that runs its io_context; every connection lives on it.
// The handler is called on that thread and must not block: a program whose state belongs to
// another thread pushes the request to that thread (http/request_queue.h) and answers it from
// there through the Responder. RAII: the destructor stops accepting, closes every connection,
// and joins the thread; Responders that outlive the server drop their response quietly.
//
// Limits (every breach answers a problem document, or closes the connection when no answer can
// be read back, and never disturbs other connections):
//   header larger than max_header_bytes         -> 431 TOO_LARGE, then close
//   body larger than max_body_bytes              -> 413 TOO_LARGE, then close
//   malformed request line, header or chunking   -> 400 MALFORMED, then close
//   header not complete within header_timeout    -> close (a slowloris client); the window
//                                                   starts at accept (and also bounds the TLS
//                                                   handshake) or at the first byte of the
//                                                   next request of a kept-alive connection
//   body not complete within body_timeout        -> close
//   no new request within idle_timeout           -> close (keep-alive)
//   more than max_connections open connections   -> a new connection is closed at once
// While the handler has not answered, no timeout applies: long polls keep their Responder.
// Requests on one connection are answered in order, one at a time (no pipelined processing).
// A client that disconnects while its request waits for an answer is noticed only when the
// answer is written: the connection keeps its slot (max_connections) until then.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/http_message.h"
#include "http/responder.h"

namespace aplus::http {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // an IP address literal, or "localhost"
  uint16_t port = 0;               // 0: the system picks one; read it back with port()
  // Both or neither: serve HTTPS with this PEM certificate chain and PEM private key. Without
  // them only a loopback host is allowed (as the broker's --insecure).
  std::string tls_cert_file;
  std::string tls_key_file;
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  size_t max_connections = 512;
};

// Called on the server thread once per request; must answer through the Responder (from any
// thread, at any time) and must not block.
using HttpHandler = std::function<void(HttpRequest, Responder)>;

// "host:port" -> (host, port), for --http-listen flags. INVALID_ARGUMENT when malformed;
// "[::1]:7411" is accepted for IPv6.
Result<std::pair<std::string, uint16_t>> ParseListenAddress(const std::string& text);

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

class HttpServer {
 public:
  // Binds and starts serving. INVALID_ARGUMENT for a host that is not an IP literal or
  // "localhost", a non-loopback host without TLS, only one of the TLS files, or TLS files that
  // cannot be loaded; UNAVAILABLE when the address cannot be bound (in use, not local).
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler);

  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  uint16_t port() const;
  bool tls() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aplus::http
