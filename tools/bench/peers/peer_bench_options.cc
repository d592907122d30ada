#include "tools/bench/peers/peer_bench_options.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <map>
#include <sstream>

namespace aplus::bench::peers {

uint64_t PeerBenchOptions::PlannedMessages() const {
  if (mode != PeerMode::kLatency) return messages;
  return static_cast<uint64_t>(std::llround(rate * (warmup_seconds + seconds)));
}

std::string PeerKindName(PeerKind kind) {
  return kind == PeerKind::kRabbitMq ? "rabbitmq" : "nats";
}

ParsedCommandLine ParsePeerBenchCommandLine(const std::vector<std::string>& args) {
  ParsedCommandLine parsed;
  PeerBenchOptions& options = parsed.options;
  CLI::App app{
      "aplus-peer-bench: the workload of aplus-bench on RabbitMQ (quorum queue) and NATS "
      "JetStream (file-storage work-queue stream): one publisher with at most --max-unconfirmed "
      "messages unconfirmed, one consumer on its own connection with prefetch --prefetch "
      "acknowledging every message. `table FILE...` prints the side-by-side table of the JSON "
      "results of both tools (tools/bench/peers/compare.sh runs everything)."};
  app.name("aplus-peer-bench");
  app.require_subcommand(1, 1);
  const std::map<std::string, PeerKind> kinds = {{"rabbitmq", PeerKind::kRabbitMq},
                                                 {"nats", PeerKind::kNats}};
  PeerKind peer = PeerKind::kRabbitMq;
  auto add_run_options = [&](CLI::App* sub) {
    sub->add_option("--peer", peer, "rabbitmq or nats")
        ->required()
        ->transform(CLI::CheckedTransformer(kinds, CLI::ignore_case));
    sub->add_option("--url", options.url, "amqp://HOST:PORT or nats://HOST:PORT")->required();
    sub->add_option("--bytes", options.message_bytes, "message size (default 1024)")
        ->check(CLI::Range(16, 1 << 20));
    sub->add_option("--max-unconfirmed", options.max_unconfirmed,
                    "publisher: messages sent and not confirmed, at most (default 1000)")
        ->check(CLI::Range(1, 1000000));
    sub->add_option("--prefetch", options.prefetch,
                    "consumer: basic.qos prefetch / MaxAckPending (default 1000)")
        ->check(CLI::Range(1, 65535));
    sub->add_option("--timeout", options.timeout_seconds,
                    "deadline of every wait, in seconds (default 60)")
        ->check(CLI::Range(0.1, 3600.0));
    sub->add_option("--server-pid", options.server_pid,
                    "pid of the peer server, for its CPU per message (/proc)")
        ->check(CLI::PositiveNumber);
    sub->add_flag("--server-syncs", options.server_syncs,
                  "nats: the server fsyncs before the ack (sync_interval: always, NATS 2.10+); "
                  "labels the result, a row of its own in the table");
    sub->add_flag("--json", options.json, "print one JSON object instead of the text summary");
  };
  CLI::App* throughput = app.add_subcommand(
      "throughput", "closed loop: --messages published as fast as confirms allow");
  add_run_options(throughput);
  throughput->add_option("--messages", options.messages, "messages (default 100000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  CLI::App* latency = app.add_subcommand(
      "latency",
      "open loop at --rate for --seconds: publish->confirm and publish->consumed "
      "from the scheduled send time (no coordinated omission)");
  add_run_options(latency);
  latency->add_option("--rate", options.rate, "messages per second (default 1000)")
      ->check(CLI::Range(1.0, 1e6));
  latency->add_option("--seconds", options.seconds, "measured window (default 10)")
      ->check(CLI::Range(0.1, 3600.0));
  latency->add_option("--warmup", options.warmup_seconds, "warm-up, not sampled (default 1)")
      ->check(CLI::Range(0.0, 600.0));
  CLI::App* table =
      app.add_subcommand("table",
                         "the side-by-side table of JSON results (aplus-bench --json and "
                         "aplus-peer-bench --json), with the ratios of A+ to each peer");
  table->add_option("files", options.table_files, "JSON files")
      ->required()
      ->check(CLI::ExistingFile);

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  if (!reversed.empty()) reversed.pop_back();  // the program name
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    parsed.exit_code = app.exit(e, out, err);
    parsed.exit_now = true;
    parsed.text = out.str() + err.str();
    return parsed;
  }
  options.peer = peer;
  if (throughput->parsed()) options.mode = PeerMode::kThroughput;
  if (latency->parsed()) options.mode = PeerMode::kLatency;
  if (table->parsed()) options.mode = PeerMode::kTable;
  return parsed;
}

}  // namespace aplus::bench::peers
