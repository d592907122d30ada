// The HTTP server with real sockets on 127.0.0.1 (port 0) and real clients: raw TCP for the
// malformed and slow cases, a Beast reader for responses, curl for TLS.
#include "http/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <sstream>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "http/problem.h"
#include "http/request_queue.h"

namespace aplus::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// A client on one connection. Every wait is bounded (asio retries a blocking read that a socket
// timeout interrupted, so the bound comes from run_for): a broken server fails the test instead
// of hanging it.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  void Send(std::string_view bytes) { net::write(socket_, net::buffer(bytes.data(), bytes.size())); }
  // `head`: the answer to a HEAD request (a Content-Length without a body).
  bhttp::response<bhttp::string_body> Read(bool head = false, std::chrono::seconds limit = 15s) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(head);
    parser.body_limit(16 * 1024 * 1024);
    boost::system::error_code result = net::error::timed_out;
    bhttp::async_read(socket_, buffer_, parser,
                      [&](const boost::system::error_code& ec, size_t) { result = ec; });
    RunFor(limit);
    REQUIRE_MESSAGE(!result, "no response: " << result.message());
    return parser.release();
  }
  bhttp::response<bhttp::string_body> Request(const std::string& method, const std::string& target,
                                              const std::string& body = "") {
    std::string text = method + " " + target + " HTTP/1.1\r\nHost: test\r\n";
    if (!body.empty()) text += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    Send(text + "\r\n" + body);
    return Read();
  }
  // True when the server closed the connection (EOF or reset) within `limit`; what it sends
  // before is read and discarded.
  bool ClosedWithin(std::chrono::seconds limit) {
    bool closed = false;
    std::function<void()> next = [&] {
      socket_.async_read_some(net::buffer(scratch_), [&](const boost::system::error_code& ec, size_t) {
        if (ec == net::error::eof || ec == net::error::connection_reset) {
          closed = true;
        } else if (!ec) {
          next();
        }
      });
    };
    next();
    RunFor(limit);
    return closed;
  }
  tcp::socket& socket() { return socket_; }

 private:
  // Runs the pending operations for at most `limit`, then cancels what is left.
  void RunFor(std::chrono::seconds limit) {
    io_.restart();
    io_.run_for(limit);
    if (!io_.stopped()) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
      io_.run();
    }
  }

  net::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  char scratch_[4096];
};

// An echo handler answering on the server thread at once.
HttpHandler Echo() {
  return [](HttpRequest request, Responder responder) {
    nlohmann::json echo = {{"method", request.method}, {"path", request.path},
                           {"query", request.query},   {"body", request.body},
                           {"remote", request.remote}, {"token", request.Header("x-token").value_or("")}};
    responder.Send(HttpResponse::Json(200, echo.dump()));
  };
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options, HttpHandler handler) {
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  REQUIRE_MESSAGE(server.ok(), server.status().ToString());
  return std::move(server).value();
}

// The owner thread of a program: a zmq::poll loop over the queue's eventfd, as the gateways run.
class OwnerThread {
 public:
  explicit OwnerThread(RequestQueue& queue) : queue_(queue), thread_([this] { Run(); }) {}
  ~OwnerThread() {
    stop_ = true;
    thread_.join();
  }
  std::thread::id id() const { return thread_.get_id(); }

 private:
  void Run() {
    while (!stop_) {
      zmq::pollitem_t items[] = {{nullptr, queue_.fd(), ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(50));
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      for (auto& pending : queue_.Drain()) {
        std::ostringstream self;
        self << std::this_thread::get_id();
        pending.responder.Send(HttpResponse::Json(
            200, nlohmann::json{{"path", pending.request.path}, {"body", pending.request.body},
                                {"thread", self.str()}}.dump()));
      }
    }
  }
  RequestQueue& queue_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_CASE("a request round-trips through the owner thread's queue" * doctest::timeout(60)) {
  RequestQueue queue;
  auto server = StartServer({}, queue.AsHandler());
  OwnerThread owner(queue);
  RawClient client(server->port());
  for (int i = 0; i < 3; ++i) {  // keep-alive: three requests on one connection
    auto response = client.Request("POST", "/v1/echo?n=" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}");
    CHECK(response.result_int() == 200);
    CHECK(response.keep_alive());
    auto document = nlohmann::json::parse(response.body());
    CHECK(document["path"] == "/v1/echo");
    CHECK(document["body"] == "{\"n\":" + std::to_string(i) + "}");
    std::ostringstream owner_id;
    owner_id << owner.id();
    CHECK(document["thread"] == owner_id.str());
  }
}

TEST_CASE("keep-alive serves several requests on one connection, in order" * doctest::timeout(60)) {
  auto server = StartServer({}, Echo());
  RawClient client(server->port());
  // Two requests sent back to back (pipelined) are answered in order.
  client.Send("GET /a?x=1 HTTP/1.1\r\nHost: t\r\nX-Token: one\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n");
  auto first = nlohmann::json::parse(client.Read().body());
  auto second = nlohmann::json::parse(client.Read().body());
  CHECK(first["path"] == "/a");
  CHECK(first["query"] == "x=1");
  CHECK(first["token"] == "one");
  CHECK(second["path"] == "/b");
  CHECK(first["remote"] == second["remote"]);
  auto third = client.Request("GET", "/c");
  CHECK(nlohmann::json::parse(third.body())["remote"] == first["remote"]);
  // HEAD: the length of the body, no body; the connection goes on.
  client.Send("HEAD /d HTTP/1.1\r\nHost: t\r\n\r\n");
  auto head = client.Read(true);
  CHECK(head.result_int() == 200);
  CHECK(head.body().empty());
  CHECK(std::stoul(std::string(head[bhttp::field::content_length])) > 0);
  CHECK(nlohmann::json::parse(client.Request("GET", "/e").body())["path"] == "/e");
}

TEST_CASE("an oversize header gets 431 and an oversize body 413, as problem documents" * doctest::timeout(60)) {
  HttpServerOptions options;
  options.max_header_bytes = 4096;
  options.max_body_bytes = 1000;
  auto server = StartServer(options, Echo());
  {
    RawClient client(server->port());
    client.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Flood: " + std::string(8000, 'a') + "\r\n\r\n");
    auto response = client.Read();
    CHECK(response.result_int() == 431);
    CHECK(response[bhttp::field::content_type] == "application/problem+json");
    CHECK(nlohmann::json::parse(response.body())["code"] == "TOO_LARGE");
    CHECK(!response.keep_alive());
  }
  {
    RawClient client(server->port());
    client.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'b'));
    auto response = client.Read();
    CHECK(response.result_int() == 413);
    CHECK(nlohmann::json::parse(response.body())["code"] == "TOO_LARGE");
  }
  {  // chunked: the limit holds without a Content-Length too
    RawClient client(server->port());
    client.Send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
                std::string(2000, 'c') + "\r\n0\r\n\r\n");
    CHECK(client.Read().result_int() == 413);
  }
  // A body at the limit passes.
  RawClient client(server->port());
  CHECK(client.Request("POST", "/", std::string(1000, 'd')).result_int() == 200);
}

TEST_CASE("malformed requests get 400 MALFORMED and do not disturb other connections" * doctest::timeout(60)) {
  auto server = StartServer({}, Echo());
  RawClient healthy(server->port());
  CHECK(healthy.Request("GET", "/before").result_int() == 200);
  for (const char* garbage : {"GARBAGE\r\n\r\n", "GET /x HTTP/9.9\r\n\r\n", "GET  HTTP/1.1\r\n\r\n",
                              "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                              "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                              "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    CAPTURE(garbage);
    RawClient client(server->port());
    client.Send(garbage);
    auto response = client.Read();
    CHECK(response.result_int() == 400);
    CHECK(nlohmann::json::parse(response.body())["code"] == "MALFORMED");
    CHECK(client.ClosedWithin(10s));
  }
  CHECK(healthy.Request("GET", "/after").result_int() == 200);
}

TEST_CASE("a slowloris client is cut after the header timeout while others are served" * doctest::timeout(60)) {
  HttpServerOptions options;
  options.header_timeout = 2s;
  auto server = StartServer(options, Echo());
  RawClient slow(server->port());
  std::atomic<bool> cut{false};
  auto start = std::chrono::steady_clock::now();
  std::thread dribbler([&] {
    std::string request = "GET / HTTP/1.1\r\nHost: t\r\nX-Long: " + std::string(100, 'z') + "\r\n\r\n";
    for (char c : request) {
      // A plain send on the descriptor: the main thread reads the same socket object meanwhile.
      if (::send(slow.socket().native_handle(), &c, 1, MSG_NOSIGNAL) != 1) break;
      if (std::chrono::steady_clock::now() - start > 20s) break;
      std::this_thread::sleep_for(500ms);
      if (cut) break;
    }
  });
  // Meanwhile another client is served at once, several times.
  for (int i = 0; i < 3; ++i) {
    RawClient other(server->port());
    auto before = std::chrono::steady_clock::now();
    CHECK(other.Request("GET", "/other").result_int() == 200);
    CHECK(std::chrono::steady_clock::now() - before < 1500ms);
    std::this_thread::sleep_for(300ms);
  }
  bool closed = slow.ClosedWithin(15s);
  cut = true;
  auto elapsed = std::chrono::steady_clock::now() - start;
  dribbler.join();
  CHECK(closed);
  CHECK(elapsed >= 1900ms);
  CHECK(elapsed < 12s);
}

TEST_CASE("an idle keep-alive connection is closed after the idle timeout" * doctest::timeout(60)) {
  HttpServerOptions options;
  options.idle_timeout = 1s;
  auto server = StartServer(options, Echo());
  RawClient client(server->port());
  CHECK(client.Request("GET", "/").result_int() == 200);
  CHECK(client.ClosedWithin(10s));
}

TEST_CASE("a body that does not arrive in time is cut; others are served" * doctest::timeout(60)) {
  HttpServerOptions options;
  options.body_timeout = 1s;
  auto server = StartServer(options, Echo());
  RawClient slow(server->port());
  auto start = std::chrono::steady_clock::now();
  slow.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab");
  RawClient other(server->port());
  CHECK(other.Request("GET", "/other").result_int() == 200);
  CHECK(slow.ClosedWithin(10s));
  CHECK(std::chrono::steady_clock::now() - start >= 900ms);
}

TEST_CASE("connections over the maximum are closed at once; a freed slot is reused" * doctest::timeout(60)) {
  HttpServerOptions options;
  options.max_connections = 2;
  auto server = StartServer(options, Echo());
  auto first = std::make_unique<RawClient>(server->port());
  RawClient second(server->port());
  CHECK(first->Request("GET", "/1").result_int() == 200);
  CHECK(second.Request("GET", "/2").result_int() == 200);
  RawClient third(server->port());
  CHECK(third.ClosedWithin(10s));
  CHECK(second.Request("GET", "/2again").result_int() == 200);  // the others are undisturbed
  first.reset();
  bool served = false;
  for (int attempt = 0; attempt < 20 && !served; ++attempt) {
    RawClient next(server->port());
    if (!next.ClosedWithin(1s)) served = next.Request("GET", "/next").result_int() == 200;
  }
  CHECK(served);
}

TEST_CASE("a responder dropped without an answer answers 500; a late one is ignored" * doctest::timeout(60)) {
  std::mutex mutex;
  std::vector<Responder> kept;
  auto server = StartServer({}, [&](HttpRequest request, Responder responder) {
    if (request.path == "/keep") {
      std::lock_guard lock(mutex);
      kept.push_back(responder);
      return;
    }
    // "/drop": forgotten
  });
  RawClient client(server->port());
  auto dropped = client.Request("GET", "/drop");
  CHECK(dropped.result_int() == 500);
  CHECK(nlohmann::json::parse(dropped.body())["code"] == "INTERNAL");

  // A long poll answered later from another thread; a second answer is refused.
  client.Send("GET /keep HTTP/1.1\r\nHost: t\r\n\r\n");
  std::thread later([&] {
    std::this_thread::sleep_for(300ms);
    std::lock_guard lock(mutex);
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].Send(HttpResponse::Json(200, "{\"late\":true}")));
    CHECK(!kept[0].Send(HttpResponse::Json(200, "{\"twice\":true}")));
  });
  auto answered = client.Read();
  later.join();
  CHECK(answered.result_int() == 200);
  CHECK(answered.body() == "{\"late\":true}");
  CHECK(client.Request("GET", "/drop").result_int() == 500);  // the connection goes on
}

TEST_CASE("a responder that outlives its server drops its response quietly" * doctest::timeout(60)) {
  std::promise<Responder> held;
  auto server = StartServer({}, [&](HttpRequest, Responder responder) { held.set_value(responder); });
  RawClient client(server->port());
  client.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  auto responder = held.get_future().get();
  server.reset();
  CHECK(responder.Send(HttpResponse::Json(200, "{}")));  // accepted, then dropped
  CHECK(client.ClosedWithin(10s));
}

TEST_CASE("plain HTTP is refused on a non-loopback address; bad hosts and TLS files are typed errors" * doctest::timeout(60)) {
  for (const char* host : {"0.0.0.0", "::", "192.0.2.10"}) {
    HttpServerOptions options;
    options.host = host;
    auto server = HttpServer::Start(options, Echo());
    REQUIRE(!server.ok());
    CHECK(server.status().code() == wire::INVALID_ARGUMENT);
    CHECK(server.status().message().find("loopback") != std::string::npos);
  }
  HttpServerOptions named;
  named.host = "example.org";
  CHECK(HttpServer::Start(named, Echo()).status().code() == wire::INVALID_ARGUMENT);
  HttpServerOptions half;
  half.tls_cert_file = "/nonexistent/cert.pem";
  CHECK(HttpServer::Start(half, Echo()).status().code() == wire::INVALID_ARGUMENT);
  HttpServerOptions missing;
  missing.tls_cert_file = "/nonexistent/cert.pem";
  missing.tls_key_file = "/nonexistent/key.pem";
  CHECK(HttpServer::Start(missing, Echo()).status().code() == wire::INVALID_ARGUMENT);
  HttpServerOptions localhost;
  localhost.host = "localhost";
  CHECK(HttpServer::Start(localhost, Echo()).ok());

  // A port in use is UNAVAILABLE.
  auto first = StartServer({}, Echo());
  HttpServerOptions same;
  same.port = first->port();
  CHECK(HttpServer::Start(same, Echo()).status().code() == wire::UNAVAILABLE);
}

TEST_CASE("listen addresses") {
  auto parsed = ParseListenAddress("127.0.0.1:7411");
  REQUIRE(parsed.ok());
  CHECK(parsed->first == "127.0.0.1");
  CHECK(parsed->second == 7411);
  CHECK(ParseListenAddress("[::1]:0")->first == "::1");
  for (const char* bad : {"7411", ":7411", "host:", "host:70000", "host:7a"}) {
    CAPTURE(bad);
    CHECK(ParseListenAddress(bad).status().code() == wire::INVALID_ARGUMENT);
  }
  CHECK(IsLoopbackHost("127.0.0.2"));
  CHECK(IsLoopbackHost("::1"));
  CHECK(IsLoopbackHost("localhost"));
  CHECK(!IsLoopbackHost("0.0.0.0"));
}

std::string Run(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, pipe)) > 0) output.append(chunk, n);
  pclose(pipe);
  return output;
}

TEST_CASE("HTTPS with a self-signed certificate made in the test" * doctest::timeout(60)) {
  auto dir = std::filesystem::temp_directory_path() / ("aplus-http-tls-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string cert = (dir / "cert.pem").string();
  std::string key = (dir / "key.pem").string();
  REQUIRE(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 -keyout " +
                       key + " -out " + cert + " 2>/dev/null").c_str()) == 0);
  HttpServerOptions options;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  auto server = StartServer(options, Echo());
  CHECK(server->tls());
  std::string url = "https://127.0.0.1:" + std::to_string(server->port());
  // Two requests on one kept-alive TLS connection, verified against the test's certificate.
  std::string output = Run("curl -s --max-time 10 --cacert " + cert + " --resolve localhost:" +
                           std::to_string(server->port()) + ":127.0.0.1 https://localhost:" +
                           std::to_string(server->port()) + "/one https://localhost:" +
                           std::to_string(server->port()) + "/two -w ' %{http_code} %{num_connects}\\n'");
  CHECK(output.find("\"path\":\"/one\"") != std::string::npos);
  CHECK(output.find("\"path\":\"/two\"") != std::string::npos);
  CHECK(output.find(" 200 1\n") != std::string::npos);
  CHECK(output.find(" 200 0\n") != std::string::npos);  // the second reused the connection
  // Plain HTTP on the TLS port is not served, and the TLS server keeps serving.
  CHECK(Run("curl -s --max-time 10 -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
            std::to_string(server->port()) + "/plain") == "000");
  CHECK(Run("curl -s --max-time 10 -k -o /dev/null -w '%{http_code}' " + url + "/again") == "200");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aplus::http
