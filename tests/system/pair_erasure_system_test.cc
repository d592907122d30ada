// Issue 12: erasure still means erasure, on both nodes of a pair (docs/AVAILABILITY.md,
// "Erasure on both nodes"). A pair archives its write-ahead log so that a standby can catch up,
// and archived files keep what a purge erased: they are deleted once the standby has applied
// them, and the standby runs the purge's flush and compaction too. Every file of both data
// directories is read raw, archives included.
#include <doctest/doctest.h>

#include "common/clock.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/data_files.h"
#include "tests/support/pair_network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

void ShortRetention(std::string& toml) {
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t at = toml.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "the default network has no '" << from << "'");
    toml.replace(at, from.size(), to);
  };
  replace("personal_data_after = \"12 months\"", "personal_data_after = \"2 seconds\"");
  replace("compaction_interval = \"1 hours\"", "compaction_interval = \"1 seconds\"");
}

}  // namespace

TEST_CASE("a purge leaves the files of both brokers of a pair, archived log included" *
          doctest::timeout(150)) {
  if (!EtcdCluster::Available()) {
    MESSAGE(EtcdCluster::kMissing);
    return;
  }
  PairNetwork pair("pair-erasure", PairNetwork::kStrict, 1, ShortRetention);
  int leader = pair.StartPaired();
  REQUIRE_MESSAGE(leader >= 0, pair.Logs());

  auto agent = pair.network().BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  Marker body = MakeMarker("pair-erasure-body");
  Marker citizen = MakeMarker("pair-erasure-citizen");
  auto submit = SubmitRequest("to be erased", "erasure-1");
  submit.mutable_submit()->set_body(body.text);
  submit.mutable_submit()->set_citizen_name(citizen.text);
  auto accepted = agent->Call(submit, 10000);
  REQUIRE_MESSAGE((accepted.ok() && accepted->has_accepted()), pair.Logs());
  const std::string case_id = accepted->accepted().case_id();
  // Control: both nodes hold the texts now (the standby's copy came with the Accepted).
  for (int i = 0; i < 2; ++i) {
    CHECK_MESSAGE(!FilesContaining(pair.node(i).data_dir, body.text).empty(),
                  "node " << pair.node(i).name << " does not hold the body before the purge");
  }

  wire::Envelope cancel;
  cancel.mutable_cancel_case()->set_case_id(case_id);
  cancel.mutable_cancel_case()->set_reason("the citizen moved away");
  cancel.mutable_cancel_case()->set_idempotency_key("erasure-cancel");
  auto cancelled = agent->Call(cancel, 10000);
  REQUIRE_MESSAGE((cancelled.ok() && !cancelled->has_error()), pair.Logs());

  REQUIRE_MESSAGE(pair.node(leader).process->WaitForLog("retention: personal data of", 20000),
                  pair.Logs());
  // Some traffic after the purge, so that both nodes' logs roll past it.
  for (int i = 0; i < 5; ++i) {
    auto more = agent->Call(SubmitRequest("after the purge", "after-" + std::to_string(i)), 10000);
    CHECK(more.ok());
  }
  auto leftovers = [&] {
    std::vector<std::string> found;
    for (int i = 0; i < 2; ++i) {
      for (const Marker* marker : {&body, &citizen}) {
        for (auto& file : FilesWithAnyPiece(pair.node(i).data_dir, *marker)) {
          found.push_back(pair.node(i).name + ": " + file);
        }
      }
    }
    return found;
  };
  bool gone = WaitUntil([&] { return leftovers().empty(); }, 30000, 250);
  CHECK_MESSAGE(gone, JoinNames(leftovers()) << "\n" << pair.Logs());
}
