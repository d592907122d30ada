// `aplus-bench --mode pair` end to end for about a second per measurement: three etcd members,
// two brokers as a pair, the throughput and latency runners against the leader, then both on a
// fresh single broker. Checks that it ran and counted (answers, deliveries, the leader paired,
// the ratio computed) and that no process of the run outlives it. No speed is asserted (2
// loaded cores under ctest -j2). Skipped when /usr/bin/etcd is missing.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/child_process.h"
#include "tests/support/etcd_cluster.h"

namespace {

using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool ProcessGone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

void CheckCounted(const json& run) {
  CHECK(run["totals"]["accepted"].get<uint64_t>() > 0);
  CHECK(run["totals"]["errors"] == 0);
  CHECK(run["totals"]["unanswered"] == 0);
  CHECK(run["drain"]["complete"] == true);
  CHECK(run["cpu"].contains("broker_cores"));
}

TEST_CASE("aplus-bench --mode pair measures a pair, then a single broker, and stops everything" *
          doctest::timeout(240)) {
  if (!aplus::testing::EtcdCluster::Available()) {
    MESSAGE(std::string(aplus::testing::EtcdCluster::kMissing));
    return;
  }
  aplus::testing::TempDir dir("bench-pair");
  std::string log = dir.Sub("bench.log");
  // `timeout` bounds the child whatever happens; the bench's own waits are bounded too.
  std::string command = "timeout -k 5 200 " + aplus::testing::BinPath("aplus-bench") +
                        " --mode pair --seconds 1 --warmup 0.3 --rate 200 --pipeline 8"
                        " --drain-seconds 60 --json --data-dir " + dir.Sub("data") + " 2>" + log;
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
  CHECK(result["mode"] == "pair");

  const json& setup = result["setup"];
  CHECK(setup["etcd_members"] == 3);
  CHECK(setup["leader"]["node"] != setup["standby"]["node"]);

  const json& pair_throughput = result["pair_throughput"];
  CHECK(pair_throughput["mode"] == "throughput");
  CheckCounted(pair_throughput);
  // Measured against a leader whose standby was named synchronous: every Accepted waited for
  // the standby's copy.
  CHECK(pair_throughput["broker_stats"]["pair"]["state"] == "paired");
  CHECK(pair_throughput["broker_stats"]["pair"]["standby"] == setup["standby"]["node"]);
  for (const char* program : {"standby", "etcd_m0", "etcd_m1", "etcd_m2"}) {
    INFO(program);
    CHECK(pair_throughput["cpu"]["programs"].contains(program));
  }
  const json& pair_latency = result["pair_latency"];
  CHECK(pair_latency["mode"] == "latency");
  CHECK(pair_latency["rate"] == 200.0);
  CheckCounted(pair_latency);
  CHECK(pair_latency["submit_to_accepted"]["samples"].get<uint64_t>() > 0);

  CheckCounted(result["single_throughput"]);
  CheckCounted(result["single_latency"]);
  CHECK_FALSE(result["single_throughput"]["broker_stats"].contains("pair"));
  for (const char* run : {"pair_latency", "single_latency"}) {
    INFO(run);
    // The broker's own group commits in the window, from its /metrics: at least one per turn
    // that answered a submission.
    const json& commits = result[run]["broker_commits"];
    REQUIRE_FALSE(commits.contains("error"));
    CHECK(commits["count"].get<uint64_t>() > 0);
    CHECK(commits["mean_ms"].get<double>() > 0);
    CHECK_FALSE(commits["p99_ms_at_most"].is_null());
    CHECK(commits["share_over_ms"].contains("1"));
    // And each submission's receipt->Accepted inside the broker, one per accepted submission.
    const json& inside = result[run]["broker_submit_durable"];
    REQUIRE_FALSE(inside.contains("error"));
    CHECK(inside["count"].get<uint64_t>() > 0);
    CHECK(inside["count"].get<uint64_t>() <= result[run]["totals"]["accepted"].get<uint64_t>());
    // Then the disk alone on the same file system: records due at the same rate for as long as
    // the window, appended and fdatasync'ed in groups, each timed.
    const json& probe = result[run]["disk_probe"];
    REQUIRE_FALSE(probe.contains("error"));
    CHECK(probe["rate"] == 200.0);
    CHECK(probe["append_sync"]["samples"] == 200);
    CHECK(probe["append_sync"]["p50_ms"].get<double>() > 0);
    CHECK(probe["append_sync"]["p99_ms"].get<double>() >= probe["append_sync"]["p50_ms"].get<double>());
    CHECK(probe["syncs"].get<uint64_t>() > 0);
    CHECK(probe["syncs"].get<uint64_t>() <= 200);
    CHECK(probe["sync_ms_total"].get<double>() > 0);
    CHECK_FALSE(probe["filesystem"].get<std::string>().empty());
  }
  // The probe's file is gone (the data directory is kept: --data-dir).
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.Sub("data"))) {
    INFO(entry.path());
    CHECK(entry.path().filename().string().rfind("disk-probe.", 0) == std::string::npos);
  }
  CHECK(result["ratio_accepted"].get<double>() > 0);
  CHECK(result["targets"].contains("ratio_met"));
  CHECK(result["targets"].contains("p99_met"));

  // Every program stopped cleanly, and none outlives the run.
  for (auto& [program, exit_status] : result["exit_status"].items()) {
    INFO(program);
    CHECK(exit_status == 0);
  }
  CHECK(result["exit_status"].contains("leader"));
  CHECK(result["exit_status"].contains("standby"));
  CHECK(result["exit_status"].contains("single"));
  std::vector<pid_t> pids = {setup["leader"]["pid"].get<pid_t>(),
                             setup["standby"]["pid"].get<pid_t>(),
                             result["single_throughput"]["broker"]["pid"].get<pid_t>()};
  for (auto& [name, program] : pair_throughput["cpu"]["programs"].items()) {
    pids.push_back(program["pid"].get<pid_t>());
  }
  for (pid_t pid : pids) {
    INFO("pid " << pid);
    CHECK(ProcessGone(pid));
  }
}

}  // namespace
