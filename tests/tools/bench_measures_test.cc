// The benchmark's measuring parts that need no program running: a histogram of the broker's
// read from a /metrics text and its window between two scrapes (metrics_histogram.h), and
// the disk probe (disk_probe.h) on a real temporary directory, with its errors.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include <prometheus/histogram.h>

#include "metrics/program_metrics.h"
#include "tests/support/child_process.h"
#include "tools/bench/metrics_histogram.h"
#include "tools/bench/disk_probe.h"

namespace {

using aplus::bench::HistogramSnapshot;
using aplus::bench::HistogramWindow;
using aplus::bench::ParseHistogram;

// As prometheus-cpp writes it: count and sum, then the cumulative buckets, +Inf last.
std::string Scrape(uint64_t le_1ms, uint64_t le_5ms, uint64_t total, double sum) {
  return "# HELP aplus_commit_seconds One group commit: write and fsync.\n"
         "# TYPE aplus_commit_seconds histogram\n"
         "aplus_commit_seconds_count " + std::to_string(total) + "\n"
         "aplus_commit_seconds_sum " + std::to_string(sum) + "\n"
         "aplus_commit_seconds_bucket{le=\"0.001\"} " + std::to_string(le_1ms) + "\n"
         "aplus_commit_seconds_bucket{le=\"0.005\"} " + std::to_string(le_5ms) + "\n"
         "aplus_commit_seconds_bucket{le=\"+Inf\"} " + std::to_string(total) + "\n"
         "aplus_commit_seconds_other 3\n"
         "aplus_submit_durable_seconds_count 7\n";
}

TEST_CASE("a histogram is read from a /metrics text, and a text without it is an error") {
  auto parsed = ParseHistogram(Scrape(90, 99, 100, 0.05), "aplus_commit_seconds");
  REQUIRE(parsed.ok());
  CHECK(parsed->count == 100);
  CHECK(parsed->sum_seconds == doctest::Approx(0.05));
  REQUIRE(parsed->buckets.size() == 3);
  CHECK(parsed->buckets[0].first == doctest::Approx(0.001));
  CHECK(parsed->buckets[1].second == 99);

  CHECK(ParseHistogram("aplus_other_count 1\n", "aplus_commit_seconds").status().code() ==
        aplus::wire::INVALID_ARGUMENT);
  auto malformed = ParseHistogram("aplus_commit_seconds_count 1\naplus_commit_seconds_bucket{le=\"x\"} 1\n",
                                  "aplus_commit_seconds");
  CHECK(malformed.status().code() == aplus::wire::INVALID_ARGUMENT);
  CHECK(malformed.status().message().find("cannot read") != std::string::npos);
}

TEST_CASE("a histogram written by prometheus-cpp with the broker's buckets reads back") {
  aplus::ProgramMetrics program("aplus-broker", "test", 0);
  auto& histogram = prometheus::BuildHistogram()
                        .Name("aplus_commit_seconds")
                        .Help("One group commit.")
                        .Register(program.registry())
                        .Add({}, prometheus::Histogram::BucketBoundaries(aplus::LatencyBucketsSeconds()));
  auto before = ParseHistogram(program.Text(), "aplus_commit_seconds");
  for (double seconds : {0.00004, 0.0003, 0.0007, 0.0007, 0.004, 30.0}) histogram.Observe(seconds);
  auto after = ParseHistogram(program.Text(), "aplus_commit_seconds");
  REQUIRE(before.ok());
  REQUIRE(after.ok());
  CHECK(after->buckets.size() == aplus::LatencyBucketsSeconds().size() + 1);
  auto window = HistogramWindow(*before, *after);
  REQUIRE(window.ok());
  CHECK((*window)["count"] == 6);
  CHECK((*window)["p50_ms_at_most"].get<double>() == doctest::Approx(1.0));
  CHECK((*window)["p99_ms_at_most"] == "+Inf");
  CHECK((*window)["last_bound_ms"].get<double>() == doctest::Approx(10000.0));
  CHECK((*window)["share_over_ms"]["1"].get<double>() == doctest::Approx(2.0 / 6));
  CHECK((*window)["share_over_ms"]["0.1"].get<double>() == doctest::Approx(5.0 / 6));
}

TEST_CASE("the window between two scrapes: count, mean, percentiles by bucket, share over each bound") {
  auto before = ParseHistogram(Scrape(10, 10, 10, 0.002), "aplus_commit_seconds");
  // 1,000 more commits: 980 within 1 ms, 15 between 1 and 5 ms, 5 above 5 ms.
  auto after = ParseHistogram(Scrape(990, 1005, 1010, 1.002), "aplus_commit_seconds");
  REQUIRE(before.ok());
  REQUIRE(after.ok());
  auto window = HistogramWindow(*before, *after);
  REQUIRE(window.ok());
  CHECK((*window)["count"] == 1000);
  CHECK((*window)["mean_ms"].get<double>() == doctest::Approx(1.0));
  CHECK((*window)["p50_ms_at_most"].get<double>() == doctest::Approx(1.0));
  CHECK((*window)["p99_ms_at_most"].get<double>() == doctest::Approx(5.0));
  CHECK((*window)["p999_ms_at_most"] == "+Inf");
  CHECK((*window)["share_over_ms"]["1"].get<double>() == doctest::Approx(0.02));
  CHECK((*window)["share_over_ms"]["5"].get<double>() == doctest::Approx(0.005));
  CHECK((*window)["last_bound_ms"].get<double>() == doctest::Approx(5.0));

  // Nothing in the window: no percentile.
  auto empty = HistogramWindow(*after, *after);
  REQUIRE(empty.ok());
  CHECK((*empty)["count"] == 0);
  CHECK((*empty)["p99_ms_at_most"].is_null());

  // Snapshots the wrong way round, or of different histograms.
  CHECK(HistogramWindow(*after, *before).status().code() == aplus::wire::INVALID_ARGUMENT);
  HistogramSnapshot other = *after;
  other.buckets.pop_back();
  CHECK(HistogramWindow(*before, other).status().code() == aplus::wire::INVALID_ARGUMENT);
}

TEST_CASE("the disk probe times every record from its due instant and leaves no file behind") {
  aplus::testing::TempDir dir("disk-probe");
  aplus::bench::DiskProbeOptions options;
  options.directory = dir.path();
  options.rate = 500;
  options.seconds = 0.2;
  auto probe = aplus::bench::ProbeDisk(options);
  REQUIRE(probe.ok());
  CHECK(probe->append_sync.count == 100);
  CHECK(probe->syncs >= 1);
  CHECK(probe->syncs <= 100);
  CHECK(probe->append_sync.p50_ms > 0);
  CHECK(probe->sync_ms_total > 0);
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("the disk probe's errors are values: a directory that does not exist, a rate of zero") {
  aplus::testing::TempDir dir("disk-probe");
  aplus::bench::DiskProbeOptions options;
  options.directory = dir.Sub("missing");
  options.seconds = 0.1;
  auto missing = aplus::bench::ProbeDisk(options);
  CHECK(missing.status().code() == aplus::wire::INTERNAL);
  CHECK(missing.status().message().find(dir.Sub("missing")) != std::string::npos);

  options.directory = dir.path();
  options.rate = 0;
  CHECK(aplus::bench::ProbeDisk(options).status().code() == aplus::wire::INVALID_ARGUMENT);
  options.rate = 1e9;
  options.seconds = 100;
  CHECK(aplus::bench::ProbeDisk(options).status().code() == aplus::wire::INVALID_ARGUMENT);
  CHECK(std::filesystem::is_empty(dir.path()));
}

}  // namespace
