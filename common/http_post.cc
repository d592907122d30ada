#include "common/http_post.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace aplus {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Time given to cancelled operations to run their handlers (they refer to the caller's frame).
constexpr auto kDrainAfterCancel = std::chrono::seconds(1);

// Runs `ioc` until the started operation completed or `deadline` passed; false on the latter
// (the caller cancels and drains).
bool RunUntil(asio::io_context& ioc, SteadyClock::time_point deadline, const bool& done) {
  ioc.restart();
  while (!done) {
    if (ioc.run_one_until(deadline) == 0) {
      if (SteadyClock::now() >= deadline) return false;
      if (ioc.stopped()) ioc.restart();
    }
  }
  return true;
}

HttpPostResult Failure(HttpPostFailure failure, std::string step, std::string error = "") {
  HttpPostResult result;
  result.failure = failure;
  result.step = std::move(step);
  result.error = std::move(error);
  return result;
}

HttpPostResult FromError(const char* step, const beast::error_code& ec) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
    return Failure(HttpPostFailure::kTimeout, step);
  }
  if (ec == asio::error::connection_refused) {
    return Failure(HttpPostFailure::kRefused, step, ec.message());
  }
  return Failure(HttpPostFailure::kFailed, step, ec.message());
}

// One exchange with the deadline's bookkeeping: `start` begins an asynchronous operation whose
// handler sets `ec` and `done`; on timeout, `cancel` closes what the operation waits on.
class Steps {
 public:
  Steps(asio::io_context& ioc, SteadyClock::time_point deadline) : ioc_(ioc), deadline_(deadline) {}

  template <class Start, class Cancel>
  std::optional<HttpPostResult> Run(const char* step, Start start, Cancel cancel) {
    done_ = false;
    ec_ = {};
    start([this](beast::error_code e) {
      ec_ = e;
      done_ = true;
    });
    if (!RunUntil(ioc_, deadline_, done_) && !done_) {
      cancel();
      RunUntil(ioc_, SteadyClock::now() + kDrainAfterCancel, done_);
      return Failure(HttpPostFailure::kTimeout, step);
    }
    if (ec_) return FromError(step, ec_);
    return std::nullopt;
  }

  SteadyClock::time_point deadline() const { return deadline_; }

 private:
  asio::io_context& ioc_;
  const SteadyClock::time_point deadline_;
  beast::error_code ec_;
  bool done_ = false;
};

// A name lookup's outcome, shared with the thread that runs it.
struct Lookup {
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  beast::error_code ec;
  tcp::resolver::results_type results;
};

// The host's addresses into `out`, or the failure. An address literal needs no lookup. A name
// is looked up on a thread of its own: getaddrinfo cannot be interrupted (a cancelled Asio
// resolver still waits for it when destroyed), so a lookup that outlives the deadline is left
// to end alone and the caller is answered kTimeout on time.
std::optional<HttpPostResult> Resolve(const HttpPostRequest& request,
                                      SteadyClock::time_point deadline,
                                      tcp::resolver::results_type& out) {
  beast::error_code ec;
  asio::ip::make_address(request.host, ec);
  if (!ec) {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    out = resolver.resolve(request.host, request.port,
                           tcp::resolver::numeric_host | tcp::resolver::numeric_service, ec);
    if (ec) return FromError("resolve", ec);
    return std::nullopt;
  }
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host = request.host, port = request.port] {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code error;
    auto results = resolver.resolve(host, port, error);
    std::lock_guard lock(lookup->mutex);
    lookup->ec = error;
    lookup->results = std::move(results);
    lookup->done = true;
    lookup->finished.notify_all();
  }).detach();
  std::unique_lock lock(lookup->mutex);
  if (!lookup->finished.wait_until(lock, deadline, [&] { return lookup->done; })) {
    return Failure(HttpPostFailure::kTimeout, "resolve");
  }
  if (lookup->ec) return FromError("resolve", lookup->ec);
  out = lookup->results;
  return std::nullopt;
}

template <class Stream>
HttpPostResult Exchange(Steps& steps, Stream& stream, bhttp::request<bhttp::string_body>& message,
                        const HttpPostRequest& request) {
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_at(steps.deadline());
  auto sent = steps.Run(
      "write",
      [&](auto handler) {
        bhttp::async_write(stream, message,
                           [handler](beast::error_code e, size_t) { handler(e); });
      },
      [&] { lowest.close(); });
  if (sent) return *sent;

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(request.max_response_body_bytes);
  lowest.expires_at(steps.deadline());
  // The header first: Boost 1.74's response parser, reading header and body in one go, loses
  // its own body_limit error for a Content-Length body that arrives with the header (it goes
  // on parsing). Read alone, the header stops at that error; the declared length is checked
  // here too. Chunked and to-the-end bodies meet parser.body_limit as they are read.
  auto header = steps.Run(
      "read",
      [&](auto handler) {
        bhttp::async_read_header(stream, buffer, parser,
                                 [&, handler](beast::error_code e, size_t) {
                                   if (e == bhttp::error::body_limit && parser.is_header_done()) {
                                     e = {};
                                   }
                                   handler(e);
                                 });
      },
      [&] { lowest.close(); });
  if (header) return *header;
  bool body_cut = false;
  const auto declared = parser.content_length();
  // (A 1xx, 204 or 304 has no body whatever its Content-Length says: the parser is done.)
  if (!parser.is_done() && declared && *declared > request.max_response_body_bytes) {
    if (!request.status_is_enough) {
      return Failure(HttpPostFailure::kFailed, "read",
                     "a response body of " + std::to_string(*declared) +
                         " bytes, over the limit of " +
                         std::to_string(request.max_response_body_bytes));
    }
    body_cut = true;
  } else {
    auto read = steps.Run(
        "read",
        [&](auto handler) {
          bhttp::async_read(stream, buffer, parser,
                            [&, handler](beast::error_code e, size_t) {
                              if (e == bhttp::error::body_limit && request.status_is_enough) {
                                body_cut = true;
                                e = {};
                              }
                              handler(e);
                            });
        },
        [&] { lowest.close(); });
    if (read) return *read;
  }
  HttpPostResult result;
  result.status = static_cast<int>(parser.get().result_int());
  if (!body_cut) result.body = std::move(parser.get().body());
  auto retry_after = parser.get().find(bhttp::field::retry_after);
  if (retry_after != parser.get().end()) {
    result.retry_after = std::string(retry_after->value().data(), retry_after->value().size());
  }
  return result;
}

}  // namespace

HttpPostResult PostOnce(const HttpPostRequest& request, SteadyClock::time_point deadline) {
  asio::io_context ioc;
  Steps steps(ioc, deadline);

  bhttp::request<bhttp::string_body> message{bhttp::verb::post, request.target, 11};
  message.set(bhttp::field::host, request.host_header);
  message.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.body() = request.body;
  message.prepare_payload();

  tcp::resolver::results_type endpoints;
  if (auto failed = Resolve(request, deadline, endpoints)) return *failed;

  auto connect = [&](beast::tcp_stream& stream) {
    stream.expires_at(deadline);
    return steps.Run(
        "connect",
        [&](auto handler) {
          stream.async_connect(endpoints,
                               [handler](beast::error_code e, const tcp::endpoint&) { handler(e); });
        },
        [&] { stream.close(); });
  };

  if (!request.tls) {
    beast::tcp_stream stream(ioc);
    if (auto failed = connect(stream)) return *failed;
    HttpPostResult result = Exchange(steps, stream, message, request);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return result;
  }

  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), request.host.c_str())) {
    return Failure(HttpPostFailure::kFailed, "TLS", "cannot set the TLS server name");
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(request.host));
  if (auto failed = connect(beast::get_lowest_layer(stream))) return *failed;
  beast::get_lowest_layer(stream).expires_at(deadline);
  auto handshake = steps.Run(
      "TLS",
      [&](auto handler) { stream.async_handshake(asio::ssl::stream_base::client, handler); },
      [&] { beast::get_lowest_layer(stream).close(); });
  if (handshake) return *handshake;
  return Exchange(steps, stream, message, request);
}

}  // namespace aplus
