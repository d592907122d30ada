// Settings of one aplus-peer-bench run, fixed by the command line before anything starts, and
// their parsing (kept apart from main() so that the unit test can check it without servers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace aplus::bench::peers {

enum class PeerKind { kRabbitMq, kNats };
enum class PeerMode { kThroughput, kLatency, kTable };

struct PeerBenchOptions {
  PeerMode mode = PeerMode::kThroughput;
  PeerKind peer = PeerKind::kRabbitMq;
  // amqp://HOST:PORT (RabbitMQ, guest/guest on "/") or nats://HOST:PORT.
  std::string url;
  // The pinned workload of issue 11 (defaults): 100,000 persistent 1 KB messages, at most 1,000
  // unconfirmed on the publisher, prefetch (MaxAckPending) 1,000 on the consumer.
  uint64_t messages = 100000;  // throughput: messages published and consumed
  double rate = 1000;          // latency: offered messages per second (open loop)
  double seconds = 10;         // latency: measured window
  double warmup_seconds = 1;   // latency: sent before the window, not sampled
  size_t message_bytes = 1024;
  uint32_t max_unconfirmed = 1000;
  uint32_t prefetch = 1000;
  // Every wait (connect, setup, the last confirm, the last delivery) ends by this deadline; a
  // peer that does not answer in time is a typed error and a non-zero exit.
  double timeout_seconds = 60;
  int server_pid = 0;  // the peer server's pid: its CPU per message from /proc
  // The server was configured to fsync before acknowledging (NATS 2.10+: jetstream
  // { sync_interval: always }; nats-server 2.9 has no such setting): labels the result only.
  bool server_syncs = false;
  bool json = false;
  std::vector<std::string> table_files;  // table: JSON results of both tools, any order

  // Messages the run publishes: --messages (throughput) or rate x (warm-up + window).
  uint64_t PlannedMessages() const;
};

// What parsing produced: options to run, or text to print and an exit code (--help: 0).
struct ParsedCommandLine {
  PeerBenchOptions options;
  bool exit_now = false;
  int exit_code = 0;
  std::string text;  // help or error, when exit_now
};

// Parses `args` (args[0] is the program name). A bad value or a missing --url is
// ParsedCommandLine{exit_now, exit_code 2 (CLI11's code for it, non-zero), text}.
ParsedCommandLine ParsePeerBenchCommandLine(const std::vector<std::string>& args);

// "rabbitmq" / "nats".
std::string PeerKindName(PeerKind kind);

}  // namespace aplus::bench::peers
