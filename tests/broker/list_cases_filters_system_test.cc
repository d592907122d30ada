// ListCases with the filters of the HTTP API (proto/aplus.proto: state, partner, agents) and
// its continuation (CaseList.next_after_case_id), against the real broker.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

wire::CaseList List(SyncClient& client, const std::string& after, uint32_t limit,
                    const std::string& partner = "", std::vector<std::string> agents = {},
                    wire::CaseState state = wire::STATE_UNSPECIFIED) {
  wire::Envelope request;
  auto* list = request.mutable_list_cases();
  list->set_after_case_id(after);
  list->set_limit(limit);
  list->set_partner(partner);
  list->set_state(state);
  for (const auto& agent : agents) list->add_agents(agent);
  auto answer = client.CallOk(request, 5000);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  return answer->case_list();
}

}  // namespace

TEST_CASE("ListCases filters by partner, agent and state, and pages with next_after_case_id" *
          doctest::timeout(90)) {
  TestNetwork network("list-cases-filters");
  REQUIRE(network.StartBroker());
  auto agent = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::set<std::string> to_caf;
  std::set<std::string> by_noce_2;
  for (int i = 0; i < 6; ++i) {
    std::string partner = i % 2 == 0 ? "caf" : "france-travail";
    std::string who = i < 4 ? "agent-noce-1" : "agent-noce-2";
    auto accepted = agent->CallOk(
        SubmitRequest("cas " + std::to_string(i), "", partner, who), 5000);
    REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
    if (partner == "caf") to_caf.insert(accepted->accepted().case_id());
    if (who == "agent-noce-2") by_noce_2.insert(accepted->accepted().case_id());
  }

  // Partner filter, one case per page: every page is full or the last, and together they are
  // exactly the partner's cases.
  std::set<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    auto list = List(*agent, after, 1, "caf");
    for (const auto& summary : list.cases()) {
      CHECK(summary.partner() == "caf");
      CHECK(seen.insert(summary.case_id()).second);
    }
    if (list.next_after_case_id().empty()) break;
    after = list.next_after_case_id();
  }
  CHECK(seen == to_caf);

  auto mine = List(*agent, "", 100, "", {"agent-noce-2"});
  std::set<std::string> mine_ids;
  for (const auto& summary : mine.cases()) mine_ids.insert(summary.case_id());
  CHECK(mine_ids == by_noce_2);
  CHECK(mine.next_after_case_id().empty());

  CHECK(List(*agent, "", 100, "", {}, wire::CLOSED).cases_size() == 0);
  CHECK(List(*agent, "", 100, "", {}, wire::SUBMITTED).cases_size() == 6);
  CHECK(List(*agent, "", 100, "cpam").cases_size() == 0);
}
