// Start-up refuses a store it cannot trust (issue 8, finding 8): a malformed counter or queue
// mark used to be read as 0, so case numbers and delivery ids could be handed out again. The
// broker must not start, and must say which value is wrong.
#include <doctest/doctest.h>

#include <filesystem>

#include "broker/broker.h"
#include "store/broker_store.h"
#include "store/key_layout.h"
#include "tests/support/one_partner_network.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {

constexpr std::string_view kConfig = aplus::testing::kOnePartnerNetworkToml;

Status CreateBroker(const std::string& data_dir) {
  auto config = ParseNetworkConfig(kConfig, "startup-refusal.toml");
  REQUIRE(config.ok());
  BrokerOptions options;
  options.listen_endpoint = "tcp://127.0.0.1:*";
  options.alerts_endpoint = "tcp://127.0.0.1:*";
  options.data_dir = data_dir;
  options.insecure = true;
  zmq::context_t context(1);
  SystemClock clock;
  auto broker = Broker::Create(*config, options, context, clock);
  return broker.ok() ? Status::Ok() : broker.status();
}

void WriteRawMeta(const std::string& path, const std::string& key, const std::string& value) {
  auto store = BrokerStore::Open(path);
  REQUIRE(store.ok());
  rocksdb::WriteBatch batch;
  REQUIRE(batch.Put((*store)->db().Family(keys::kMeta), key, value).ok());
  REQUIRE((*store)->db().Write(batch).ok());
}

}  // namespace

TEST_CASE("the broker refuses to start on a malformed counter or queue mark, naming it" *
          doctest::timeout(60)) {
  for (const std::string& key : {std::string(keys::kCaseCounter),
                                 std::string(keys::kQueueNextPrefix) + "partner/france-travail"}) {
    CAPTURE(key);
    testing::TempDir dir("startup-refusal");
    std::string data = dir.Sub("broker");
    std::filesystem::create_directories(data);
    REQUIRE(CreateBroker(data).ok());  // a fresh store serves
    WriteRawMeta(data, key, "garbage");
    Status refused = CreateBroker(data);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.code() == wire::INTERNAL);
    CHECK_MESSAGE(refused.message().find(key) != std::string::npos, refused.message());
  }
}
