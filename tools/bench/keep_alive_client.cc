#include "tools/bench/keep_alive_client.h"

#include <chrono>

#include <boost/asio/ip/tcp.hpp>

namespace aplus::bench {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

KeepAliveClient::KeepAliveClient(std::string host, uint16_t port, std::string token)
    : host_(std::move(host)), port_(port), token_(std::move(token)) {}

std::optional<http::response<http::string_body>> KeepAliveClient::Call(
    http::verb verb, const std::string& target, const std::string& body,
    const std::string& idempotency_key, std::string* error) {
  beast::error_code ec;
  if (!stream_) {
    stream_.emplace(io_);
    tcp::endpoint endpoint(boost::asio::ip::make_address(host_, ec), port_);
    if (!ec) stream_->socket().connect(endpoint, ec);
    if (ec) {
      *error = "connect: " + ec.message();
      stream_.reset();
      return std::nullopt;
    }
    stream_->socket().set_option(tcp::no_delay(true), ec);
  }
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, host_);
  if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
  if (!idempotency_key.empty()) request.set("Idempotency-Key", idempotency_key);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.keep_alive(true);
  request.body() = body;
  request.prepare_payload();
  stream_->expires_after(std::chrono::seconds(30));
  http::write(*stream_, request, ec);
  http::response<http::string_body> response;
  if (!ec) http::read(*stream_, buffer_, response, ec);
  if (ec) {
    *error = "transport: " + ec.message();
    stream_.reset();
    buffer_.clear();
    return std::nullopt;
  }
  if (!response.keep_alive()) {
    stream_.reset();
    buffer_.clear();
  }
  return response;
}

}  // namespace aplus::bench
