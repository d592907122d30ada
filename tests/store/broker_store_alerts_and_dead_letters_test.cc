// BrokerStore reads added by issue 8: alerts by sequence (a follower's catch-up) and the
// dead-letter queues (ListDeadLetters, RequeueDeadLetters). Both see this batch's writes.
#include <doctest/doctest.h>

#include <rocksdb/write_batch.h>

#include "store/broker_store.h"
#include "store/key_layout.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {

wire::Alert MakeAlert(BrokerStore& store, const std::string& case_id, wire::Alert::Kind kind) {
  wire::Alert alert;
  alert.set_sequence(store.NextAlertSequence());
  alert.set_kind(kind);
  alert.set_case_id(case_id);
  alert.set_alert_id(case_id + "/" + wire::Alert::Kind_Name(kind) + "/1");
  return alert;
}

std::vector<std::string> Ids(const std::vector<wire::Alert>& alerts) {
  std::vector<std::string> ids;
  for (const auto& alert : alerts) ids.push_back(alert.alert_id());
  return ids;
}

}  // namespace

TEST_CASE("alerts after a sequence: committed and pending, in order, acknowledged ones too") {
  testing::TempDir dir("store-alert-index");
  auto opened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(opened.ok());
  BrokerStore& store = **opened;
  wire::Alert a = MakeAlert(store, "PER-AAAA-AAAA", wire::Alert::WARNING);
  wire::Alert b = MakeAlert(store, "PER-AAAA-AAAA", wire::Alert::BREACH);
  store.PutAlert(a, true);
  store.PutAlert(b, true);
  REQUIRE(store.Commit().ok());
  // Acknowledged (rewritten) and a new one, both pending.
  b.set_acked_by("claire");
  store.PutAlert(b, false);
  wire::Alert c = MakeAlert(store, "PER-BBBB-BBBB", wire::Alert::DEAD_LETTER);
  store.PutAlert(c, true);

  auto all = store.AlertsAfter(0, 100);
  REQUIRE(all.ok());
  CHECK(Ids(*all) == std::vector<std::string>{a.alert_id(), b.alert_id(), c.alert_id()});
  CHECK((*all)[1].acked_by() == "claire");
  auto after_a = store.AlertsAfter(a.sequence(), 100);
  REQUIRE(after_a.ok());
  CHECK(Ids(*after_a) == std::vector<std::string>{b.alert_id(), c.alert_id()});
  auto one = store.AlertsAfter(a.sequence(), 1);
  REQUIRE(one.ok());
  CHECK(Ids(*one) == std::vector<std::string>{b.alert_id()});
  auto none = store.AlertsAfter(c.sequence(), 100);
  REQUIRE(none.ok());
  CHECK(none->empty());
  REQUIRE(store.Commit().ok());
  auto committed = store.AlertsAfter(0, 100);
  REQUIRE(committed.ok());
  CHECK(Ids(*committed) == std::vector<std::string>{a.alert_id(), b.alert_id(), c.alert_id()});
}

TEST_CASE("a database written before the alert index gets it at start-up") {
  testing::TempDir dir("store-alert-backfill");
  std::vector<std::string> expected;
  {
    auto opened = BrokerStore::Open(dir.Sub("db"));
    REQUIRE(opened.ok());
    BrokerStore& store = **opened;
    for (const char* id : {"PER-CCCC-CCCC", "PER-AAAA-AAAA", "PER-BBBB-BBBB"}) {
      wire::Alert alert = MakeAlert(store, id, wire::Alert::BREACH);
      expected.push_back(alert.alert_id());
      store.PutAlert(alert, true);
    }
    REQUIRE(store.Commit().ok());
    // As an older broker left it: alerts without their index entries.
    rocksdb::WriteBatch drop;
    for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
      drop.Delete(store.db().Family(keys::kAlertsBySequence), keys::AlertSequenceKey(sequence));
    }
    REQUIRE(store.db().Write(drop).ok());
    auto gone = store.AlertsAfter(0, 100);
    REQUIRE(gone.ok());
    CHECK(gone->empty());
  }
  auto reopened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(reopened.ok());
  auto all = (*reopened)->AlertsAfter(0, 100);
  REQUIRE(all.ok());
  CHECK(Ids(*all) == expected);  // sequence order, not id order
}

TEST_CASE("dead letters: by queue prefix, with this batch's parking and requeues applied") {
  testing::TempDir dir("store-dead-letters");
  auto opened = BrokerStore::Open(dir.Sub("db"));
  REQUIRE(opened.ok());
  BrokerStore& store = **opened;
  auto park = [&](const std::string& queue, uint64_t sequence, const std::string& case_id) {
    records::QueueItem item;
    item.set_case_id(case_id);
    item.set_dead_lettered(true);
    store.PutQueueItem(std::string(keys::kDeadLetterPrefix) + queue, sequence, item);
  };
  park("partner/msa", 3, "PER-AAAA-AAAA");
  park("partner/msa", 9, "PER-BBBB-BBBB");
  park("partner/msa-bis", 1, "PER-CCCC-CCCC");
  records::QueueItem live;
  live.set_case_id("PER-DDDD-DDDD");
  store.PutQueueItem("partner/msa", 10, live);  // not parked
  REQUIRE(store.Commit().ok());
  park("mailbox/mairie-berdhuis", 2, "PER-AAAA-AAAA");                       // pending
  store.DeleteQueueItem(std::string(keys::kDeadLetterPrefix) + "partner/msa", 9);  // requeued

  auto all = store.ReadDeadLetters("");
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].queue == "mailbox/mairie-berdhuis");
  CHECK((*all)[0].sequence == 2);
  CHECK((*all)[1].queue == "partner/msa");
  CHECK((*all)[1].sequence == 3);
  CHECK((*all)[1].item.case_id() == "PER-AAAA-AAAA");
  CHECK((*all)[2].queue == "partner/msa-bis");
  auto exact = store.ReadDeadLetters(std::string("partner/msa") + '\0');
  REQUIRE(exact.ok());
  REQUIRE(exact->size() == 1);
  CHECK((*exact)[0].sequence == 3);
}
