// One blocking keep-alive HTTP/1.1 connection, reconnected after a transport error: the partner
// software's feed and acks (partner_software.cc) and the broker's /metrics scrapes
// (metrics_histogram.cc). Thread rules: one thread per client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace aplus::bench {

class KeepAliveClient {
 public:
  // `token` empty: no Authorization header (the broker's loopback /metrics needs none).
  KeepAliveClient(std::string host, uint16_t port, std::string token);

  // The answer, or the transport error's message in `error`. Each call is bounded by 30 s.
  std::optional<boost::beast::http::response<boost::beast::http::string_body>> Call(
      boost::beast::http::verb verb, const std::string& target, const std::string& body,
      const std::string& idempotency_key, std::string* error);

 private:
  std::string host_;
  uint16_t port_;
  std::string token_;
  boost::asio::io_context io_;
  std::optional<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace aplus::bench
