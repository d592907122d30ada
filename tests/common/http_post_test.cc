// The one outgoing HTTP exchange (common/http_post.h) against a real HTTP server in the test
// (http/http_server.h) and against raw sockets: an answer with its status, body and
// Retry-After; a refused connection; a server that never answers (the deadline holds); a body
// past the limit (an answer when the status is enough, a failure otherwise); a TLS server whose
// certificate the system does not trust.
#include "common/http_post.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/http_server.h"
#include "tests/support/raw_http_server.h"

namespace {

using namespace aplus;
using Clock = std::chrono::steady_clock;

struct Seen {
  std::string target;
  std::string host;
  std::string content_type;
  std::string body;
};

// Answers every request with `response`, and keeps what it was sent.
class Server {
 public:
  explicit Server(http::HttpResponse response, http::HttpServerOptions options = {})
      : response_(std::move(response)) {
    auto started = http::HttpServer::Start(options, [this](http::HttpRequest request,
                                                           http::Responder responder) {
      {
        std::lock_guard lock(mutex_);
        seen_.push_back({request.target, request.Header("host").value_or(""),
                         request.Header("content-type").value_or(""), request.body});
      }
      responder.Send(response_);
    });
    REQUIRE_MESSAGE(started.ok(), started.status().ToString());
    server_ = std::move(*started);
  }
  std::string port() const { return std::to_string(server_->port()); }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  http::HttpResponse response_;
  std::mutex mutex_;
  std::vector<Seen> seen_;
  std::unique_ptr<http::HttpServer> server_;
};

// A loopback port nobody listens on: bound, then closed.
std::string ClosedPort() {
  int port = 0;
  {
    aplus::testing::RawHttpServer listener("");
    port = listener.port();
  }
  return std::to_string(port);
}

HttpPostRequest To(const std::string& port, std::string body = "{\"a\":1}") {
  HttpPostRequest request;
  request.host = "127.0.0.1";
  request.port = port;
  request.target = "/v3/kv/range?x=1";
  request.host_header = "127.0.0.1:" + port;
  request.headers = {{"Content-Type", "application/json"}, {"X-Extra", "yes"}};
  request.body = std::move(body);
  return request;
}

Clock::time_point In(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }

TEST_CASE("an answer: status, body and Retry-After; the request as given" * doctest::timeout(30)) {
  http::HttpResponse response = http::HttpResponse::Json(503, "{\"busy\":true}");
  response.headers.push_back({"Retry-After", "7"});
  Server server(response);
  HttpPostResult result = PostOnce(To(server.port()), In(5000));
  REQUIRE(result.answered());
  CHECK(result.status == 503);
  CHECK(result.body == "{\"busy\":true}");
  REQUIRE(result.retry_after.has_value());
  CHECK(*result.retry_after == "7");
  auto seen = server.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].target == "/v3/kv/range?x=1");
  CHECK(seen[0].host == "127.0.0.1:" + server.port());
  CHECK(seen[0].content_type == "application/json");
  CHECK(seen[0].body == "{\"a\":1}");
}

TEST_CASE("a host name is looked up" * doctest::timeout(30)) {
  Server server(http::HttpResponse::Json(200, "{}"));
  HttpPostRequest request = To(server.port());
  request.host = "localhost";
  request.host_header = "localhost:" + server.port();
  HttpPostResult result = PostOnce(request, In(5000));
  INFO(result.step, " ", result.error);
  REQUIRE(result.answered());
  CHECK(result.status == 200);
  REQUIRE(server.seen().size() == 1);
  CHECK(server.seen()[0].host == "localhost:" + server.port());
}

TEST_CASE("a 204 declaring a large Content-Length is an answer: it has no body" *
          doctest::timeout(30)) {
  aplus::testing::RawHttpServer server("HTTP/1.1 204 No Content\r\nContent-Length: 5000\r\n\r\n");
  HttpPostRequest request = To(std::to_string(server.port()));
  request.max_response_body_bytes = 100;
  HttpPostResult result = PostOnce(request, In(5000));
  INFO(result.step, " ", result.error);
  REQUIRE(result.answered());
  CHECK(result.status == 204);
  CHECK(result.body.empty());
}

TEST_CASE("nobody listening: refused at connect, at once" * doctest::timeout(30)) {
  auto started = Clock::now();
  HttpPostResult result = PostOnce(To(ClosedPort()), In(5000));
  CHECK(result.failure == HttpPostFailure::kRefused);
  CHECK(result.step == "connect");
  CHECK_FALSE(result.error.empty());
  CHECK(Clock::now() - started < std::chrono::seconds(2));
}

TEST_CASE("a server that never answers: a timeout at read, within the deadline" *
          doctest::timeout(30)) {
  aplus::testing::RawHttpServer listener("");  // accepts, never answers
  auto started = Clock::now();
  HttpPostResult result = PostOnce(To(std::to_string(listener.port())), In(300));
  auto took = Clock::now() - started;
  CHECK(result.failure == HttpPostFailure::kTimeout);
  CHECK(result.step == "read");
  CHECK(took >= std::chrono::milliseconds(250));
  CHECK(took < std::chrono::milliseconds(1500));  // the deadline, plus draining the cancel
}

TEST_CASE("a body past the limit: an answer when the status is enough, a failure otherwise" *
          doctest::timeout(30)) {
  Server server(http::HttpResponse::Json(200, "[" + std::string(4000, '1') + "]"));
  HttpPostRequest request = To(server.port());
  request.max_response_body_bytes = 1000;
  request.status_is_enough = true;
  HttpPostResult enough = PostOnce(request, In(5000));
  INFO(enough.step, " ", enough.error);
  REQUIRE(enough.answered());
  CHECK(enough.status == 200);
  CHECK(enough.body.empty());

  request.status_is_enough = false;
  HttpPostResult strict = PostOnce(request, In(5000));
  CHECK(strict.failure == HttpPostFailure::kFailed);
  CHECK(strict.step == "read");

  request.max_response_body_bytes = 8000;
  HttpPostResult whole = PostOnce(request, In(5000));
  REQUIRE(whole.answered());
  CHECK(whole.body.size() == 4002);
  CHECK(server.seen().size() == 3);
}

TEST_CASE("https to a certificate the system does not trust: a TLS failure, nothing sent" *
          doctest::timeout(60)) {
  auto dir = std::filesystem::temp_directory_path() /
             ("aplus-http-post-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string cert = (dir / "cert.pem").string();
  std::string key = (dir / "key.pem").string();
  REQUIRE(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 "
                       "-keyout " + key + " -out " + cert + " 2>/dev/null")
                          .c_str()) == 0);
  http::HttpServerOptions options;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  Server server(http::HttpResponse::Json(200, "{}"), options);
  HttpPostRequest request = To(server.port());
  request.tls = true;
  request.host = "localhost";
  request.host_header = "localhost:" + server.port();
  HttpPostResult result = PostOnce(request, In(5000));
  CHECK(result.failure == HttpPostFailure::kFailed);
  CHECK(result.step == "TLS");
  CHECK(server.seen().empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
