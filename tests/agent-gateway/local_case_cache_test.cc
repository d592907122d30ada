// The agent gateway's local case cache as a listing: its local view pages through the contact
// point's cases in the broker's order (submission order, the case number behind each id), so a
// client paging while the link comes and goes neither skips nor repeats a case.
#include "agent-gateway/local_case_cache.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "common/case_id.h"
#include "tests/support/child_process.h"

namespace aplus {
namespace {

class FixedClock final : public Clock {
 public:
  int64_t NowMs() const override { return 1'800'000'000'000; }
};

std::vector<std::string> Ids(const std::vector<wire::CaseSummary>& summaries) {
  std::vector<std::string> ids;
  for (const auto& summary : summaries) ids.push_back(summary.case_id());
  return ids;
}

TEST_CASE("the local view lists cached cases in submission order, and pages by any case id") {
  testing::TempDir dir("local-case-cache-listing");
  auto opened = RocksDb::Open(dir.Sub("db"), AgentGatewayFamilies());
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  FixedClock clock;
  LocalCaseCache cache(**opened, clock);

  // Case numbers 0, 2, 4, ... 38: ids far apart from their numbers' order, cached shuffled.
  std::vector<std::string> in_order;
  for (uint64_t n = 0; n < 40; n += 2) in_order.push_back(FormatCaseId("PER", n));
  REQUIRE_FALSE(std::is_sorted(in_order.begin(), in_order.end()));
  std::vector<wire::CaseSummary> summaries;
  for (const auto& id : in_order) {
    wire::CaseSummary summary;
    summary.set_case_id(id);
    summary.set_state(wire::DELIVERED);
    summaries.push_back(summary);
  }
  std::shuffle(summaries.begin(), summaries.end(), std::mt19937(7));
  REQUIRE(cache.RecordSummaries(summaries).ok());

  CHECK(Ids(cache.ListCases("", 100)) == in_order);
  SUBCASE("pages of three, each after the last id seen") {
    std::vector<std::string> paged;
    std::string after;
    for (int page = 0; page < 20; ++page) {
      auto ids = Ids(cache.ListCases(after, 3));
      if (ids.empty()) break;
      CHECK(ids.size() <= 3);
      paged.insert(paged.end(), ids.begin(), ids.end());
      after = ids.back();
    }
    CHECK(paged == in_order);
  }
  SUBCASE("after a case the cache does not hold: from that case's place") {
    // Number 9 lies between 8 and 10.
    auto ids = Ids(cache.ListCases(FormatCaseId("PER", 9), 2));
    CHECK(ids == std::vector<std::string>{FormatCaseId("PER", 10), FormatCaseId("PER", 12)});
  }
  SUBCASE("after the last case: nothing") {
    CHECK(cache.ListCases(in_order.back(), 10).empty());
  }
}

}  // namespace
}  // namespace aplus
