#include "gateway/event_feed.h"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>

#include "common/clock.h"

namespace aplus {
namespace {

struct FeedFixture {
  std::filesystem::path dir;
  std::unique_ptr<RocksDb> db;
  std::unique_ptr<EventFeed> feed;

  explicit FeedFixture(const std::string& name)
      : dir(std::filesystem::temp_directory_path() /
            ("aplus-event-feed-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    Reopen();
  }
  ~FeedFixture() {
    feed.reset();
    db.reset();
    std::filesystem::remove_all(dir);
  }
  void Reopen() {
    feed.reset();
    db.reset();
    auto opened = RocksDb::Open(dir.string(), {kEventFeedFamily});
    REQUIRE(opened.ok());
    db = std::move(opened).value();
    auto made = EventFeed::Open(*db);
    REQUIRE(made.ok());
    feed = std::move(made).value();
  }
  uint64_t Add(const std::string& type, int64_t at_ms, const std::string& agent = "a1") {
    rocksdb::WriteBatch batch;
    uint64_t sequence = feed->Append(batch, {{"type", type}, {"agent", agent}}, at_ms);
    REQUIRE(db->Write(batch).ok());
    feed->Published();
    return sequence;
  }
};

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A Responder whose answer lands in `out`.
http::Responder Capture(std::shared_ptr<http::HttpResponse> out) {
  return http::Responder([out](http::HttpResponse&& response) { *out = std::move(response); });
}

void RenderPage(const http::Responder& responder, const FeedPage& page) {
  nlohmann::json body = {{"events", page.events},
                         {"nextCursor", EventFeed::Cursor(page.next_after)}};
  responder.Send(http::HttpResponse::Json(200, body.dump()));
}

}  // namespace

TEST_CASE("events are read in order with their cursor and at; sequences survive a reopen") {
  FeedFixture f("order");
  CHECK(f.Add("case.answered", 1'780'000'000'000) == 1);
  CHECK(f.Add("sla.warning", 1'780'000'001'000) == 2);
  auto page = f.feed->Read(0, 10);
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 2);
  CHECK(page->events[0]["cursor"] == "1");
  CHECK(page->events[0]["type"] == "case.answered");
  CHECK(page->events[0]["at"] == "2026-05-28T20:26:40Z");
  CHECK_FALSE(page->events[0].contains("at_ms"));
  CHECK(page->next_after == 2);
  auto rest = f.feed->Read(1, 10);
  REQUIRE(rest.ok());
  REQUIRE(rest->events.size() == 1);
  CHECK(rest->events[0]["cursor"] == "2");

  f.Reopen();
  CHECK(f.feed->last_sequence() == 2);
  CHECK(f.Add("case.transferred", 1'780'000'002'000) == 3);
}

TEST_CASE("a filter hides events and the cursor still moves past them") {
  FeedFixture f("filter");
  f.Add("case.answered", 1'780'000'000'000, "a1");
  f.Add("case.answered", 1'780'000'000'000, "a2");
  f.Add("case.answered", 1'780'000'000'000, "a1");
  FeedFilter only_a2 = [](const nlohmann::json& e) { return e["agent"] == "a2"; };
  auto page = f.feed->Read(0, 10, only_a2);
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 1);
  CHECK(page->events[0]["cursor"] == "2");
  CHECK(page->next_after == 3);
}

TEST_CASE("a long poll is answered when an event is published, or empty at its deadline") {
  FeedFixture f("wait");
  auto first = std::make_shared<http::HttpResponse>();
  f.feed->Wait(0, 10, SteadyNowMs() + 60'000, nullptr, Capture(first), RenderPage);
  CHECK(f.feed->waiter_count() == 1);
  CHECK(first->status == 200);
  CHECK(first->body.empty());
  f.Add("case.answered", 1'780'000'000'000);
  CHECK(f.feed->waiter_count() == 0);
  auto body = nlohmann::json::parse(first->body);
  CHECK(body["events"].size() == 1);
  CHECK(body["nextCursor"] == "1");

  // Nothing after cursor 1: waits, then the deadline answers an empty page at the same cursor.
  auto second = std::make_shared<http::HttpResponse>();
  int64_t deadline = SteadyNowMs() + 50;
  f.feed->Wait(1, 10, deadline, nullptr, Capture(second), RenderPage);
  CHECK(f.feed->NextWaiterDeadlineMs() == deadline);
  f.feed->ExpireWaiters(deadline - 1);
  CHECK(second->body.empty());
  f.feed->ExpireWaiters(deadline);
  auto empty = nlohmann::json::parse(second->body);
  CHECK(empty["events"].empty());
  CHECK(empty["nextCursor"] == "1");
  CHECK(f.feed->NextWaiterDeadlineMs() == 0);

  // Already something to read: answered at once, no waiting.
  auto third = std::make_shared<http::HttpResponse>();
  f.feed->Wait(0, 10, SteadyNowMs() + 60'000, nullptr, Capture(third), RenderPage);
  CHECK(f.feed->waiter_count() == 0);
  CHECK(nlohmann::json::parse(third->body)["events"].size() == 1);
}

TEST_CASE("a filtered waiter keeps waiting past events it may not see") {
  FeedFixture f("filtered-wait");
  auto out = std::make_shared<http::HttpResponse>();
  FeedFilter only_a2 = [](const nlohmann::json& e) { return e["agent"] == "a2"; };
  f.feed->Wait(0, 10, SteadyNowMs() + 60'000, only_a2, Capture(out), RenderPage);
  f.Add("case.answered", 1'780'000'000'000, "a1");
  CHECK(f.feed->waiter_count() == 1);
  CHECK(out->body.empty());
  f.Add("case.answered", 1'780'000'000'000, "a2");
  CHECK(f.feed->waiter_count() == 0);
  auto body = nlohmann::json::parse(out->body);
  REQUIRE(body["events"].size() == 1);
  CHECK(body["events"][0]["cursor"] == "2");
}

TEST_CASE("trimming goes by append time; the sequence never restarts, even when all is trimmed") {
  FeedFixture f("trim");
  f.Add("a", 1000);  // an old instant (a mail delivered late): kept, it was appended now
  f.Add("b", 2000);
  rocksdb::WriteBatch keep;
  auto none = f.feed->TrimBefore(keep, SystemNowMs() - 60'000);
  REQUIRE(none.ok());
  CHECK(*none == 0);
  rocksdb::WriteBatch batch;
  auto trimmed = f.feed->TrimBefore(batch, SystemNowMs() + 1);
  REQUIRE(trimmed.ok());
  CHECK(*trimmed == 2);
  REQUIRE(f.db->Write(batch).ok());
  auto page = f.feed->Read(0, 10);
  REQUIRE(page.ok());
  CHECK(page->events.empty());
  f.Reopen();
  CHECK(f.feed->last_sequence() == 2);  // a client's cursor 2 stays meaningful
  CHECK(f.Add("c", 3000) == 3);
  auto after = f.feed->Read(2, 10);
  REQUIRE(after.ok());
  REQUIRE(after->events.size() == 1);
  CHECK(after->events[0]["type"] == "c");
}

TEST_CASE("events are invisible to readers until published (durable)") {
  FeedFixture f("unpublished");
  rocksdb::WriteBatch batch;
  f.feed->Append(batch, {{"type", "case.answered"}}, 1'780'000'000'000);
  REQUIRE(f.db->Write(batch).ok());
  auto before = f.feed->Read(0, 10);
  REQUIRE(before.ok());
  CHECK(before->events.empty());
  auto out = std::make_shared<http::HttpResponse>();
  f.feed->Wait(0, 10, SteadyNowMs() + 60'000, nullptr, Capture(out), RenderPage);
  CHECK(f.feed->waiter_count() == 1);
  f.feed->Published();
  CHECK(f.feed->waiter_count() == 0);
  CHECK(nlohmann::json::parse(out->body)["events"].size() == 1);
}

TEST_CASE("after a fail-stop every waiting long poll gets the problem") {
  FeedFixture f("fail-stop");
  auto out = std::make_shared<http::HttpResponse>();
  f.feed->Wait(0, 10, SteadyNowMs() + 60'000, nullptr, Capture(out), RenderPage);
  f.feed->AnswerAllWaiters(Status(wire::UNAVAILABLE, "durability lost"));
  CHECK(out->status == 503);
  CHECK(f.feed->waiter_count() == 0);
}

TEST_CASE("cursors: decimal only") {
  CHECK(EventFeed::ParseCursor("42").value() == 42);
  CHECK_FALSE(EventFeed::ParseCursor("").ok());
  CHECK_FALSE(EventFeed::ParseCursor("4x").ok());
  CHECK_FALSE(EventFeed::ParseCursor("-1").ok());
  CHECK(EventFeed::PublicForm(7, {{"type", "t"}, {"at_ms", 5}}, 1'780'000'000'000)["cursor"] ==
        "7");
}

}  // namespace aplus
