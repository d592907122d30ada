#include "http/http_server.h"

#include <fcntl.h>

#include <ctime>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "http/problem.h"

namespace aplus::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using beast::error_code;

// Responders post to the io_context only while this is open: the server's destructor closes it
// before the io_context goes away, so a late Responder never touches a destroyed io_context.
struct Lifeline {
  std::mutex mutex;
  bool open = true;  // guarded by mutex
};

std::string HttpDate() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

// A read error that means the client is gone or too slow: close without an answer.
bool IsDisconnect(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted ||
         ec == beast::error::timeout || ec == net::error::broken_pipe ||
         ec == ssl::error::stream_truncated || ec.category() == net::error::get_ssl_category();
}

}  // namespace

// The server's state, all on its one thread (sessions_, acceptor_) except the constants.
class HttpServer::Impl {
 public:
  class SessionBase {
   public:
    virtual ~SessionBase() = default;
    virtual void Abort() = 0;
  };

  Impl(HttpServerOptions options, HttpHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)), acceptor_(io_) {}

  Status Open();
  void Run() { thread_ = std::thread([this] { io_.run(); }); }
  void Stop();

  uint16_t port() const { return port_; }
  bool tls() const { return tls_.has_value(); }

  // Server thread only.
  void Forget(SessionBase* session) { sessions_.erase(session); }
  const HttpServerOptions& options() const { return options_; }
  const std::shared_ptr<Lifeline>& lifeline() const { return lifeline_; }
  void Handle(HttpRequest request, Responder responder) {
    try {
      handler_(std::move(request), responder);
    } catch (const std::exception& e) {
      responder.Send(ProblemResponse(Status(wire::INTERNAL, std::string("handler failed: ") + e.what())));
    }
  }

 private:
  void Accept();

  const HttpServerOptions options_;
  const HttpHandler handler_;
  const std::shared_ptr<Lifeline> lifeline_ = std::make_shared<Lifeline>();
  // Before io_: the TLS context outlives the connections that handlers left in the io_context.
  std::optional<ssl::context> tls_;
  net::io_context io_{1};
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::unordered_map<SessionBase*, std::shared_ptr<SessionBase>> sessions_;  // server thread
  std::thread thread_;
};

namespace {

// One connection. Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <typename Stream>
class Session : public HttpServer::Impl::SessionBase,
                public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& server, Stream stream, std::string remote)
      : server_(server), options_(server.options()), stream_(std::move(stream)), remote_(std::move(remote)) {}

  void Start() {
    if constexpr (kTls) {
      Lowest().expires_after(options_.header_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](const error_code& ec) {
                                if (ec) return self->Abort();
                                self->ReadRequest(true);
                              });
    } else {
      ReadRequest(true);
    }
  }

  void Abort() override {
    if (closed_) return;
    closed_ = true;
    auto self = this->shared_from_this();
    error_code ignored;
    Lowest().socket().close(ignored);
    server_.Forget(this);
  }

  // A response from the handler (via the Responder's sink, on the server thread).
  void Answer(HttpResponse&& response) {
    if (closed_ || !awaiting_answer_) return;
    awaiting_answer_ = false;
    Write(std::move(response), !keep_alive_);
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void ReadRequest(bool first) {
    head_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(options_.max_header_bytes));
    parser_->body_limit(options_.max_body_bytes);
    if (first || buffer_.size() > 0) return ReadHeader();
    // Idle keep-alive: wait for the first byte of the next request, then time its header.
    Lowest().expires_after(options_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(1024),
                            [self = this->shared_from_this()](const error_code& ec, size_t n) {
                              if (ec) return self->Abort();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    Lowest().expires_after(options_.header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](const error_code& ec, size_t) {
                               self->OnHeader(ec);
                             });
  }

  void OnHeader(const error_code& ec) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Dispatch();
    auto expect = parser_->get()[bhttp::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      // Tell the client to send its body (curl waits a second for this otherwise).
      auto interim = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                           parser_->get().version());
      Lowest().expires_after(options_.write_timeout);
      return bhttp::async_write(stream_, *interim,
                                [self = this->shared_from_this(), interim](const error_code& ec, size_t) {
                                  if (ec) return self->Abort();
                                  self->ReadBody();
                                });
    }
    ReadBody();
  }

  void ReadBody() {
    Lowest().expires_after(options_.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](const error_code& ec, size_t) {
                        if (ec) return self->OnReadError(ec);
                        self->Dispatch();
                      });
  }

  void OnReadError(const error_code& ec) {
    if (IsDisconnect(ec)) return Abort();
    if (ec == bhttp::error::header_limit) {
      return Write(ProblemResponse(HttpOnlyProblem::kHeaderTooLarge,
                                   "the request header exceeds " +
                                       std::to_string(options_.max_header_bytes) + " bytes"),
                   true);
    }
    if (ec == bhttp::error::body_limit) {
      return Write(ProblemResponse(Status(wire::TOO_LARGE, "the request body exceeds " +
                                                               std::to_string(options_.max_body_bytes) +
                                                               " bytes")),
                   true);
    }
    Write(ProblemResponse(Status(wire::MALFORMED, "malformed HTTP request: " + ec.message())), true);
  }

  void Dispatch() {
    Lowest().expires_never();
    auto& message = parser_->get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote = remote_;
    keep_alive_ = message.keep_alive();
    head_ = message.method() == bhttp::verb::head;
    version_ = message.version();
    awaiting_answer_ = true;

    std::weak_ptr<Session> weak = this->shared_from_this();
    auto executor = stream_.get_executor();
    Responder responder([weak, executor, lifeline = server_.lifeline()](HttpResponse&& response) {
      std::lock_guard lock(lifeline->mutex);
      if (!lifeline->open) return;  // the server stopped: dropped quietly
      net::post(executor, [weak, response = std::move(response)]() mutable {
        if (auto session = weak.lock()) session->Answer(std::move(response));
      });
    });
    server_.Handle(std::move(request), std::move(responder));
  }

  void Write(HttpResponse&& answer, bool close) {
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>();
    response->version(version_ == 10 ? 10 : 11);
    response->result(static_cast<unsigned>(answer.status));
    response->set(bhttp::field::server, "aplus");
    response->set(bhttp::field::date, HttpDate());
    if (!answer.body.empty() && !answer.content_type.empty()) {
      response->set(bhttp::field::content_type, answer.content_type);
    }
    for (auto& [name, value] : answer.headers) response->insert(name, value);
    response->body() = std::move(answer.body);
    response->keep_alive(!close);
    response->prepare_payload();
    // A HEAD answer announces the length of the body it does not send.
    if (head_) response->body().clear();
    Lowest().expires_after(options_.write_timeout);
    bhttp::async_write(stream_, *response,
                       [self = this->shared_from_this(), response, close](const error_code& ec, size_t) {
                         if (ec) return self->Abort();
                         if (close) return self->Linger();
                         self->ReadRequest(false);
                       });
  }

  // After a closing response: stop sending, then read and discard what the client still sends
  // (for a short while) so that closing does not reset the connection before it read the answer.
  void Linger() {
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(1));
      stream_.async_shutdown([self = this->shared_from_this()](const error_code&) { self->Abort(); });
    } else {
      error_code ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Lowest().expires_after(std::chrono::seconds(2));
      Discard();
    }
  }

  void Discard() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16 * 1024),
                            [self = this->shared_from_this()](const error_code& ec, size_t) {
                              if (ec) return self->Abort();
                              self->Discard();
                            });
  }

  HttpServer::Impl& server_;
  const HttpServerOptions& options_;
  Stream stream_;
  const std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = true;
  bool head_ = false;
  unsigned version_ = 11;
  bool awaiting_answer_ = false;
  bool closed_ = false;
};

}  // namespace

Status HttpServer::Impl::Open() {
  bool has_cert = !options_.tls_cert_file.empty();
  bool has_key = !options_.tls_key_file.empty();
  if (has_cert != has_key) {
    return Status(wire::INVALID_ARGUMENT, "TLS needs both a certificate file and a key file");
  }
  std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) {
    return Status(wire::INVALID_ARGUMENT,
                  "the HTTP listen host must be an IP address or localhost, not '" + options_.host + "'");
  }
  if (!has_cert && !address.is_loopback()) {
    return Status(wire::INVALID_ARGUMENT, "plain HTTP is allowed only on loopback, not on " +
                                              options_.host + ": give a TLS certificate and key");
  }
  if (has_cert) {
    tls_.emplace(ssl::context::tls_server);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::single_dh_use);
    tls_->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) {
      return Status(wire::INVALID_ARGUMENT,
                    "cannot load the TLS certificate " + options_.tls_cert_file + ": " + ec.message());
    }
    tls_->use_private_key_file(options_.tls_key_file, ssl::context::pem, ec);
    if (ec) {
      return Status(wire::INVALID_ARGUMENT,
                    "cannot load the TLS key " + options_.tls_key_file + ": " + ec.message());
    }
  }
  tcp::endpoint endpoint(address, options_.port);
  std::string where = options_.host + ":" + std::to_string(options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  // Not inherited by programs this process starts (a test's child processes, a supervisor's
  // hooks): a listener kept open by a child would accept into a backlog nobody reads, and
  // clients would time out instead of being refused once this server stops.
  if (!ec) ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status(wire::UNAVAILABLE, "cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  Accept();
  return Status::Ok();
}

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(io_, [this](const error_code& ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      if (sessions_.size() >= options_.max_connections) {
        error_code ignored;
        socket.close(ignored);
      } else {
        error_code remote_ec;
        auto remote_endpoint = socket.remote_endpoint(remote_ec);
        std::string remote = remote_ec ? "?" : remote_endpoint.address().to_string() + ":" +
                                                    std::to_string(remote_endpoint.port());
        std::shared_ptr<SessionBase> base;
        if (tls_) {
          auto session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
              *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_),
              remote);
          sessions_.emplace(session.get(), session);
          session->Start();
        } else {
          auto session = std::make_shared<Session<beast::tcp_stream>>(
              *this, beast::tcp_stream(std::move(socket)), remote);
          sessions_.emplace(session.get(), session);
          session->Start();
        }
      }
    }
    // Accept errors (too many open files...) are transient: keep accepting.
    Accept();
  });
}

void HttpServer::Impl::Stop() {
  {
    std::lock_guard lock(lifeline_->mutex);
    lifeline_->open = false;
  }
  net::post(io_, [this] {
    error_code ignored;
    acceptor_.close(ignored);
    auto sessions = sessions_;  // Abort erases from sessions_
    for (auto& [raw, session] : sessions) session->Abort();
    io_.stop();
  });
  if (thread_.joinable()) thread_.join();
  sessions_.clear();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { impl_->Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, HttpHandler handler) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  Status opened = impl->Open();
  if (!opened.ok()) return opened;
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port(); }
bool HttpServer::tls() const { return impl_->tls(); }

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  error_code ec;
  auto address = net::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

Result<std::pair<std::string, uint16_t>> ParseListenAddress(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status(wire::INVALID_ARGUMENT, "a listen address is HOST:PORT, not '" + text + "'");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port_text = text.substr(colon + 1);
  unsigned long port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      return Status(wire::INVALID_ARGUMENT, "the port of '" + text + "' is not a number from 0 to 65535");
    }
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port > 65535) {
    return Status(wire::INVALID_ARGUMENT, "the port of '" + text + "' is not a number from 0 to 65535");
  }
  return std::pair(host, static_cast<uint16_t>(port));
}

}  // namespace aplus::http
