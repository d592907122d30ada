// The etcd client against real etcd members (tests/support/etcd_cluster.h): leases, reads,
// transactions, a member lost, nobody answering, bad URL lists.
#include "common/etcd_client.h"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/support/etcd_cluster.h"
#include "tests/support/raw_http_server.h"

using namespace aplus;
using aplus::testing::EtcdCluster;
using aplus::testing::FreePort;
using FakeHttpServer = aplus::testing::RawHttpServer;  // something that is not etcd
using Clock = std::chrono::steady_clock;

namespace {

std::unique_ptr<EtcdClient> Connect(const std::string& urls, int timeout_ms = 2000) {
  auto client = EtcdClient::Create(urls, timeout_ms);
  REQUIRE_MESSAGE(client.ok(), client.status().ToString());
  return std::move(client).value();
}

}  // namespace

TEST_CASE("a malformed URL list is INVALID_ARGUMENT" * doctest::timeout(10)) {
  for (const char* urls : {"", "127.0.0.1:2379", "https://127.0.0.1:2379", "http://:2379",
                           "http://127.0.0.1", "http://127.0.0.1:0", "http://127.0.0.1:99999",
                           "http://127.0.0.1:2379,", "http://127.0.0.1:2379/v3",
                           "http://127.0.0.1:2379,,http://127.0.0.1:2380"}) {
    auto client = EtcdClient::Create(urls, 1000);
    CHECK_MESSAGE(!client.ok(), urls);
    if (!client.ok()) CHECK(client.status().code() == wire::INVALID_ARGUMENT);
  }
  CHECK(EtcdClient::Create("http://127.0.0.1:2379", 0).status().code() == wire::INVALID_ARGUMENT);
  CHECK(EtcdClient::Create("http://127.0.0.1:2379, http://[::1]:2380/", 1000).ok());
}

TEST_CASE("nobody answering is UNREACHABLE within the deadline" * doctest::timeout(20)) {
  // Two ports nobody listens on: each connection is refused at once, and the call still ends
  // within its deadline with UNREACHABLE.
  auto client = Connect("http://127.0.0.1:" + std::to_string(FreePort()) +
                            ",http://127.0.0.1:" + std::to_string(FreePort()),
                        700);
  auto start = Clock::now();
  auto got = client->Get("k");
  auto took = Clock::now() - start;
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == wire::UNREACHABLE);
  CHECK(took < std::chrono::milliseconds(700 + 500));
}

TEST_CASE("an answer that is not etcd's is UNAVAILABLE, never a crash" * doctest::timeout(20)) {
  FakeHttpServer junk("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz");
  auto got = Connect(junk.url(), 1000)->Get("k");
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == wire::UNAVAILABLE);
  CHECK(got.status().message().find("without JSON") != std::string::npos);

  // JSON of the wrong shape: no key, no field of the expected type.
  FakeHttpServer odd("HTTP/1.1 200 OK\r\nContent-Length: 46\r\nConnection: close\r\n\r\n"
                     "{\"kvs\":[{\"key\":7,\"value\":[]}],\"succeeded\":\"x\"}");
  auto txn = Connect(odd.url(), 1000)->Txn({}, {}, {});
  CHECK(txn.ok());
  if (txn.ok()) CHECK_FALSE(txn->succeeded);
  auto kv = Connect(odd.url(), 1000)->Get("k");
  REQUIRE(kv.ok());
  REQUIRE(kv->has_value());
  CHECK((*kv)->key.empty());

  // A proxy's 503 without JSON: the next member is tried, and answers.
  FakeHttpServer busy("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n"
                      "Connection: close\r\n\r\nbusy");
  FakeHttpServer fine("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
  auto next = Connect(busy.url() + "," + fine.url(), 1000)->Get("k");
  REQUIRE(next.ok());
  CHECK_FALSE(next->has_value());
}

TEST_CASE("leases, reads and transactions on a real etcd" * doctest::timeout(60)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(std::string(EtcdCluster::kMissing));
    return;
  }
  EtcdCluster etcd(1, "etcd-client");
  auto client = Connect(etcd.urls());

  auto lease = client->GrantLease(10);
  REQUIRE_MESSAGE(lease.ok(), lease.status().ToString());
  CHECK(*lease != 0);
  auto ttl = client->KeepAlive(*lease, std::chrono::milliseconds(3000));
  REQUIRE_MESSAGE(ttl.ok(), ttl.status().ToString());
  CHECK(*ttl == 10);

  // Absent key: nullopt, and the header revision.
  int64_t revision = 0;
  auto absent = client->Get("/t/leader", &revision);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
  CHECK(revision >= 1);

  // A transaction whose comparison holds: puts under the lease (binary-safe values), reads.
  const std::string value = std::string("{\"node\":\"a\"}\0\xff", 14);
  auto won = client->Txn({{"/t/leader", EtcdCompare::Target::kCreateRevision, 0, ""}},
                         {{EtcdOp::Kind::kPut, "/t/leader", value, *lease},
                          {EtcdOp::Kind::kPut, "/t/sync", "s", 0},
                          {EtcdOp::Kind::kGet, "/t/leader", "", 0},
                          {EtcdOp::Kind::kGet, "/t/absent", "", 0}},
                         {});
  REQUIRE_MESSAGE(won.ok(), won.status().ToString());
  CHECK(won->succeeded);
  CHECK(won->revision > revision);
  REQUIRE(won->read.size() == 1);  // the absent key gives no entry
  CHECK(won->read[0].value == value);
  CHECK(won->read[0].create_revision == won->revision);  // the epoch rule of leadership
  CHECK(won->read[0].lease == *lease);

  auto got = client->Get("/t/leader");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->key == "/t/leader");
  CHECK((*got)->value == value);
  CHECK((*got)->create_revision == won->revision);
  CHECK((*got)->mod_revision == won->revision);
  CHECK((*got)->lease == *lease);

  // The same comparison fails now: the failure branch runs.
  auto lost = client->Txn({{"/t/leader", EtcdCompare::Target::kCreateRevision, 0, ""}},
                          {{EtcdOp::Kind::kPut, "/t/leader", "b", 0}},
                          {{EtcdOp::Kind::kGet, "/t/sync", "", 0}});
  REQUIRE(lost.ok());
  CHECK_FALSE(lost->succeeded);
  REQUIRE(lost->read.size() == 1);
  CHECK(lost->read[0].value == "s");
  CHECK((*client->Get("/t/leader"))->value == value);

  // mod_revision and value comparisons, and delete.
  auto sync = client->Get("/t/sync");
  REQUIRE(sync.ok());
  auto fenced = client->Txn({{"/t/sync", EtcdCompare::Target::kModRevision,
                              (*sync)->mod_revision, ""},
                             {"/t/sync", EtcdCompare::Target::kValue, 0, "s"}},
                            {{EtcdOp::Kind::kDelete, "/t/sync", "", 0}}, {});
  REQUIRE(fenced.ok());
  CHECK(fenced->succeeded);
  CHECK_FALSE(client->Get("/t/sync")->has_value());
  auto stale = client->Txn({{"/t/leader", EtcdCompare::Target::kValue, 0, "other"}},
                           {{EtcdOp::Kind::kDelete, "/t/leader", "", 0}}, {});
  REQUIRE(stale.ok());
  CHECK_FALSE(stale->succeeded);

  // Revoking the lease takes its key; a keep-alive then says the lease is gone (TTL <= 0),
  // and revoking again is etcd's error, kept.
  REQUIRE(client->RevokeLease(*lease).ok());
  CHECK_FALSE(client->Get("/t/leader")->has_value());
  auto gone = client->KeepAlive(*lease, std::chrono::milliseconds(3000));
  REQUIRE(gone.ok());
  CHECK(*gone <= 0);
  Status again = client->RevokeLease(*lease);
  CHECK(again.code() == wire::UNAVAILABLE);
  CHECK(again.message().find("lease not found") != std::string::npos);

  // A put under a lease that does not exist: etcd's error, kept.
  auto bad = client->Txn({}, {{EtcdOp::Kind::kPut, "/t/x", "x", 12345}}, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == wire::UNAVAILABLE);
  CHECK(bad.status().message().find("lease not found") != std::string::npos);
}

TEST_CASE("one member of three killed or frozen: calls still answer" * doctest::timeout(120)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(std::string(EtcdCluster::kMissing));
    return;
  }
  EtcdCluster etcd(3, "etcd-client-3");
  // A deadline long enough for an election: member 0 may be raft's leader, and the others
  // hold a request until they have a new one (1-2 s with the test cluster's timings).
  auto client = Connect(etcd.urls(), 10000);
  REQUIRE(client->Txn({}, {{EtcdOp::Kind::kPut, "/t/k", "1", 0}}, {}).ok());

  // The client answered from member 0 so far: kill it. The next call goes to the others.
  etcd.Kill(0);
  auto start = Clock::now();
  auto lease = client->GrantLease(5);
  REQUIRE_MESSAGE(lease.ok(), lease.status().ToString());
  auto got = client->Get("/t/k");
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CHECK((*got)->value == "1");
  CHECK(client->KeepAlive(*lease, std::chrono::milliseconds(3000)).ok());
  auto put = client->Txn({}, {{EtcdOp::Kind::kPut, "/t/k", "2", 0}}, {});
  REQUIRE_MESSAGE(put.ok(), put.status().ToString());
  CHECK(Clock::now() - start < std::chrono::seconds(4 * 10));

  // The member back, then another one frozen (it accepts connections and answers nothing):
  // a call to it gives way to the others within the deadline.
  REQUIRE(etcd.Restart(0));
  auto member1 = Connect(etcd.url(1) + "," + etcd.url(0) + "," + etcd.url(2), 3000);
  REQUIRE(member1->Get("/t/k").ok());  // member 1 answered last
  REQUIRE(etcd.Stop(1));
  start = Clock::now();
  auto read = member1->Get("/t/k");
  CHECK(Clock::now() - start < std::chrono::milliseconds(3000 + 500));
  REQUIRE_MESSAGE(read.ok(), read.status().ToString());
  CHECK((*read)->value == "2");
  etcd.Cont(1);

  // Every member gone: UNREACHABLE within the deadline.
  for (int i = 0; i < 3; ++i) etcd.Kill(i);
  start = Clock::now();
  auto none = member1->Get("/t/k");
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().code() == wire::UNREACHABLE);
  CHECK(Clock::now() - start < std::chrono::milliseconds(3000 + 500));
}

TEST_CASE("every member frozen: UNREACHABLE within the deadline" * doctest::timeout(60)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(std::string(EtcdCluster::kMissing));
    return;
  }
  EtcdCluster etcd(1, "etcd-client-stop");
  auto client = Connect(etcd.urls(), 800);
  REQUIRE(client->Get("/t/k").ok());
  REQUIRE(etcd.Stop(0));
  auto start = Clock::now();
  auto got = client->Get("/t/k");
  auto took = Clock::now() - start;
  etcd.Cont(0);
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == wire::UNREACHABLE);
  CHECK(took >= std::chrono::milliseconds(700));
  CHECK(took < std::chrono::milliseconds(800 + 500));
}
