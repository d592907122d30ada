#include "http/request_queue.h"

#include <poll.h>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

namespace aplus::http {
namespace {

// A Responder whose answer lands in `answers`.
Responder Recording(std::vector<HttpResponse>& answers) {
  return Responder([&answers](HttpResponse&& response) { answers.push_back(std::move(response)); });
}

bool Readable(int fd) {
  pollfd item{fd, POLLIN, 0};
  return poll(&item, 1, 0) == 1 && (item.revents & POLLIN);
}

HttpRequest At(const std::string& path) {
  HttpRequest request;
  request.path = path;
  return request;
}

TEST_CASE("the queue's fd is readable while requests wait; Drain returns them oldest first") {
  RequestQueue queue;
  std::vector<HttpResponse> answers;
  CHECK(!Readable(queue.fd()));
  queue.Push(At("/a"), Recording(answers));
  queue.Push(At("/b"), Recording(answers));
  CHECK(Readable(queue.fd()));
  auto drained = queue.Drain();
  CHECK(!Readable(queue.fd()));
  REQUIRE(drained.size() == 2);
  CHECK(drained[0].request.path == "/a");
  CHECK(drained[1].request.path == "/b");
  CHECK(queue.Drain().empty());
  drained[0].responder.Send(HttpResponse::Json(200, "{}"));
  CHECK(answers.size() == 1);
  drained.clear();  // the second one is forgotten: answered 500
  REQUIRE(answers.size() == 2);
  CHECK(answers[1].status == 500);
}

TEST_CASE("past its capacity the queue answers 503 with Retry-After instead of queueing") {
  std::vector<HttpResponse> answers;
  RequestQueue queue(2);
  for (int i = 0; i < 3; ++i) queue.Push(At("/" + std::to_string(i)), Recording(answers));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 503);
  CHECK(nlohmann::json::parse(answers[0].body)["code"] == "UNAVAILABLE");
  CHECK(queue.Drain().size() == 2);
}

TEST_CASE("a queue destroyed with waiting requests answers them 500") {
  std::vector<HttpResponse> answers;
  {
    RequestQueue queue;
    queue.Push(At("/a"), Recording(answers));
  }
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 500);
}

TEST_CASE("a Responder answers once, whichever copy is used") {
  std::vector<HttpResponse> answers;
  Responder first = Recording(answers);
  Responder copy = first;
  CHECK(!copy.answered());
  CHECK(first.Send(HttpResponse::Json(201, "{}")));
  CHECK(copy.answered());
  CHECK(!copy.Send(HttpResponse::Json(200, "{}")));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 201);
}

}  // namespace
}  // namespace aplus::http
