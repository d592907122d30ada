#include "metrics/program_metrics.h"
#include "tests/support/prometheus_text.h"

#include <doctest/doctest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace aplus {
namespace {

}  // namespace

TEST_CASE("every program's metrics carry its start time and build, in the text format") {
  ProgramMetrics metrics("aplus-broker", "0.1.0", 1'796'335'140'250);
  std::string text = metrics.Text();
  INFO(text);
  CHECK(text.find("process_start_time_seconds 1796335140.25") != std::string::npos);
  CHECK(text.find("aplus_build_info{program=\"aplus-broker\",version=\"0.1.0\"} 1") !=
        std::string::npos);
}

TEST_CASE("promtool accepts the exposition of counters, gauges and histograms" *
          doctest::timeout(60)) {
  ProgramMetrics metrics("aplus-broker", "0.1.0", 1'796'335'140'000);
  auto& submitted = prometheus::BuildCounter()
                        .Name("aplus_escalations_submitted_total")
                        .Help("Escalations accepted durably by the broker.")
                        .Register(metrics.registry());
  submitted.Add({{"partner", "caf"}}).Increment(3);
  auto& durable = prometheus::BuildHistogram()
                      .Name("aplus_submit_durable_seconds")
                      .Help("From a submission's receipt to its Accepted answer.")
                      .Register(metrics.registry());
  durable.Add({}, LatencyBucketsSeconds()).Observe(0.0012);
  auto [code, output] = PromtoolCheck(metrics.Text());
  INFO(output);
  CHECK(code == 0);
}

TEST_CASE("promtool is a real check: it refuses a counter without _total") {
  auto [code, output] = PromtoolCheck(
      "# HELP aplus_bad Not a counter name.\n# TYPE aplus_bad counter\naplus_bad 1\n");
  INFO(output);
  CHECK(code != 0);
}

}  // namespace aplus
