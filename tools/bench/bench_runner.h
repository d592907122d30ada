// The three benchmark modes, end to end: set up a broker (started here, or one already
// running), drive it with a LoadGenerator, and report what was measured, as text or one JSON
// object. Every figure comes from answers actually received or from /proc; errors are counted
// and printed, never dropped.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "common/network_config.h"
#include "common/status.h"
#include "tools/bench/bench_options.h"
#include "tools/bench/broker_process.h"
#include "tools/bench/load_generator.h"

namespace aplus::bench {

// Thread rules: main thread only.
class BenchRunner {
 public:
  BenchRunner(BenchOptions options, NetworkConfig config);
  ~BenchRunner();

  // Runs the selected mode; returns the process exit code (0 = ran to the end, whatever the
  // figures; 1 = could not run).
  int Run();

 private:
  Status SetUpBroker();
  Result<nlohmann::json> RunThroughput();
  Result<nlohmann::json> RunLatency();
  Result<nlohmann::json> RunRestart();

  std::unique_ptr<LoadGenerator> MakeGenerator(bool open_loop);
  // Waits until every submit is answered and every accepted escalation delivered and acked,
  // then flushes; returns the totals then (and whether the drain completed).
  nlohmann::json Drain(LoadGenerator& generator, bool* complete);
  nlohmann::json BrokerStats();
  nlohmann::json BrokerSetupJson();
  pid_t broker_pid() const;
  void Progress(const std::string& line) const;

  BenchOptions options_;
  NetworkConfig config_;
  zmq::context_t context_{1};
  std::string work_dir_;  // our temp dir (started broker only)
  std::string endpoint_;
  std::unique_ptr<BrokerProcess> broker_;
};

// Counts and per-code errors of `totals` as JSON.
nlohmann::json TotalsJson(const LoadTotals& totals);

}  // namespace aplus::bench
