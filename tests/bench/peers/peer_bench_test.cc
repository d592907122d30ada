// aplus-peer-bench without servers: its command line, the payload stamp, the open-loop
// schedule, the run record's rates and windows, and the side-by-side table with its ratios.
#include <doctest/doctest.h>

#include "tools/bench/peers/comparison_table.h"
#include "tools/bench/peers/peer_bench_options.h"
#include "tools/bench/peers/peer_run.h"

using namespace aplus::bench::peers;
using nlohmann::json;

namespace {

ParsedCommandLine Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "aplus-peer-bench");
  return ParsePeerBenchCommandLine(args);
}

json PeerResult(const std::string& peer, const std::string& mode, double rate_or_throughput,
                double p50 = 0, double p99 = 0, uint64_t errors = 0) {
  json result = {{"tool", "aplus-peer-bench"},
                 {"peer", peer},
                 {"mode", mode},
                 {"error_count", errors},
                 {"setup", {{"durability", peer + " durability"}}},
                 {"cpu", {{"server_us_per_message", 50.0}, {"other_processes_cores", 0.25}}}};
  if (mode == "throughput") {
    result["end_to_end_per_second"] = rate_or_throughput;
  } else {
    result["rate"] = rate_or_throughput;
    result["publish_to_confirm"] = {{"p50_ms", p50}, {"p99_ms", p99}};
  }
  return result;
}

}  // namespace

TEST_CASE("the pinned workload of issue 11 is the default") {
  ParsedCommandLine parsed =
      Parse({"throughput", "--peer", "rabbitmq", "--url", "amqp://127.0.0.1:5"});
  REQUIRE_FALSE(parsed.exit_now);
  CHECK(parsed.options.mode == PeerMode::kThroughput);
  CHECK(parsed.options.peer == PeerKind::kRabbitMq);
  CHECK(parsed.options.messages == 100000);
  CHECK(parsed.options.message_bytes == 1024);
  CHECK(parsed.options.max_unconfirmed == 1000);
  CHECK(parsed.options.prefetch == 1000);
  CHECK(parsed.options.PlannedMessages() == 100000);
}

TEST_CASE("latency plans rate x (warm-up + window) messages") {
  ParsedCommandLine parsed = Parse({"latency", "--peer", "NATS", "--url", "nats://127.0.0.1:4",
                                    "--rate", "5000", "--seconds", "10", "--warmup", "1"});
  REQUIRE_FALSE(parsed.exit_now);
  CHECK(parsed.options.mode == PeerMode::kLatency);
  CHECK(parsed.options.peer == PeerKind::kNats);
  CHECK(parsed.options.PlannedMessages() == 55000);
}

TEST_CASE("bad command lines end with a non-zero code and say why") {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{},
        {"throughput", "--url", "amqp://x:1"},
        {"throughput", "--peer", "kafka", "--url", "x"},
        {"throughput", "--peer", "nats"},
        {"latency", "--peer", "nats", "--url", "x", "--rate", "0"},
        {"throughput", "--peer", "nats", "--url", "x", "--bytes", "8"},
        {"table"}}) {
    CAPTURE(args.size());
    ParsedCommandLine parsed = Parse(args);
    CHECK(parsed.exit_now);
    CHECK(parsed.exit_code != 0);
    CHECK_FALSE(parsed.text.empty());
  }
  ParsedCommandLine help = Parse({"--help"});
  CHECK(help.exit_now);
  CHECK(help.exit_code == 0);
  CHECK(help.text.find("throughput") != std::string::npos);
}

TEST_CASE("the stamp survives the payload") {
  std::string payload(1024, 'x');
  WriteStamp(payload, 123456789012345ull, -5);
  CHECK(payload.size() == 1024);
  uint64_t serial = 0;
  int64_t stamp = 0;
  REQUIRE(ReadStamp(payload.data(), payload.size(), &serial, &stamp));
  CHECK(serial == 123456789012345ull);
  CHECK(stamp == -5);
  CHECK_FALSE(ReadStamp(payload.data(), 15, &serial, &stamp));
  CHECK_FALSE(ReadStamp(nullptr, 0, &serial, &stamp));
}

TEST_CASE("the open loop is evenly spaced from its start, whatever happened before") {
  OpenLoopSchedule schedule(1'000'000'000, 4000);
  CHECK(schedule.DueNs(0) == 1'000'000'000);
  CHECK(schedule.DueNs(1) == 1'000'250'000);
  CHECK(schedule.DueNs(4000) == 2'000'000'000);
}

TEST_CASE("a run's rates run from the first publish to the last ack; samples only in the window") {
  PeerBenchOptions options;
  options.messages = 3;
  RunRecord record;
  record.Plan(3);
  record.window_start_ns = 100;
  record.window_end_ns = 1000;
  record.first_publish_ns = 0;
  record.published = 3;
  record.OnConfirmed(50, 400'000'000);  // before the window: counted, not sampled
  record.OnConfirmed(200, 500'000'000);
  record.OnConsumed(0, 200, 1'000'000'000, false);
  record.OnConsumed(1, 300, 1'500'000'000, true);   // redelivery: counted, not sampled
  record.OnConsumed(1, 300, 1'600'000'000, true);   // twice: a duplicate, not consumed again
  record.OnConsumed(7, 300, 1'700'000'000, false);  // never published: an error
  record.errors.Add("publish_nack", "the first one");
  record.errors.Add("publish_nack", "the second one");
  json result = RunResultJson(options, record, json::object(), json::object());
  CHECK(result["confirmed"] == 2);
  CHECK(result["consumed"] == 2);
  CHECK(result["redelivered"] == 2);
  CHECK(result["duplicates"] == 1);
  CHECK(result["error_count"] == 3);
  CHECK(result["errors"]["publish_nack"] == 2);
  CHECK(result["errors"]["consume_foreign_message"] == 1);
  CHECK(result["errors"]["first_details"]["publish_nack"] == "the first one");
  CHECK(result["publish_to_confirm"]["samples"] == 1);
  CHECK(result["publish_to_consumed"]["samples"] == 1);
  CHECK(result["end_to_end_per_second"].get<double>() == doctest::Approx(2 / 1.5));
  CHECK(result["publish_confirm_per_second"].get<double>() == doctest::Approx(2 / 0.5));
}

TEST_CASE("the table has a row per system, A+ last, and A+'s ratios to each peer") {
  json aplus_throughput = {
      {"mode", "throughput"},
      {"acked_per_second", 30000.0},
      {"totals", {{"errors", 0}}},
      {"cpu", {{"broker_us_per_escalation", 25.0}, {"other_processes_cores", 0.5}}}};
  json aplus_latency = {{"mode", "latency"},
                        {"rate", 1000.0},
                        {"submit_to_accepted", {{"p50_ms", 0.5}, {"p99_ms", 0.9}}},
                        {"totals", {{"errors", 0}}}};
  json rabbitmq_latency = PeerResult("rabbitmq", "latency", 1000, 1.0, 3.6, 2);
  rabbitmq_latency["duplicates"] = 4;
  auto rows = RowsFromResults({aplus_throughput, PeerResult("nats", "throughput", 20000),
                               PeerResult("rabbitmq", "throughput", 10000), rabbitmq_latency,
                               aplus_latency, PeerResult("nats", "latency", 5000, 0.3, 1.7)});
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 3);
  CHECK((*rows)[0].key == "rabbitmq");
  CHECK((*rows)[1].key == "nats");
  CHECK((*rows)[2].key == "aplus");
  CHECK((*rows)[0].errors == 2);
  std::string table = ComparisonTable(*rows);
  CAPTURE(table);
  CHECK(table.find("| same run | end-to-end msg/s | at 1,000/s p50 / p99 ms | at 5,000/s p50 / "
                   "p99 ms |") != std::string::npos);
  CHECK(table.find("| RabbitMQ quorum queue | 10.0k | 1.00 / 3.60 | — | 50 | 0.25 |") !=
        std::string::npos);
  CHECK(table.find("| NATS JetStream (file) | 20.0k | — | 0.30 / 1.70 | 50 | 0.25 |") !=
        std::string::npos);
  CHECK(table.find("| A+ (aplus-bench) | 30.0k | 0.50 / 0.90 | — | 25 | 0.50 |") !=
        std::string::npos);
  CHECK(table.find("| **A+ / RabbitMQ quorum queue** | 3.00× | 0.50× / 0.25× | — | 0.50× | |") !=
        std::string::npos);
  CHECK(table.find("| **A+ / NATS JetStream (file)** | 1.50× | — | — | 0.50× | |") !=
        std::string::npos);
  CHECK(table.find("ERRORS: 2; duplicate deliveries: 4") != std::string::npos);
}

TEST_CASE("a NATS server set to sync before the ack is a row of its own") {
  json synced = PeerResult("nats", "throughput", 5000);
  synced["server_syncs"] = true;
  auto rows = RowsFromResults({PeerResult("nats", "throughput", 20000), synced});
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK((*rows)[0].key == "nats");
  CHECK((*rows)[1].key == "nats-synced");
  CHECK(*(*rows)[1].end_to_end_per_second == 5000);
  ParsedCommandLine parsed =
      Parse({"throughput", "--peer", "nats", "--url", "x", "--server-syncs"});
  REQUIRE_FALSE(parsed.exit_now);
  CHECK(parsed.options.server_syncs);
}

TEST_CASE("a result neither tool prints is refused") {
  CHECK_FALSE(RowsFromResults({json{{"hello", 1}}}).ok());
  CHECK_FALSE(RowsFromResults({PeerResult("kafka", "throughput", 1)}).ok());
  CHECK_FALSE(RowsFromResults({json{{"mode", "restart"}}}).ok());
}
