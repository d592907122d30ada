// The durable webhook queue on a real RocksDB in a temporary directory: enqueued in the
// event's batch, sent in feed order per partner, attempts logged, failed ones redelivered, all
// of it across a reopen.
#include "gateway/webhook_queue.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "tests/support/child_process.h"

namespace {

using aplus::Webhook;
using aplus::WebhookAttempt;
using aplus::WebhookQueue;
using aplus::WebhookState;
using aplus::testing::TempDir;

std::unique_ptr<aplus::RocksDb> Open(const std::string& path) {
  auto db = aplus::RocksDb::Open(path, {aplus::kWebhookFamily, "events"});
  REQUIRE(db.ok());
  return std::move(*db);
}

Webhook Make(const std::string& partner, uint64_t sequence, int64_t queued_ms = 1000) {
  Webhook webhook;
  webhook.partner = partner;
  webhook.sequence = sequence;
  webhook.id = "evt_" + partner + "_" + std::to_string(sequence);
  webhook.body = "{\"sequence\":" + std::to_string(sequence) + "}";
  webhook.queued_ms = queued_ms;
  return webhook;
}

// Enqueues `webhook` together with a stand-in event, in one batch, as the gateway does.
void EnqueueWithEvent(aplus::RocksDb& db, WebhookQueue& queue, const Webhook& webhook) {
  rocksdb::WriteBatch batch;
  REQUIRE(queue.Enqueue(batch, webhook).ok());
  REQUIRE(batch.Put(db.Family("events"), webhook.id, webhook.body).ok());
  REQUIRE(db.Write(batch).ok());
}

}  // namespace

TEST_CASE("webhooks go out in feed order per partner, and survive a reopen with their log") {
  TempDir tmp("webhook-queue");
  std::string path = tmp.Sub("db");
  {
    auto db = Open(path);
    WebhookQueue queue(*db);
    // Out of order on purpose: the queue orders by feed sequence, not by arrival.
    EnqueueWithEvent(*db, queue, Make("caf", 2));
    EnqueueWithEvent(*db, queue, Make("caf", 1));
    EnqueueWithEvent(*db, queue, Make("caf-perche", 1));
    EnqueueWithEvent(*db, queue, Make("msa", 7));
    CHECK(db->Get(db->Family("events"), "evt_caf_1")->has_value());

    auto head = queue.Head("caf");
    REQUIRE(head.ok());
    REQUIRE(head->has_value());
    Webhook first = **head;
    CHECK(first.sequence == 1);
    CHECK(first.state == WebhookState::kPending);
    CHECK(first.next_try_ms == 1000);
    CHECK(first.attempts.empty());
    // "caf" is not a prefix match of "caf-perche".
    CHECK(queue.List("caf", false, 0)->size() == 2);

    first.attempts.push_back({1000, 503, "", 6000});
    first.next_try_ms = 6000;
    first.failing_since_ms = 1000;
    REQUIRE(queue.Record(first).ok());
    first.attempts.push_back({6000, 0, "timeout", 0});
    first.state = WebhookState::kFailed;
    first.next_try_ms = 0;
    REQUIRE(queue.Record(first).ok());

    auto next = queue.Head("caf");
    REQUIRE(next->has_value());
    Webhook second = **next;
    CHECK(second.sequence == 2);
    second.attempts.push_back({7000, 204, "", 0});
    second.state = WebhookState::kDelivered;
    REQUIRE(queue.Record(second).ok());
    CHECK_FALSE(queue.Head("caf")->has_value());
  }
  auto db = Open(path);
  WebhookQueue queue(*db);
  auto all = queue.List("caf", false, 0);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].state == WebhookState::kFailed);
  CHECK((*all)[0].id == "evt_caf_1");
  CHECK((*all)[0].body == "{\"sequence\":1}");
  REQUIRE((*all)[0].attempts.size() == 2);
  CHECK((*all)[0].attempts[0].status_code == 503);
  CHECK((*all)[0].attempts[0].next_try_ms == 6000);
  CHECK((*all)[0].attempts[1].error == "timeout");
  CHECK((*all)[0].failing_since_ms == 1000);
  CHECK((*all)[1].state == WebhookState::kDelivered);
  CHECK(queue.List("caf", true, 0)->size() == 1);
  CHECK(queue.List("caf", false, 1)->front().sequence == 1);
  CHECK(queue.Head("msa")->value().sequence == 7);
  CHECK(queue.Head("caf-perche")->has_value());
  CHECK_FALSE(queue.Head("nobody")->has_value());
}

TEST_CASE("redelivery puts a webhook back in line under its own sequence") {
  TempDir tmp("webhook-redeliver");
  auto db = Open(tmp.Sub("db"));
  WebhookQueue queue(*db);
  for (uint64_t sequence : {1, 2, 3}) EnqueueWithEvent(*db, queue, Make("caf", sequence));
  for (int i = 0; i < 2; ++i) {
    Webhook head = queue.Head("caf")->value();
    head.attempts.push_back({2000, 410, "", 0});
    head.state = WebhookState::kFailed;
    REQUIRE(queue.Record(head).ok());
  }
  CHECK(queue.Head("caf")->value().sequence == 3);

  REQUIRE(queue.Redeliver("caf", "evt_caf_2", 5000).ok());
  Webhook again = queue.Head("caf")->value();
  CHECK(again.sequence == 2);  // before 3: feed order
  CHECK(again.next_try_ms == 5000);
  CHECK(again.attempts.size() == 1);  // the log is kept
  CHECK(again.failing_since_ms == 0);
  // A pending one is only brought forward.
  REQUIRE(queue.Redeliver("caf", "evt_caf_3", 4000).ok());
  CHECK(queue.List("caf", false, 0)->back().next_try_ms == 1000);

  CHECK(queue.Redeliver("caf", "evt_unknown", 5000).code() == aplus::wire::INVALID_ARGUMENT);
  auto moved = queue.RedeliverFailed("caf", 6000);
  REQUIRE(moved.ok());
  CHECK(*moved == 1);
  CHECK(queue.Head("caf")->value().sequence == 1);
  CHECK(queue.List("caf", true, 0)->empty());
  CHECK(*queue.RedeliverFailed("caf", 6000) == 0);
}

TEST_CASE("retention removes past webhooks only, by their last attempt") {
  TempDir tmp("webhook-purge");
  auto db = Open(tmp.Sub("db"));
  WebhookQueue queue(*db);
  for (uint64_t sequence : {1, 2, 3}) EnqueueWithEvent(*db, queue, Make("caf", sequence));
  Webhook first = queue.Head("caf")->value();
  first.attempts.push_back({2000, 200, "", 0});
  first.state = WebhookState::kDelivered;
  REQUIRE(queue.Record(first).ok());
  Webhook second = queue.Head("caf")->value();
  second.attempts.push_back({9000, 404, "", 0});
  second.state = WebhookState::kFailed;
  REQUIRE(queue.Record(second).ok());

  CHECK(*queue.PurgeHistory("caf", 2000) == 0);
  CHECK(*queue.PurgeHistory("caf", 5000) == 1);
  auto left = queue.List("caf", false, 0);
  REQUIRE(left->size() == 2);
  CHECK((*left)[0].sequence == 2);
  CHECK(*queue.PurgeHistory("caf", 100000) == 1);
  CHECK(queue.List("caf", false, 0)->size() == 1);
  CHECK(queue.Head("caf")->value().sequence == 3);  // pending: never purged
}

TEST_CASE("bad webhooks are refused, and a failed write is reported") {
  TempDir tmp("webhook-bad");
  auto db = Open(tmp.Sub("db"));
  WebhookQueue queue(*db);
  rocksdb::WriteBatch batch;
  CHECK(queue.Enqueue(batch, Make("", 1)).code() == aplus::wire::INVALID_ARGUMENT);
  CHECK(queue.Enqueue(batch, Make(std::string("a\0b", 3), 1)).code() ==
        aplus::wire::INVALID_ARGUMENT);
  Webhook no_id = Make("caf", 1);
  no_id.id.clear();
  CHECK(queue.Enqueue(batch, no_id).code() == aplus::wire::INVALID_ARGUMENT);
  CHECK(batch.Count() == 0);

  EnqueueWithEvent(*db, queue, Make("caf", 1));
  Webhook head = queue.Head("caf")->value();
  head.state = WebhookState::kDelivered;
  db->FailNextWriteForTest();
  CHECK_FALSE(queue.Record(head).ok());
}
