// `aplus-bench --mode gateways` end to end for a couple of seconds: a real broker, agent
// gateway and two partner gateways, the partner software on their HTTP feeds, then the
// broker-only run. Checks that the run completes, every submission answered 201 was stored at
// its partner gateway and taken by the partner software, nothing failed, every program stopped
// cleanly, and the ratio is computed. No speed is asserted (2 loaded cores under ctest -j2).
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/child_process.h"

namespace {

using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("aplus-bench --mode gateways stores every accepted submission at the partner gateways" *
          doctest::timeout(240)) {
  aplus::testing::TempDir dir("bench-gateways");
  std::string log = dir.Sub("bench.log");
  // `timeout` bounds the child whatever happens; the bench's own drain is bounded too.
  std::string command = "timeout -k 5 200 " + aplus::testing::BinPath("aplus-bench") +
                        " --mode gateways --seconds 2 --warmup 0.5 --http-connections 8"
                        " --gateway-partners 2 --ack-connections 4 --drain-seconds 60 --json"
                        " --data-dir " + dir.Sub("data") + " 2>" + log;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  int status = ::pclose(pipe);
  INFO("stderr: " << ReadAll(log));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  json result = json::parse(out, nullptr, false);
  REQUIRE_FALSE(result.is_discarded());
  INFO("result: " << result.dump(2));
  CHECK(result["mode"] == "gateways");

  const json& gateways = result["gateways"];
  const json& totals = gateways["totals"];
  CHECK(gateways["partners"].size() == 2);
  uint64_t created = totals["created_201"].get<uint64_t>();
  CHECK(created > 0);
  CHECK(gateways["submitted_201"].get<uint64_t>() > 0);
  // Every 201 stored at a partner gateway and read from its feed, exactly once, and taken.
  CHECK(totals["created_not_stored"] == 0);
  CHECK(totals["stored_not_taken"] == 0);
  CHECK(totals["stored_not_created_by_this_run"] == 0);
  CHECK(totals["stored_read_from_feed"].get<uint64_t>() == created);
  CHECK(totals["acked_200"].get<uint64_t>() + totals["acked_202_queued"].get<uint64_t>() ==
        created);
  CHECK(totals["duplicate_deliveries"] == 0);
  CHECK(totals["submit_errors"].empty());
  CHECK(totals["partner_software_errors"].empty());
  CHECK(gateways["drain"]["complete"] == true);
  for (auto& [program, exit_status] : gateways["exit_status"].items()) {
    INFO(program);
    CHECK(exit_status == 0);
  }
  // The per-program CPU figures are there (their values are the run's, not asserted).
  for (const char* program : {"broker", "agent_gateway"}) {
    CHECK(gateways["cpu"]["programs"].contains(program));
  }

  const json& broker_only = result["broker_only"];
  CHECK(broker_only["mode"] == "throughput");
  CHECK(broker_only["totals"]["accepted"].get<uint64_t>() > 0);
  CHECK(broker_only["totals"]["errors"] == 0);
  CHECK(broker_only["drain"]["complete"] == true);
  CHECK(result["ratio_accepted"].get<double>() > 0);
}

}  // namespace
