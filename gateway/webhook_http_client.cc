#include "gateway/webhook_http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>

#include <openssl/ssl.h>

#include <optional>

namespace aplus {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxResponseBodyBytes = 64 * 1024;  // a receiver's answer is not read further

WebhookHttpResult Failure(WebhookTransport transport, std::string error) {
  WebhookHttpResult result;
  result.outcome.transport = transport;
  result.error = std::move(error);
  return result;
}

WebhookHttpResult FromError(const beast::error_code& ec) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
    return Failure(WebhookTransport::kTimeout, "timeout");
  }
  return Failure(WebhookTransport::kConnectionError, ec.message());
}

// Runs `ioc` until the started operation completed or `deadline` passed; false on the latter
// (the caller cancels and drains).
bool RunUntil(asio::io_context& ioc, std::chrono::steady_clock::time_point deadline,
              const bool& done) {
  ioc.restart();
  while (!done) {
    if (ioc.run_one_until(deadline) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (ioc.stopped()) ioc.restart();
    }
  }
  return true;
}

template <class Stream>
WebhookHttpResult Exchange(asio::io_context& ioc, Stream& stream,
                           std::chrono::steady_clock::time_point deadline,
                           bhttp::request<bhttp::string_body>& request, int64_t now_ms) {
  auto& lowest = beast::get_lowest_layer(stream);
  bool done = false;
  beast::error_code ec;
  lowest.expires_at(deadline);
  bhttp::async_write(stream, request, [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, deadline, done) && !done) {
    lowest.close();
    RunUntil(ioc, std::chrono::steady_clock::now() + std::chrono::seconds(1), done);
    return Failure(WebhookTransport::kTimeout, "timeout");
  }
  if (ec) return FromError(ec);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBodyBytes);
  done = false;
  lowest.expires_at(deadline);
  bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, deadline, done) && !done) {
    lowest.close();
    RunUntil(ioc, std::chrono::steady_clock::now() + std::chrono::seconds(1), done);
    return Failure(WebhookTransport::kTimeout, "timeout");
  }
  if (ec == bhttp::error::body_limit && parser.is_header_done()) ec = {};  // status is enough
  if (ec) return FromError(ec);
  WebhookHttpResult result;
  result.outcome.transport = WebhookTransport::kResponse;
  result.outcome.status_code = static_cast<int>(parser.get().result_int());
  auto retry_after = parser.get().find(bhttp::field::retry_after);
  if (retry_after != parser.get().end()) {
    auto ms = ParseRetryAfter(std::string_view(retry_after->value().data(),
                                               retry_after->value().size()),
                              now_ms);
    if (ms) result.outcome.retry_after_ms = *ms;
  }
  return result;
}

}  // namespace

Result<WebhookUrl> WebhookUrl::Parse(const std::string& text) {
  WebhookUrl url;
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    url.tls = true;
    rest = text.substr(8);
  } else {
    return Status(wire::INVALID_ARGUMENT, "webhook URL must start with http:// or https://");
  }
  if (text.find('#') != std::string::npos) {
    return Status(wire::INVALID_ARGUMENT, "webhook URL must not have a fragment");
  }
  size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  url.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (url.target.front() == '?') url.target = "/" + url.target;
  if (authority.find('@') != std::string::npos) {
    return Status(wire::INVALID_ARGUMENT, "webhook URL must not carry user info");
  }
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [::1]:8080
    size_t close = authority.find(']');
    if (close == std::string::npos) return Status(wire::INVALID_ARGUMENT, "malformed host");
    url.host = authority.substr(1, close - 1);
    colon = authority.find(':', close);
  } else {
    url.host = authority.substr(0, colon);
  }
  url.port = colon == std::string::npos ? (url.tls ? "443" : "80") : authority.substr(colon + 1);
  if (url.host.empty()) return Status(wire::INVALID_ARGUMENT, "webhook URL has no host");
  if (url.port.empty() || url.port.size() > 5 ||
      url.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(url.port) == 0 || std::stoi(url.port) > 65535) {
    return Status(wire::INVALID_ARGUMENT, "webhook URL has a bad port");
  }
  return url;
}

WebhookHttpResult WebhookHttpClient::Post(
    const WebhookUrl& url, const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body, int64_t now_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  asio::io_context ioc;

  bhttp::request<bhttp::string_body> request{bhttp::verb::post, url.target, 11};
  std::string host_header = url.host.find(':') != std::string::npos ? "[" + url.host + "]"
                                                                     : url.host;
  if ((url.tls && url.port != "443") || (!url.tls && url.port != "80")) {
    host_header += ":" + url.port;
  }
  request.set(bhttp::field::host, host_header);
  request.set(bhttp::field::user_agent, "aplus-partner-gateway");
  request.set(bhttp::field::content_type, "application/json");
  request.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();

  // Resolve.
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  beast::error_code ec;
  bool done = false;
  resolver.async_resolve(url.host, url.port,
                         [&](beast::error_code e, tcp::resolver::results_type results) {
                           ec = e;
                           endpoints = std::move(results);
                           done = true;
                         });
  if (!RunUntil(ioc, deadline, done) && !done) {
    resolver.cancel();
    RunUntil(ioc, std::chrono::steady_clock::now() + std::chrono::seconds(1), done);
    return Failure(WebhookTransport::kTimeout, "timeout");
  }
  if (ec) return Failure(WebhookTransport::kConnectionError, "cannot resolve: " + ec.message());

  auto connect = [&](beast::tcp_stream& stream) -> std::optional<WebhookHttpResult> {
    done = false;
    stream.expires_at(deadline);
    stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!RunUntil(ioc, deadline, done) && !done) {
      stream.close();
      RunUntil(ioc, std::chrono::steady_clock::now() + std::chrono::seconds(1), done);
      return Failure(WebhookTransport::kTimeout, "timeout");
    }
    if (ec == asio::error::connection_refused) {
      return Failure(WebhookTransport::kConnectionError, "connection refused");
    }
    if (ec) return FromError(ec);
    return std::nullopt;
  };

  if (!url.tls) {
    beast::tcp_stream stream(ioc);
    if (auto failed = connect(stream)) return *failed;
    auto result = Exchange(ioc, stream, deadline, request, now_ms);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return result;
  }

  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    return Failure(WebhookTransport::kConnectionError, "cannot set the TLS server name");
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
  if (auto failed = connect(beast::get_lowest_layer(stream))) return *failed;
  done = false;
  beast::get_lowest_layer(stream).expires_at(deadline);
  stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, deadline, done) && !done) {
    beast::get_lowest_layer(stream).close();
    RunUntil(ioc, std::chrono::steady_clock::now() + std::chrono::seconds(1), done);
    return Failure(WebhookTransport::kTimeout, "timeout");
  }
  if (ec) return Failure(WebhookTransport::kConnectionError, "TLS: " + ec.message());
  return Exchange(ioc, stream, deadline, request, now_ms);
}

}  // namespace aplus
