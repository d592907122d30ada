// aplus-peer-bench: the workload of aplus-bench on the brokers A+ is compared with (RabbitMQ
// quorum queue, NATS JetStream file store), and the side-by-side table of the results of both
// tools. tools/bench/peers/compare.sh starts the servers and runs everything; the command and
// the last output are in docs/BENCHMARKS.md.
#include <fstream>
#include <iostream>
#include <memory>

#include "tools/bench/peers/comparison_table.h"
#include "tools/bench/peers/nats_client.h"
#include "tools/bench/peers/peer_bench_options.h"
#include "tools/bench/peers/peer_run.h"
#include "tools/bench/peers/rabbitmq_client.h"

namespace {

using namespace aplus::bench::peers;

int PrintTable(const PeerBenchOptions& options) {
  std::vector<nlohmann::json> results;
  for (const std::string& path : options.table_files) {
    std::ifstream in(path);
    nlohmann::json result = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (result.is_discarded()) {
      std::cerr << "aplus-peer-bench: " << path << " is not JSON" << std::endl;
      return 1;
    }
    results.push_back(std::move(result));
  }
  auto rows = RowsFromResults(results);
  if (!rows.ok()) {
    std::cerr << "aplus-peer-bench: " << rows.status().message() << std::endl;
    return 1;
  }
  std::cout << ComparisonTable(*rows);
  return 0;
}

int RunPeer(const PeerBenchOptions& options) {
  RunRecord record;  // outlives the client: its callbacks write here until it is torn down
  std::unique_ptr<PeerClient> client;
  if (options.peer == PeerKind::kRabbitMq) {
    client = std::make_unique<RabbitMqClient>(options);
  } else {
    client = std::make_unique<NatsClient>(options);
  }
  aplus::Status setup = client->Setup();
  if (!setup.ok()) {
    std::cerr << "aplus-peer-bench: " << PeerKindName(options.peer)
              << " setup failed: " << setup.ToString() << std::endl;
    client->Teardown();
    return 1;
  }
  record.Plan(options.PlannedMessages());
  std::optional<OpenLoopSchedule> schedule;
  if (options.mode == PeerMode::kLatency) {
    int64_t start = SteadyNowNs() + 20'000'000;
    schedule.emplace(start, options.rate);
    record.window_start_ns = start + static_cast<int64_t>(options.warmup_seconds * 1e9);
    record.window_end_ns = record.window_start_ns + static_cast<int64_t>(options.seconds * 1e9);
  }
  CpuWindow cpu(options.server_pid);
  cpu.Start();
  aplus::Status ran = client->Run(schedule, record);
  nlohmann::json cpu_json = cpu.Finish(record.consumed.load());
  client->Teardown();
  nlohmann::json result = RunResultJson(options, record, cpu_json, client->SetupJson());
  if (!ran.ok()) result["failure"] = ran.ToString();
  if (options.json) {
    std::cout << result.dump(2) << std::endl;
  } else {
    std::cout << RunResultText(result);
  }
  if (!ran.ok()) {
    std::cerr << "aplus-peer-bench: " << PeerKindName(options.peer) << ": " << ran.ToString()
              << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ParsedCommandLine parsed = ParsePeerBenchCommandLine(std::vector<std::string>(argv, argv + argc));
  if (parsed.exit_now) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.text;
    return parsed.exit_code;
  }
  if (parsed.options.mode == PeerMode::kTable) return PrintTable(parsed.options);
  return RunPeer(parsed.options);
}
