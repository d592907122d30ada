// The shared HTTP front door (http/http_front_door.h) over a real socket: what it answers
// itself (401, 404, 405, 400 for a bad query or path, /v1/openapi.yaml) and the strict JSON
// bodies of ReadJsonBody (415, 400 for malformed JSON, unknown fields, wrong types, missing or
// too long fields).
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "common/token_store.h"
#include "http/http_front_door.h"
#include "metrics/http_request_metrics.h"
#include "tests/support/child_process.h"

using namespace aplus;
using nlohmann::json;

namespace {

const std::vector<JsonField> kFields = {
    {"name", JsonType::kString, true, 8},
    {"count", JsonType::kInteger},
    {"flag", JsonType::kBoolean},
};

// A front door with two routes, dispatched by its own loop thread (the "gateway's" thread).
class Door {
 public:
  // `count_answer`: HttpFrontDoorOptions::count_answer (null: nothing counted).
  explicit Door(std::function<void(const std::string&, int)> count_answer = nullptr)
      : dir_("http-front-door") {
    auto token = AddToken(dir_.Sub("tokens"), "tester", {"agent-1"}, 0);
    REQUIRE(token.ok());
    token_ = *token;
    std::vector<HttpRoute> routes = {
        {"GET", "/v1/things/{id}",
         [](HttpCall&& call) {
           json query = call.query;
           SendJson(call.responder, 200,
                    {{"id", call.path["id"]}, {"query", query}, {"token", call.token.name}});
         }},
        {"POST", "/v1/things",
         [](HttpCall&& call) {
           auto body = ReadJsonBody(call, kFields);
           if (!body) return;
           SendJson(call.responder, 201, *body);
         }},
        {"GET", "/metrics",
         [](HttpCall&& call) { SendJson(call.responder, 200, {{"token", call.token.name}}); },
         /*needs_token=*/true, /*open_on_loopback=*/true},
        {"GET", "/v1/limits",
         [](HttpCall&& call) {
           auto limit = QueryInteger(call, "limit", 10, 1, 100);
           if (!limit.ok()) return SendProblem(call.responder, limit.status());
           SendJson(call.responder, 200, {{"limit", *limit}});
         }},
    };
    HttpFrontDoorOptions options;
    options.token_dir = dir_.Sub("tokens");
    options.contract_yaml = "openapi: 3.1.0\n";
    options.count_answer = std::move(count_answer);
    auto door = HttpFrontDoor::Start(std::move(options), std::move(routes));
    REQUIRE(door.ok());
    door_ = std::move(door).value();
    loop_ = std::thread([this] {
      while (!stop_.load()) {
        pollfd item{door_->fd(), POLLIN, 0};
        ::poll(&item, 1, 20);
        door_->Dispatch();
      }
    });
  }
  ~Door() {
    stop_.store(true);
    loop_.join();
  }

  // Sends `request` as is on a new connection and returns everything read until the server
  // closes it (requests say Connection: close). Bounded by a 10 s receive timeout.
  std::string Raw(const std::string& request) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(door_->port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    std::string response;
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) response.append(buffer, n);
    ::close(fd);
    return response;
  }

  struct Reply {
    int status = 0;
    std::string head;
    json body;
  };
  Reply Call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& content_type = "application/json", bool with_token = true) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    if (with_token) request += "Authorization: Bearer " + token_ + "\r\n";
    if (!body.empty()) {
      if (!content_type.empty()) request += "Content-Type: " + content_type + "\r\n";
      request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n" + body;
    std::string response = Raw(request);
    Reply reply;
    size_t end = response.find("\r\n\r\n");
    if (end == std::string::npos) return reply;
    reply.head = response.substr(0, end);
    std::sscanf(reply.head.c_str(), "HTTP/1.1 %d", &reply.status);
    reply.body = json::parse(response.substr(end + 4), nullptr, false);
    return reply;
  }

 private:
  testing::TempDir dir_;
  std::string token_;
  std::unique_ptr<HttpFrontDoor> door_;
  std::atomic<bool> stop_{false};
  std::thread loop_;
};

}  // namespace

TEST_CASE("routes, path parameters and query strings" * doctest::timeout(30)) {
  Door door;
  auto reply = door.Call("GET", "/v1/things/a%2Fb?x=1+2&y=%C3%A9");
  REQUIRE(reply.status == 200);
  CHECK(reply.body["id"] == "a/b");
  CHECK(reply.body["query"]["x"] == "1 2");
  CHECK(reply.body["query"]["y"] == "é");
  CHECK(reply.body["token"] == "tester");
}

TEST_CASE("what the front door answers itself" * doctest::timeout(30)) {
  Door door;
  auto no_token = door.Call("GET", "/v1/things/1", "", "", false);
  CHECK(no_token.status == 401);
  CHECK(no_token.body["code"] == "NOT_AUTHENTICATED");
  CHECK(no_token.head.find("WWW-Authenticate: Bearer") != std::string::npos);
  // One challenge only.
  CHECK(no_token.head.find("WWW-Authenticate") == no_token.head.rfind("WWW-Authenticate"));

  auto bad_token = door.Raw(
      "GET /v1/things/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
      "aplus_0000\r\n\r\n");
  CHECK(bad_token.rfind("HTTP/1.1 401", 0) == 0);

  auto missing = door.Call("GET", "/v1/nothing");
  CHECK(missing.status == 404);
  CHECK(missing.body["code"] == "NOT_FOUND");

  auto method = door.Call("DELETE", "/v1/things/1");
  CHECK(method.status == 405);
  CHECK(method.body["code"] == "METHOD_NOT_ALLOWED");
  CHECK(method.head.find("Allow: GET") != std::string::npos);

  CHECK(door.Call("GET", "/v1/things/1?x=1&x=2").status == 400);
  CHECK(door.Call("GET", "/v1/things/1?x=%zz").status == 400);
  CHECK(door.Call("GET", "/v1/things/%zz").status == 400);

  auto limit = door.Call("GET", "/v1/limits?limit=1000");
  CHECK(limit.status == 400);
  CHECK(limit.body["code"] == "INVALID_ARGUMENT");
  CHECK(door.Call("GET", "/v1/limits?limit=12abc").status == 400);
  CHECK(door.Call("GET", "/v1/limits?limit=7").body["limit"] == 7);

  auto contract = door.Raw("GET /v1/openapi.yaml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(contract.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(contract.find("openapi: 3.1") != std::string::npos);
}

TEST_CASE("a route open on loopback needs no token there, and still reads one" *
          doctest::timeout(30)) {
  Door door;  // listens on 127.0.0.1
  auto open = door.Call("GET", "/metrics", "", "", false);
  CHECK(open.status == 200);
  CHECK(open.body["token"] == "");
  // The ordinary routes of the same door still need their token.
  CHECK(door.Call("GET", "/v1/things/1", "", "", false).status == 401);
}

TEST_CASE("strict JSON bodies" * doctest::timeout(30)) {
  Door door;
  auto good = door.Call("POST", "/v1/things", R"({"name":"abc","count":3,"flag":true})");
  CHECK(good.status == 201);
  CHECK(good.body["count"] == 3);

  CHECK(door.Call("POST", "/v1/things", R"({"name":"abc"})", "text/plain").status == 415);
  CHECK(door.Call("POST", "/v1/things", R"({"name":"abc"})", "").status == 415);
  CHECK(door.Call("POST", "/v1/things", R"({"name":"abc"})", "application/json; charset=utf-8")
            .status == 201);

  auto malformed = door.Call("POST", "/v1/things", R"({"name":)");
  CHECK(malformed.status == 400);
  CHECK(malformed.body["code"] == "MALFORMED");
  CHECK(door.Call("POST", "/v1/things", R"([1,2])").body["code"] == "MALFORMED");
  CHECK(door.Call("POST", "/v1/things", "{\"name\":\"\xff\"}").body["code"] == "MALFORMED");

  auto unknown = door.Call("POST", "/v1/things", R"({"name":"abc","colour":"red"})");
  CHECK(unknown.status == 400);
  CHECK(unknown.body["code"] == "INVALID_ARGUMENT");
  CHECK(unknown.body["detail"].get<std::string>().find("colour") != std::string::npos);

  CHECK(door.Call("POST", "/v1/things", R"({"name":"abc","count":"3"})").status == 400);
  CHECK(door.Call("POST", "/v1/things", R"({"name":"abc","count":3.5})").status == 400);
  CHECK(door.Call("POST", "/v1/things", R"({"name":"abc","flag":1})").status == 400);
  CHECK(door.Call("POST", "/v1/things", R"({"name":"much too long"})").status == 400);
  CHECK(door.Call("POST", "/v1/things", R"({"name":""})").status == 400);
  auto missing = door.Call("POST", "/v1/things", R"({"count":1})");
  CHECK(missing.status == 400);
  CHECK(missing.body["detail"].get<std::string>().find("name") != std::string::npos);
  // A body given twice under one name: the last would win silently; refused instead.
  CHECK(door.Call("POST", "/v1/things", R"({"name":"a","name":"b"})").status == 400);
}

TEST_CASE("aplus_http_requests_total counts each answer under its route's pattern, never the raw "
          "path" * doctest::timeout(30)) {
  prometheus::Registry registry;
  HttpRequestMetrics metrics(registry);
  {
    Door door(metrics.Hook());
    CHECK(door.Call("GET", "/v1/things/PER-7K3M-Q9XD").status == 200);
    CHECK(door.Call("GET", "/v1/things/PER-AAAA-BBBB").status == 200);
    CHECK(door.Call("GET", "/v1/things/PER-AAAA-BBBB", "", "", false).status == 401);
    CHECK(door.Call("POST", "/v1/things", R"({"nme":"x"})").status == 400);
    CHECK(door.Call("GET", "/v1/nothing/PER-7K3M-Q9XD").status == 404);
    CHECK(door.Call("DELETE", "/v1/things/PER-7K3M-Q9XD").status == 405);
    CHECK(door.Call("GET", "/metrics", "", "", false).status == 200);
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  std::string text = out.str();
  INFO(text);
  CHECK(text.find(R"(aplus_http_requests_total{code="200",route="/v1/things/{id}"} 2)") !=
        std::string::npos);
  CHECK(text.find(R"(aplus_http_requests_total{code="401",route="/v1/things/{id}"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(aplus_http_requests_total{code="400",route="/v1/things"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(aplus_http_requests_total{code="404",route="unmatched"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(aplus_http_requests_total{code="405",route="unmatched"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(aplus_http_requests_total{code="200",route="/metrics"} 1)") !=
        std::string::npos);
  // No case id in any label.
  CHECK(text.find("PER-") == std::string::npos);
}
