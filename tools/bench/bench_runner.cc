#include "tools/bench/bench_runner.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/progress_line.h"
#include "common/clock.h"
#include "common/endpoint_list.h"
#include "common/sync_client.h"
#include "common/token_store.h"
#include "common/wire.h"
#include "tools/bench/child_program.h"
#include "tools/bench/cpu_meter.h"
#include "tools/bench/disk_probe.h"
#include "tools/bench/keep_alive_client.h"
#include "tools/bench/http_load.h"
#include "tools/bench/latency_summary.h"
#include "tools/bench/metrics_histogram.h"
#include "tools/bench/proc_stats.h"

namespace aplus::bench {
namespace {

using nlohmann::json;

constexpr int kConnectTimeoutMs = 15000;
// The disk probe after a latency window runs as long as the window, at most this long.
constexpr double kDiskProbeMaxSeconds = 5;
// The broker's histograms read around a latency window, and their names in the result: its
// group commits (RocksDB write, WAL and memtable, then fdatasync), and each submission's
// receipt->Accepted inside the broker.
constexpr std::pair<const char*, const char*> kWindowHistograms[] = {
    {"aplus_commit_seconds", "broker_commits"},
    {"aplus_submit_durable_seconds", "broker_submit_durable"}};

std::string Fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

// 1234567 -> "1,234,567"
std::string Grouped(double value) {
  std::string digits = std::to_string(static_cast<long long>(std::llround(value)));
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++count;
  }
  return out;
}

std::string ErrorsText(const json& counts) {
  std::string text = Grouped(counts["errors"].get<double>());
  if (!counts["errors_by_code"].empty()) {
    text += " (";
    bool first = true;
    for (auto& [code, n] : counts["errors_by_code"].items()) {
      text += (first ? "" : ", ") + code + " " + Grouped(n.get<double>());
      first = false;
    }
    text += ")";
  }
  return text;
}

// "<label>: memtables .. MB, indexes and filters .. MB, block cache .. MB\n", or "" when the
// broker did not say (an older binary).
std::string StoreMemoryText(const std::string& label, const json& stats) {
  if (!stats.is_object() || !stats.contains("store_memory_mb")) return "";
  const json& memory = stats["store_memory_mb"];
  return label + ": memtables " + Fixed(memory["memtables"], 1) + " MB, indexes and filters " +
         Fixed(memory["table_readers"], 1) + " MB, block cache " +
         Fixed(memory["block_cache"], 1) + " MB\n";
}

std::string StatsText(const json& stats) {
  if (!stats.contains("cases_by_state")) return "unavailable";
  std::string text = "cases";
  for (auto& [state, n] : stats["cases_by_state"].items()) {
    text += " " + state + "=" + Grouped(n.get<double>());
  }
  text += "; queued " + Grouped(stats["queued"].get<double>()) + ", in flight " +
          Grouped(stats["in_flight"].get<double>()) + ", dead-lettered " +
          Grouped(stats["dead_lettered"].get<double>()) + "; " +
          Grouped(stats["batches_committed"].get<double>()) + " group commits, " +
          Fixed(stats["messages_per_commit"].get<double>(), 1) + " messages per commit; " +
          Grouped(stats["errors_answered"].get<double>()) + " errors answered";
  if (stats.contains("pair")) {
    const json& pair = stats["pair"];
    text += "; pair: node " + pair["node"].get<std::string>() + " leads (epoch " +
            std::to_string(pair["epoch"].get<int64_t>()) + "), " +
            pair["mode"].get<std::string>() + ", " + pair["state"].get<std::string>() +
            ", standby " + pair["standby"].get<std::string>() + " applied sequence " +
            Grouped(pair["standby_applied_sequence"].get<double>()) + " of " +
            Grouped(pair["committed_sequence"].get<double>());
  }
  return text;
}

// "p50 0.61 ms  p99 1.84 ms ..." from a LatencySummary's JSON.
std::string LatencyText(const json& j) {
  return LatencySummary{j["samples"], j["p50_ms"], j["p90_ms"], j["p99_ms"],
                        j["p999_ms"], j["max_ms"], j["mean_ms"]}
      .ToString();
}

// "<label>: 4,921, mean 0.42 ms; p50 <= 0.50 ms ..." from a window of a broker histogram
// (RunLatency's "broker_commits", "broker_submit_durable").
std::string HistogramText(const std::string& label, const json& window) {
  if (window.contains("error")) return label + ": not read: " + window["error"].get<std::string>();
  auto at_most = [&](const json& bound) {
    if (bound.is_null()) return std::string("-");
    if (bound.is_number()) return "<= " + Fixed(bound.get<double>(), 2) + " ms";
    return "> " + Fixed(window["last_bound_ms"].get<double>(), 0) + " ms";
  };
  std::string text = label + ": " + Grouped(window["count"]) + ", mean " + Fixed(window["mean_ms"], 3) +
                     " ms; p50 " + at_most(window["p50_ms_at_most"]) + ", p99 " +
                     at_most(window["p99_ms_at_most"]) + ", p99.9 " +
                     at_most(window["p999_ms_at_most"]);
  const json& over = window["share_over_ms"];
  for (const char* bound : {"1", "2.5", "5", "10"}) {
    if (over.contains(bound)) text += "; over " + std::string(bound) + " ms " + Fixed(over[bound].get<double>() * 100, 2) + " %";
  }
  return text;
}

// "disk alone ..." from RunLatency's "disk_probe".
std::string DiskProbeText(const json& probe) {
  std::string text = "disk alone        ";
  if (probe.contains("error")) return text + "not measured: " + probe["error"].get<std::string>();
  return text + LatencyText(probe["append_sync"]) + "\n    (after the window, another moment of the disk: " +
         std::to_string(probe["record_bytes"].get<size_t>()) + "-byte records due at " +
         Grouped(probe["rate"]) + "/s for " + Fixed(probe["seconds"], 1) +
         " s, appended and fdatasync'ed in groups as they fall due, in " +
         probe["directory"].get<std::string>() + " on " + probe["filesystem"].get<std::string>() +
         "; " + Grouped(probe["syncs"]) + " syncs" +
         (probe["preallocated"].get<bool>() ? "" : "; not preallocated") + ")";
}

// `unit`: what the broker's CPU is counted per ("escalation", or "alert" in sla-catchup).
std::string CpuText(const json& cpu, const std::string& unit = "escalation") {
  std::string text;
  if (cpu.contains("broker_cores")) {
    text += "broker " + Fixed(cpu["broker_us_per_escalation"], 1) + " us CPU per " + unit + " (" +
            Fixed(cpu["broker_cores"], 2) + " cores), ";
  }
  if (cpu.contains("programs")) {
    for (auto& [name, program] : cpu["programs"].items()) {
      text += name + " " + Fixed(program["us_per_escalation"], 1) + " us (" +
              Fixed(program["cores"], 2) + " cores), ";
    }
  }
  text += "bench " + Fixed(cpu["bench_cores"], 2) + " cores";
  if (cpu.contains("other_processes_cores")) {
    text += ", other processes " + Fixed(cpu["other_processes_cores"], 2) + " cores";
  }
  text += " of " + std::to_string(cpu["cores"].get<int>()) + "; load average " +
          Fixed(cpu["load_average_start"], 2) + " -> " + Fixed(cpu["load_average_end"], 2);
  return text;
}

}  // namespace

json TotalsJson(const LoadTotals& totals) {
  json errors_by_code = json::object();
  for (size_t code = 0; code < kErrorCodeSlots; ++code) {
    if (totals.errors_by_code[code] == 0) continue;
    std::string name = wire::ErrorCode_IsValid(static_cast<int>(code))
                           ? wire::ErrorCode_Name(static_cast<wire::ErrorCode>(code))
                           : "CODE_" + std::to_string(code);
    errors_by_code[name] = totals.errors_by_code[code];
  }
  return {{"submits_sent", totals.submits_sent},
          {"accepted", totals.accepted},
          {"duplicates", totals.duplicates},
          {"errors", totals.errors},
          {"errors_by_code", errors_by_code},
          {"unanswered", totals.outstanding},
          {"deliveries", totals.deliveries},
          {"redeliveries", totals.redeliveries},
          {"acked", totals.acked},
          {"send_would_block", totals.send_would_block},
          {"unexpected_answers", totals.unexpected}};
}

BenchRunner::BenchRunner(BenchOptions options, NetworkConfig config)
    : options_(std::move(options)), config_(std::move(config)) {}

BenchRunner::~BenchRunner() {
  if (standby_ || etcd_) StopPair();
  if (broker_ && broker_->running()) broker_->Stop(30000);
  broker_.reset();
  if (!work_dir_.empty() && !options_.keep_data) {
    std::error_code ec;
    std::filesystem::remove_all(work_dir_, ec);
  }
}

void BenchRunner::Progress(const std::string& line) const { std::cerr << "aplus-bench: " << line << std::endl; }

// "aplus-bench: filled 12,000 / 100,000 cases (12%)": the fills' progress line.
std::string BenchRunner::FillProgress(uint64_t accepted, uint64_t cases) {
  uint64_t percent = cases == 0 ? 100 : accepted * 100 / cases;
  return "aplus-bench: filled " + Grouped(static_cast<double>(accepted)) + " / " +
         Grouped(static_cast<double>(cases)) + " cases (" + std::to_string(percent) + "%)";
}

pid_t BenchRunner::broker_pid() const {
  if (broker_ && broker_->running()) return broker_->pid();
  return options_.broker_pid;
}

Result<std::string> BenchRunner::PrepareBaseDir(const std::string& fresh_subdir) {
  std::string base = options_.data_dir;
  if (base.empty()) {
    char pattern[] = "/tmp/aplus-bench-XXXXXX";
    if (!::mkdtemp(pattern)) return Status(wire::INTERNAL, "cannot create a directory in /tmp");
    base = pattern;
    work_dir_ = base;
    return base;
  }
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  if (ec) return Status(wire::INVALID_ARGUMENT, "cannot create " + base + ": " + ec.message());
  if (std::filesystem::exists(base + "/" + fresh_subdir)) {
    return Status(wire::INVALID_ARGUMENT,
                  base + "/" + fresh_subdir + " exists: the bench needs a fresh data dir");
  }
  return base;
}

Status BenchRunner::SetUpBroker() {
  if (!options_.broker_endpoint.empty()) {
    auto list = ParseEndpointList(options_.broker_endpoint);
    if (!list.ok()) return Status(wire::INVALID_ARGUMENT, "--broker: " + list.status().message());
    broker_endpoints_ = options_.broker_endpoint;
    endpoint_ = list->front();
    if (!options_.keys_dir.empty()) {
      auto keys = NetworkKeys::Provision(config_, options_.keys_dir, options_.keys_dir + "/keyring");
      if (!keys.ok()) return keys.status();
      keys_ = std::move(keys).value();
    }
    if (list->size() > 1) {
      // A pair: the load generators' raw sockets go to the leader, found as an operator call
      // finds it (it follows NOT_LEADER). A failover during the run is not what the bench
      // measures: its gateways follow the leader, its load generators do not.
      wire::Hello hello;
      hello.set_role(wire::OPERATOR);
      hello.set_principal(OperatorId());
      hello.set_software("aplus-bench");
      SyncClient client(context_, broker_endpoints_, hello, ClientKeys(wire::OPERATOR, OperatorId()));
      wire::Envelope request;
      request.mutable_get_stats();
      auto answer = client.CallOk(std::move(request), 10000);
      if (!answer.ok()) return Status(answer.status().code(), "finding the leader among " +
                                                                  broker_endpoints_ + ": " +
                                                                  answer.status().message());
      endpoint_ = client.endpoint();
    }
    return Status::Ok();
  }
  auto prepared = PrepareBaseDir("broker");
  if (!prepared.ok()) return prepared.status();
  std::string base = *prepared;
  std::string binary = options_.broker_binary;
  if (binary.empty()) {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    binary = (self.parent_path() / "aplus-broker").string();
  }
  auto ports = PickFreeLoopbackPorts(3);
  if (!ports.ok()) return ports.status();
  const int port = (*ports)[0], alerts_port = (*ports)[1], metrics_port = (*ports)[2];
  endpoint_ = "tcp://127.0.0.1:" + std::to_string(port);
  broker_endpoints_ = endpoint_;
  alerts_endpoint_ = "tcp://127.0.0.1:" + std::to_string(alerts_port);
  std::string config_path = options_.config_path;
  if (!sla_config_text_.empty()) {
    config_path = base + "/sla-network.toml";
    std::ofstream out(config_path);
    out << sla_config_text_;
    if (!out) return Status(wire::INTERNAL, "cannot write " + config_path);
  }
  broker_ = std::make_unique<BrokerProcess>(binary, base + "/broker", endpoint_, alerts_endpoint_,
                                            config_path, base + "/broker.log");
  broker_->set_metrics_port(metrics_port);
  // The measured broker runs as in production: CURVE on every connection.
  auto keys = NetworkKeys::Provision(config_, base + "/keys", base + "/keyring");
  if (!keys.ok()) return keys.status();
  keys_ = std::move(keys).value();
  broker_->AddArguments({"--key", keys_->KeyFile("broker"), "--keyring", keys_->keyring_dir()});
  Status started = broker_->Start();
  if (!started.ok()) return started;
  return broker_->WaitReady(60000);
}

json BenchRunner::BrokerSetupJson() {
  json setup = {{"endpoint", endpoint_}, {"started_by_bench", broker_ != nullptr}};
  if (broker_) {
    setup["data_dir"] = broker_->data_dir();
    setup["log"] = broker_->log_path();
    setup["filesystem"] = FilesystemType(std::filesystem::path(broker_->data_dir()).parent_path());
  }
  if (broker_pid() > 0) setup["pid"] = broker_pid();
  return setup;
}

std::unique_ptr<LoadGenerator> BenchRunner::MakeGenerator(bool open_loop) {
  Workload workload;
  workload.open_loop = open_loop;
  workload.pipeline = options_.pipeline;
  workload.rate = options_.rate;
  workload.window = options_.window;
  workload.partners = load_partners_.empty() ? PartnerIds(config_) : load_partners_;
  workload.body = EscalationBody(options_.body_bytes);
  workload.run_tag = RandomTag();
  workload.keys = keys_ ? &*keys_ : nullptr;
  GeneratorShape shape;
  shape.threads = options_.threads;
  shape.connections_per_contact_point = options_.connections_per_contact_point;
  return std::make_unique<LoadGenerator>(context_, endpoint_, config_, std::move(workload), shape);
}

json BenchRunner::Drain(LoadGenerator& generator, bool* complete) {
  generator.control().sending.store(false);
  int64_t started = SteadyNowNs();
  *complete = generator.WaitFor(
      [](const LoadTotals& t) {
        return t.outstanding == 0 && t.deliveries - t.redeliveries >= t.accepted &&
               t.acked >= t.deliveries;
      },
      static_cast<int>(options_.drain_seconds * 1000), 20);
  bool flushed = generator.Flush(10000);
  json drain = {{"complete", *complete && flushed},
                {"seconds", static_cast<double>(SteadyNowNs() - started) / 1e9}};
  return drain;
}

std::string BenchRunner::OperatorId() const {
  return config_.operators.empty() ? "operator" : config_.operators.front().id;
}

Result<wire::Envelope> BenchRunner::OperatorCall(wire::Envelope request, int timeout_ms) {
  wire::Hello hello;
  hello.set_role(wire::OPERATOR);
  hello.set_principal(OperatorId());
  hello.set_software("aplus-bench");
  SyncClient client(context_, broker_endpoints_, hello, ClientKeys(wire::OPERATOR, OperatorId()));
  return client.CallOk(std::move(request), timeout_ms);
}

json BenchRunner::BrokerStats() {
  wire::Envelope request;
  request.mutable_get_stats();
  auto answer = OperatorCall(request, 10000);
  if (!answer.ok()) return {{"error", answer.status().ToString()}};
  const wire::Stats& stats = answer->stats();
  json by_state = json::object();
  for (const auto& [state, count] : stats.cases_by_state()) by_state[state] = count;
  uint64_t queued = 0;
  for (const auto& queue : stats.queues()) queued += queue.depth();
  double per_commit = stats.batches_committed() == 0
                          ? 0.0
                          : static_cast<double>(stats.messages_committed()) /
                                static_cast<double>(stats.batches_committed());
  json out = {{"cases_by_state", by_state},
          {"queued", queued},
          {"in_flight", stats.in_flight()},
          {"dead_lettered", stats.dead_lettered()},
          {"batches_committed", stats.batches_committed()},
          {"messages_committed", stats.messages_committed()},
          {"messages_per_commit", per_commit},
          {"errors_answered", stats.errors_answered()}};
  if (stats.has_store_memory()) {
    const wire::StoreMemory& memory = stats.store_memory();
    out["store_memory_mb"] = {{"memtables", Mb(memory.memtables_bytes())},
                              {"table_readers", Mb(memory.table_readers_bytes())},
                              {"block_cache", Mb(memory.block_cache_bytes())}};
  }
  if (stats.has_pair()) {
    const wire::PairStats& pair = stats.pair();
    out["pair"] = {{"node", pair.node()},
                   {"epoch", pair.epoch()},
                   {"mode", pair.mode()},
                   {"state", pair.state()},
                   {"standby", pair.standby()},
                   {"committed_sequence", pair.committed_sequence()},
                   {"standby_applied_sequence", pair.standby_applied_sequence()}};
  }
  return out;
}

// --- throughput ------------------------------------------------------------------------------

// --mode http: an agent gateway of the network's first contact point, started next to the
// broker with its HTTP API on a free loopback port and a token of its own; then a closed-loop
// run (--seconds, --http-connections keep-alive connections) and an open-loop run at --rate.
Result<json> BenchRunner::RunHttp() {
  HttpLoadOptions load;
  std::unique_ptr<ChildProgram> gateway;
  if (!options_.http_target.empty()) {
    auto colon = options_.http_target.rfind(':');
    if (colon == std::string::npos || options_.http_token.empty()) {
      return Status(wire::INVALID_ARGUMENT, "--http-target HOST:PORT needs --http-token");
    }
    load.host = options_.http_target.substr(0, colon);
    load.port = static_cast<uint16_t>(std::atoi(options_.http_target.c_str() + colon + 1));
    load.token = options_.http_token;
    load.agent = options_.http_agent;
  } else {
    if (!broker_) {
      return Status(wire::INVALID_ARGUMENT,
                    "--mode http starts its own broker and agent gateway (or give --http-target)");
    }
    const auto& contact_point = config_.contact_points.front();
    if (contact_point.agents.empty()) {
      return Status(wire::INVALID_ARGUMENT, "contact point " + contact_point.id + " has no agent");
    }
    std::string base = std::filesystem::path(broker_->data_dir()).parent_path().string();
    std::string token_dir = base + "/tokens";
    auto token = AddToken(token_dir, "bench", {}, UnixNowMs());
    if (!token.ok()) return token.status();
    auto ports = PickFreeLoopbackPorts(2);
    if (!ports.ok()) return ports.status();
    const int zmq_port = (*ports)[0], http_port = (*ports)[1];
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    std::string listen = "tcp://127.0.0.1:" + std::to_string(zmq_port);
    std::string key_name = KeyNameFor(wire::AGENT_GATEWAY, contact_point.id, "");
    gateway = std::make_unique<ChildProgram>(
        (self.parent_path() / "aplus-agent-gateway").string(),
        std::vector<std::string>{"--contact-point", contact_point.id, "--broker", broker_endpoints_,
                                 "--listen", listen, "--data-dir", base + "/agent-gateway",
                                 "--key", keys_->KeyFile(key_name), "--broker-key",
                                 keys_->PublicFile("broker"), "--http-listen",
                                 "127.0.0.1:" + std::to_string(http_port), "--token-dir",
                                 token_dir},
        base + "/agent-gateway.log");
    Status started = gateway->Start();
    if (!started.ok()) return started;
    Status ready = gateway->WaitForLog("HTTP API on", 60000);
    if (!ready.ok()) return ready;
    Progress("agent gateway ready, HTTP API on 127.0.0.1:" + std::to_string(http_port));
    load.port = static_cast<uint16_t>(http_port);
    load.token = *token;
    load.agent = contact_point.agents.front().id;
  }
  load.connections = options_.http_connections;
  load.partners = PartnerIds(config_);
  load.body_bytes = options_.body_bytes;
  load.run_tag = RandomTag();
  auto run = [&](bool open_loop) -> Result<json> {
    load.open_loop = open_loop;
    load.rate = options_.rate;
    load.run_tag += open_loop ? "-o" : "-c";
    load.start_ns = SteadyNowNs() + 50'000'000;
    load.window_start_ns = load.start_ns + static_cast<int64_t>(options_.warmup_seconds * 1e9);
    load.window_end_ns = load.window_start_ns + static_cast<int64_t>(options_.seconds * 1e9);
    CpuMeter meter(broker_pid());
    std::optional<double> gateway_start;
    pid_t gateway_pid = gateway ? gateway->pid() : 0;
    if (gateway_pid > 0) {
      if (auto cpu = ProcessCpuSeconds(gateway_pid); cpu.ok()) gateway_start = *cpu;
    }
    meter.Start();
    auto result = RunHttpLoad(load);
    if (!result.ok()) return result.status();
    json cpu = meter.Finish(result->created);
    if (auto now = ProcessCpuSeconds(gateway_pid); gateway_start && now.ok()) {
      cpu["agent_gateway_cores"] =
          (*now - *gateway_start) / (static_cast<double>(SteadyNowNs() - load.start_ns) / 1e9);
    }
    double seconds = static_cast<double>(load.window_end_ns - load.window_start_ns) / 1e9;
    LatencySummary latency = LatencySummary::Of(result->latencies_ns);
    json errors = json::object();
    for (const auto& [kind, count] : result->other) errors[kind] = count;
    json out = {{"loop", open_loop ? "open" : "closed"},
                {"seconds", seconds},
                {"connections", load.connections},
                {"sent", result->sent},
                {"created_201", result->created},
                {"created_per_second", static_cast<double>(result->created) / seconds},
                {"latency", latency.ToJson()},
                {"latency_text", latency.ToString()},
                {"errors", errors},
                {"cpu", cpu}};
    if (open_loop) out["offered_rate"] = options_.rate;
    return out;
  };
  Progress("closed loop: " + std::to_string(load.connections) + " keep-alive connections");
  auto closed = run(false);
  if (!closed.ok()) return closed.status();
  Progress("open loop at " + Fixed(options_.rate, 0) + " submissions/s");
  auto open = run(true);
  if (!open.ok()) return open.status();
  json result = {{"mode", "http"},
                 {"warmup_seconds", options_.warmup_seconds},
                 {"body_bytes", options_.body_bytes},
                 {"broker", broker_ ? BrokerSetupJson() : json(nullptr)},
                 {"throughput", *closed},
                 {"open_loop", *open}};
  if (gateway) {
    result["agent_gateway"] = {{"log", gateway->log_path()}, {"pid", gateway->pid()}};
    result["agent_gateway"]["exit"] = gateway->Stop(10000);
  } else {
    result["agent_gateway"] = {{"target", options_.http_target}};
  }
  return result;
}

Result<json> BenchRunner::RunThroughput() {
  auto generator = MakeGenerator(false);
  Status connected = generator->Connect(kConnectTimeoutMs);
  if (!connected.ok()) return connected;
  LoadControl& control = generator->control();
  int64_t start = SteadyNowNs();
  int64_t window_start = start + static_cast<int64_t>(options_.warmup_seconds * 1e9);
  int64_t window_end = window_start + static_cast<int64_t>(options_.seconds * 1e9);
  control.window_start_ns = window_start;
  control.window_end_ns = window_end;
  control.send_until_ns = window_end;
  control.sending = true;

  pid_t pid = broker_pid();
  CpuMeter meter(pid);
  for (const auto& [name, program_pid] : metered_) meter.AddProcess(name, program_pid);
  SleepUntilNs(window_start);
  LoadTotals before = generator->Totals();
  int64_t before_ns = SteadyNowNs();
  meter.Start();
  SleepUntilNs(window_end);
  LoadTotals after = generator->Totals();
  int64_t after_ns = SteadyNowNs();
  json cpu = meter.Finish(after.accepted - before.accepted);
  double seconds = static_cast<double>(after_ns - before_ns) / 1e9;

  bool drained = false;
  json drain = Drain(*generator, &drained);
  LoadTotals final_totals = generator->Totals();
  json stats = BrokerStats();
  generator->Stop();
  auto samples = generator->TakeAcceptSamples();
  LatencySummary accept_latency = LatencySummary::Of(samples);

  uint64_t accepted = after.accepted - before.accepted;
  json result = {
      {"mode", "throughput"},
      {"seconds", seconds},
      {"warmup_seconds", options_.warmup_seconds},
      {"agent_connections", generator->agent_connections()},
      {"partner_connections", generator->partner_connections()},
      {"pipeline", options_.pipeline},
      {"window", options_.window},
      {"client_threads", options_.threads},
      {"body_bytes", options_.body_bytes},
      {"broker", BrokerSetupJson()},
      {"window_counts",
       {{"accepted", accepted},
        {"delivered", after.deliveries - before.deliveries},
        {"acked", after.acked - before.acked},
        {"errors", after.errors - before.errors}}},
      {"accepted_per_second", static_cast<double>(accepted) / seconds},
      {"delivered_per_second", static_cast<double>(after.deliveries - before.deliveries) / seconds},
      {"acked_per_second", static_cast<double>(after.acked - before.acked) / seconds},
      {"closed_loop_accept_latency", accept_latency.ToJson()},
      {"totals", TotalsJson(final_totals)},
      {"drain", drain},
      {"broker_stats", stats},
      {"cpu", cpu}};
  if (pid > 0) {
    auto memory = ReadProcessMemory(pid);
    if (memory.ok()) {
      result["broker_rss_mb"] = Mb(memory->rss_bytes);
      result["broker_peak_rss_mb"] = Mb(memory->peak_bytes);
    }
  }
  if (broker_) result["data_dir_mb"] = Mb(DirectoryBytes(broker_->data_dir()));
  return result;
}

// --- latency ---------------------------------------------------------------------------------

Result<json> BenchRunner::RunLatency() {
  auto generator = MakeGenerator(true);
  Status connected = generator->Connect(kConnectTimeoutMs);
  if (!connected.ok()) return connected;
  LoadControl& control = generator->control();
  // The broker's own histograms over the window, where it serves /metrics (a broker the bench
  // started): scraped as the window opens, and again once the window's submissions are all
  // answered (after the drain, so that nothing measured waits behind that scrape). A first
  // scrape before the load: whatever a broker does at its first scrape is done before the
  // load starts (an earlier broker scanned its whole store there, for the cases at risk, and
  // stalled the pair mode's latency runs: p50 2-4 ms instead of 1).
  std::optional<KeepAliveClient> metrics;
  if (broker_ && broker_->metrics_port() > 0) {
    metrics.emplace("127.0.0.1", static_cast<uint16_t>(broker_->metrics_port()), "");
    (void)ScrapeMetrics(*metrics);
  }
  int64_t start = SteadyNowNs() + 20'000'000;
  int64_t window_start = start + static_cast<int64_t>(options_.warmup_seconds * 1e9);
  int64_t window_end = window_start + static_cast<int64_t>(options_.seconds * 1e9);
  control.schedule_start_ns = start;
  control.window_start_ns = window_start;
  control.window_end_ns = window_end;
  control.send_until_ns = window_end;
  control.sending = true;

  pid_t pid = broker_pid();
  CpuMeter meter(pid);
  for (const auto& [name, program_pid] : metered_) meter.AddProcess(name, program_pid);
  SleepUntilNs(window_start);
  LoadTotals before = generator->Totals();
  meter.Start();
  std::optional<Result<std::string>> metrics_before;
  if (metrics) metrics_before = ScrapeMetrics(*metrics);
  SleepUntilNs(window_end);
  LoadTotals after = generator->Totals();
  json cpu = meter.Finish(after.accepted - before.accepted);
  bool drained = false;
  json drain = Drain(*generator, &drained);
  json broker_histograms = json::object();
  if (metrics) {
    Result<std::string> metrics_after = ScrapeMetrics(*metrics);
    for (const auto& [metric, key] : kWindowHistograms) {
      Result<json> window = [&]() -> Result<json> {
        if (!metrics_before->ok()) return metrics_before->status();
        if (!metrics_after.ok()) return metrics_after.status();
        auto first = ParseHistogram(**metrics_before, metric);
        if (!first.ok()) return first.status();
        auto last = ParseHistogram(*metrics_after, metric);
        if (!last.ok()) return last.status();
        return HistogramWindow(*first, *last);
      }();
      broker_histograms[key] = window.ok() ? *window : json{{"error", window.status().ToString()}};
    }
  }
  LoadTotals final_totals = generator->Totals();
  json stats = BrokerStats();
  generator->Stop();
  auto accept_samples = generator->TakeAcceptSamples();
  auto delivery_samples = generator->TakeDeliverySamples();
  LatencySummary accept_latency = LatencySummary::Of(accept_samples);
  LatencySummary delivery_latency = LatencySummary::Of(delivery_samples);

  double offered = options_.rate * options_.seconds;
  json result = {{"mode", "latency"},
                 {"rate", options_.rate},
                 {"seconds", options_.seconds},
                 {"warmup_seconds", options_.warmup_seconds},
                 {"agent_connections", generator->agent_connections()},
                 {"partner_connections", generator->partner_connections()},
                 {"window", options_.window},
                 {"client_threads", options_.threads},
                 {"body_bytes", options_.body_bytes},
                 {"broker", BrokerSetupJson()},
                 {"offered_in_window", offered},
                 {"sent_in_window", after.submits_sent - before.submits_sent},
                 {"submit_to_accepted", accept_latency.ToJson()},
                 {"submit_to_delivery", delivery_latency.ToJson()},
                 {"totals", TotalsJson(final_totals)},
                 {"drain", drain},
                 {"broker_stats", stats},
                 {"cpu", cpu}};
  if (pid > 0) {
    auto memory = ReadProcessMemory(pid);
    if (memory.ok()) result["broker_peak_rss_mb"] = Mb(memory->peak_bytes);
  }
  for (auto& [key, window] : broker_histograms.items()) result[key] = window;
  // The disk alone at this rate, right after the window on the broker's file system (the
  // clients stopped, the broker idle): a reference taken at another moment, not a bound. A
  // failed probe is reported in the result and does not cost the window's figures.
  if (broker_) {
    DiskProbeOptions options;
    options.directory = std::filesystem::path(broker_->data_dir()).parent_path().string();
    options.rate = options_.rate;
    options.seconds = std::min(options_.seconds, kDiskProbeMaxSeconds);
    Result<DiskProbe> probe = ProbeDisk(options);
    json& out = result["disk_probe"];
    out = {{"directory", options.directory},
           {"filesystem", FilesystemType(options.directory)},
           {"rate", options.rate},
           {"seconds", options.seconds},
           {"record_bytes", options.record_bytes}};
    if (probe.ok()) {
      out["append_sync"] = probe->append_sync.ToJson();
      out["syncs"] = probe->syncs;
      out["sync_ms_total"] = probe->sync_ms_total;
      out["preallocated"] = probe->preallocated;
    } else {
      out["error"] = probe.status().ToString();
    }
  }
  return result;
}

// --- restart ---------------------------------------------------------------------------------

namespace {

struct ReadyProbe {
  double pong_ms = -1;      // exec -> Pong
  double get_case_ms = -1;  // exec -> CaseView of the known case
  std::string state;        // the known case's state as served after the restart
  int64_t deadline_ms = 0;  // its SLA deadline as served (wall clock)
  std::string error;
};

// Asks a (re)starting broker for a Pong, then for a known case, as early as it can answer:
// the requests are queued on the socket before the broker even listens, and ZeroMQ reconnects
// every 5 ms until it does.
ReadyProbe ProbeReady(zmq::context_t& context, const std::string& endpoint, int64_t exec_ns,
                      const KnownCase& known, int timeout_ms,
                      const std::optional<CurveClientKeys>& curve) {
  ReadyProbe probe;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  if (curve) ApplyCurveClient(socket, *curve);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::reconnect_ivl, 5);
  socket.set(zmq::sockopt::reconnect_ivl_max, 5);
  socket.connect(endpoint);
  auto send = [&](wire::Envelope envelope, uint64_t id) {
    envelope.set_request_id(id);
    auto message = EncodeEnvelope(envelope);
    socket.send(message, zmq::send_flags::none);
  };
  wire::Envelope ping;
  ping.mutable_ping();
  send(ping, 1);
  int64_t deadline = SteadyNowNs() + static_cast<int64_t>(timeout_ms) * 1'000'000;
  while (SteadyNowNs() < deadline) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    zmq::message_t message;
    if (!(item.revents & ZMQ_POLLIN) || !socket.recv(message, zmq::recv_flags::dontwait)) continue;
    int64_t now = SteadyNowNs();
    wire::Envelope answer;
    if (!answer.ParseFromArray(message.data(), static_cast<int>(message.size()))) continue;
    if (answer.request_id() == 1 && answer.has_pong()) {
      probe.pong_ms = static_cast<double>(now - exec_ns) / 1e6;
      wire::Envelope hello;
      hello.mutable_hello()->set_role(wire::AGENT_GATEWAY);
      hello.mutable_hello()->set_principal(known.contact_point);
      hello.mutable_hello()->set_software("aplus-bench probe");
      send(hello, 2);
      wire::Envelope get_case;
      get_case.mutable_get_case()->set_case_id(known.case_id);
      send(get_case, 3);
    } else if (answer.request_id() == 2 && answer.has_error()) {
      probe.error = "Hello refused: " + StatusOf(answer).ToString();
      return probe;
    } else if (answer.request_id() == 3) {
      if (!answer.has_case_view()) {
        probe.error = "GetCase " + known.case_id + " answered " + StatusOf(answer).ToString();
        return probe;
      }
      probe.get_case_ms = static_cast<double>(now - exec_ns) / 1e6;
      probe.state = wire::CaseState_Name(answer.case_view().summary().state());
      probe.deadline_ms = answer.case_view().summary().deadline_ms();
      return probe;
    }
  }
  probe.error = "no answer within " + std::to_string(timeout_ms) + " ms";
  return probe;
}

}  // namespace

Result<json> BenchRunner::RunRestart() {
  if (!broker_) return Status(wire::INVALID_ARGUMENT, "restart mode needs a broker started by the bench (no --broker)");
  pid_t pid = broker_->pid();
  const bool sla = options_.mode == BenchMode::kSlaMemory;
  json result = {{"mode", sla ? "sla-memory" : "restart"},
                 {"cases", options_.cases},
                 {"agent_connections", 0},
                 {"pipeline", options_.pipeline},
                 {"window", options_.window},
                 {"client_threads", options_.threads},
                 {"body_bytes", options_.body_bytes},
                 {"broker", BrokerSetupJson()}};

  // 1. Fill: exactly N submits, as fast as the broker takes them, partners consuming.
  auto filler = MakeGenerator(false);
  Status connected = filler->Connect(kConnectTimeoutMs);
  if (!connected.ok()) return connected;
  result["agent_connections"] = filler->agent_connections();
  result["partner_connections"] = filler->partner_connections();
  filler->control().budget = static_cast<int64_t>(options_.cases);
  CpuMeter meter(pid);
  meter.Start();
  int64_t fill_start = SteadyNowNs();
  filler->control().sending = true;
  {
    // On a terminal: one line redrawn in place; in a log or a pipe: nothing (the result says it).
    ProgressLine progress(stderr);
    while (true) {
      LoadTotals totals = filler->Totals();
      if (totals.accepted + totals.errors >= options_.cases && totals.outstanding == 0) break;
      progress.Update(FillProgress(totals.accepted, options_.cases) + ", delivered " +
                      Grouped(static_cast<double>(totals.deliveries)));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  int64_t fill_end = SteadyNowNs();
  bool drained = false;
  json drain = Drain(*filler, &drained);
  int64_t drain_end = SteadyNowNs();
  LoadTotals fill_totals = filler->Totals();
  json fill_cpu = meter.Finish(fill_totals.accepted);
  json fill_stats = BrokerStats();
  auto memory_full = ReadProcessMemory(pid);
  auto known = filler->KnownCases();
  filler->Stop();
  double fill_seconds = static_cast<double>(fill_end - fill_start) / 1e9;
  json fill = {{"seconds", fill_seconds},
               {"accepted_per_second", static_cast<double>(fill_totals.accepted) / fill_seconds},
               {"seconds_until_all_acked", static_cast<double>(drain_end - fill_start) / 1e9},
               {"totals", TotalsJson(fill_totals)},
               {"drain", drain},
               {"broker_stats", fill_stats},
               {"cpu", fill_cpu}};
  if (memory_full.ok()) {
    fill["broker_rss_mb"] = Mb(memory_full->rss_bytes);
    fill["broker_peak_rss_mb"] = Mb(memory_full->peak_bytes);
  }
  result["fill"] = fill;
  if (known.empty()) return Status(wire::INTERNAL, "no case was accepted during the fill");
  if (sla) {
    // Every case holds a warning and a breach timer; none may have fallen due yet (4 jours
    // ouvrés), or the figures would include alerts.
    wire::Envelope list;
    list.mutable_list_alerts()->set_include_acked(true);
    list.mutable_list_alerts()->set_limit(10000);
    auto alerts = OperatorCall(list, 60000);
    result["alerts_before_stop"] =
        alerts.ok() ? json(alerts->alert_list().alerts_size()) : json(alerts.status().ToString());
  }

  // 2. Clean stop.
  int64_t stop_start = SteadyNowNs();
  int exit_status = broker_->Stop(120000);
  result["stop"] = {{"seconds", static_cast<double>(SteadyNowNs() - stop_start) / 1e9},
                    {"exit_status", exit_status}};
  result["data_dir_mb"] = Mb(DirectoryBytes(broker_->data_dir()));

  // 3. Restart on the same data and time exec -> Pong -> GetCase answered.
  Status restarted = broker_->Start();
  if (!restarted.ok()) return restarted;
  ReadyProbe probe = ProbeReady(context_, endpoint_, broker_->exec_ns(), known.front(), 300000,
                                ClientKeys(wire::AGENT_GATEWAY, known.front().contact_point));
  json restart = {{"pong_ms", probe.pong_ms},
                  {"get_case_ms", probe.get_case_ms},
                  {"known_case", known.front().case_id},
                  {"known_case_state", probe.state}};
  if (!probe.error.empty()) restart["error"] = probe.error;
  if (probe.deadline_ms > 0) {
    restart["known_case_deadline_in_hours"] =
        static_cast<double>(probe.deadline_ms - UnixNowMs()) / 3.6e6;
  }
  auto memory_ready = ReadProcessMemory(broker_->pid());
  if (memory_ready.ok()) {
    restart["rss_mb_when_ready"] = Mb(memory_ready->rss_bytes);
    restart["peak_rss_mb_when_ready"] = Mb(memory_ready->peak_bytes);
  }
  if (probe.error.empty()) restart["broker_stats_when_ready"] = BrokerStats();

  // 4. Serve more submits on the restarted broker.
  if (probe.error.empty()) {
    auto more = MakeGenerator(false);
    Status reconnected = more->Connect(kConnectTimeoutMs);
    if (!reconnected.ok()) return reconnected;
    more->control().budget = static_cast<int64_t>(options_.after_restart_submits);
    int64_t start = SteadyNowNs();
    more->control().sending = true;
    more->WaitFor(
        [&](const LoadTotals& t) {
          return t.accepted + t.errors >= options_.after_restart_submits && t.outstanding == 0;
        },
        static_cast<int>(options_.drain_seconds * 1000));
    double seconds = static_cast<double>(SteadyNowNs() - start) / 1e9;
    bool more_drained = false;
    json more_drain = Drain(*more, &more_drained);
    LoadTotals more_totals = more->Totals();
    restart["after_restart"] = {
        {"submits", options_.after_restart_submits},
        {"seconds", seconds},
        {"accepted_per_second", static_cast<double>(more_totals.accepted) / seconds},
        {"totals", TotalsJson(more_totals)},
        {"drain", more_drain},
        {"broker_stats", BrokerStats()}};
    more->Stop();
    auto memory_after = ReadProcessMemory(broker_->pid());
    if (memory_after.ok()) {
      restart["rss_mb_after_more_submits"] = Mb(memory_after->rss_bytes);
      restart["peak_rss_mb_after_more_submits"] = Mb(memory_after->peak_bytes);
    }
  }
  result["restart"] = restart;
  broker_->Stop(120000);
  return result;
}


// --- SLA catch-up ----------------------------------------------------------------------------

Status BenchRunner::PrepareSlaConfig() {
  std::string text;
  if (options_.config_path.empty()) {
    text = std::string(DefaultNetworkToml());
  } else {
    std::ifstream in(options_.config_path);
    std::stringstream content;
    content << in.rdbuf();
    if (!in) return Status(wire::INVALID_ARGUMENT, "cannot read " + options_.config_path);
    text = content.str();
  }
  auto seconds = [](double value) {
    return std::to_string(static_cast<long long>(std::llround(value))) + " secondes";
  };
  // Every partner answers within the window (category policies too); the warning comes `lead`
  // before the deadline.
  std::regex policy(R"re((reply_policy\s*=\s*)"[^"]*")re");
  std::string replaced =
      std::regex_replace(text, policy, "$1\"" + seconds(options_.sla_window_seconds) + "\"");
  std::regex lead(R"re((warning_lead\s*=\s*)"[^"]*")re");
  if (!std::regex_search(replaced, lead)) {
    return Status(wire::INVALID_ARGUMENT, "the network config has no [sla] warning_lead to replace");
  }
  replaced = std::regex_replace(replaced, lead, "$1\"" + seconds(options_.sla_lead_seconds) + "\"");
  auto parsed = ParseNetworkConfig(replaced, "sla-network.toml");
  if (!parsed.ok()) return parsed.status();
  for (const auto& partner : parsed->partners) {
    if (!partner.category_policies.empty()) {
      return Status(wire::INVALID_ARGUMENT, "partner " + partner.id +
                                                " has category policies: the catch-up bench "
                                                "needs one policy per partner");
    }
  }
  config_ = std::move(parsed).value();
  sla_config_text_ = std::move(replaced);
  return Status::Ok();
}

json BenchRunner::CountStoredAlerts() {
  json counts = {{"warnings", 0}, {"breaches", 0}, {"truncated", false}, {"calls", 0}};
  int64_t first_raised = 0, last_raised = 0;
  std::vector<int64_t> raised;  // every raised_at_ms, for the instant of the 100,000th alert
  int64_t started = SteadyNowNs();
  for (const auto& partner : config_.partners) {
    for (auto kind : {wire::Alert::WARNING, wire::Alert::BREACH}) {
      wire::Envelope request;
      auto* list = request.mutable_list_alerts();
      list->set_partner(partner.id);
      list->set_kind(kind);
      list->set_include_acked(true);
      list->set_limit(10000);
      auto answer = OperatorCall(request, 120000);
      counts["calls"] = counts["calls"].get<int>() + 1;
      if (!answer.ok()) {
        counts["error"] = answer.status().ToString();
        return counts;
      }
      const auto& alerts = answer->alert_list().alerts();
      if (alerts.size() >= 10000) counts["truncated"] = true;
      const char* key = kind == wire::Alert::WARNING ? "warnings" : "breaches";
      counts[key] = counts[key].get<uint64_t>() + static_cast<uint64_t>(alerts.size());
      for (const auto& alert : alerts) {
        if (first_raised == 0 || alert.raised_at_ms() < first_raised) first_raised = alert.raised_at_ms();
        last_raised = std::max(last_raised, alert.raised_at_ms());
        raised.push_back(alert.raised_at_ms());
      }
    }
  }
  counts["first_raised_at_ms"] = first_raised;
  counts["last_raised_at_ms"] = last_raised;
  if (raised.size() >= 100000) {
    std::nth_element(raised.begin(), raised.begin() + 99999, raised.end());
    counts["raised_at_ms_100000th"] = raised[99999];
  }
  counts["seconds_to_count"] = static_cast<double>(SteadyNowNs() - started) / 1e9;
  return counts;
}

namespace {

// What the alert subscriber and the ping probe saw after the restart.
struct CatchupWatch {
  uint64_t warnings = 0, breaches = 0, other = 0;
  int64_t first_alert_ns = 0, last_alert_ns = 0;
  int64_t pong_ns = 0;
  bool timed_out = false;
};

// Counts the alerts published on `sub` (connected before the broker started) and times the
// first Pong on a DEALER, until `expected` alerts came or nothing came for `quiet_ms` after
// the Pong. The PUB socket drops what it cannot send (no subscriber yet, or its high-water
// mark), so these counts are a lower bound; the stored alerts are the truth.
CatchupWatch WatchCatchup(zmq::context_t& context, zmq::socket_t& sub, const std::string& endpoint,
                          uint64_t expected, int quiet_ms, int timeout_ms,
                          const std::optional<CurveClientKeys>& curve) {
  CatchupWatch watch;
  zmq::socket_t probe(context, zmq::socket_type::dealer);
  if (curve) ApplyCurveClient(probe, *curve);
  probe.set(zmq::sockopt::linger, 0);
  probe.set(zmq::sockopt::reconnect_ivl, 5);
  probe.set(zmq::sockopt::reconnect_ivl_max, 5);
  probe.connect(endpoint);
  wire::Envelope ping;
  ping.set_request_id(1);
  ping.mutable_ping();
  auto message = EncodeEnvelope(ping);
  probe.send(message, zmq::send_flags::none);
  int64_t deadline = SteadyNowNs() + static_cast<int64_t>(timeout_ms) * 1'000'000;
  while (true) {
    int64_t now = SteadyNowNs();
    if (watch.warnings + watch.breaches >= expected && watch.pong_ns > 0) break;
    int64_t last = std::max(watch.pong_ns, watch.last_alert_ns);
    if (watch.pong_ns > 0 && now - last > static_cast<int64_t>(quiet_ms) * 1'000'000) break;
    if (now >= deadline) {
      watch.timed_out = true;
      break;
    }
    zmq::pollitem_t items[2] = {{sub.handle(), 0, ZMQ_POLLIN, 0}, {probe.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(20));
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t topic, payload;
      while (sub.recv(topic, zmq::recv_flags::dontwait)) {
        if (topic.more()) (void)sub.recv(payload, zmq::recv_flags::none);
        int64_t at = SteadyNowNs();
        if (watch.first_alert_ns == 0) watch.first_alert_ns = at;
        watch.last_alert_ns = at;
        std::string_view name(static_cast<const char*>(topic.data()), topic.size());
        if (name.rfind("alert.WARNING.", 0) == 0) {
          ++watch.warnings;
        } else if (name.rfind("alert.BREACH.", 0) == 0) {
          ++watch.breaches;
        } else {
          ++watch.other;
        }
      }
    }
    if (items[1].revents & ZMQ_POLLIN) {
      zmq::message_t answer;
      if (probe.recv(answer, zmq::recv_flags::dontwait) && watch.pong_ns == 0) {
        watch.pong_ns = SteadyNowNs();
      }
    }
  }
  return watch;
}

uint64_t CountLogLines(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::string line;
  uint64_t count = 0;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) ++count;
  }
  return count;
}

}  // namespace

Result<json> BenchRunner::RunSlaCatchup() {
  if (!broker_) return Status(wire::INVALID_ARGUMENT, "sla-catchup needs a broker started by the bench (no --broker)");
  const uint64_t cases = options_.catchup_cases;
  const int64_t window_ms = static_cast<int64_t>(options_.sla_window_seconds * 1000);
  const int64_t lead_ms = static_cast<int64_t>(options_.sla_lead_seconds * 1000);
  json result = {{"mode", "sla-catchup"},
                 {"cases", cases},
                 {"reply_policy_seconds", options_.sla_window_seconds},
                 {"warning_lead_seconds", options_.sla_lead_seconds},
                 {"pipeline", options_.pipeline},
                 {"client_threads", options_.threads},
                 {"body_bytes", options_.body_bytes},
                 {"broker", BrokerSetupJson()}};
  result["broker"]["alerts_endpoint"] = alerts_endpoint_;

  // 1. Fill as fast as the broker takes them, partners storing and acking every delivery but
  //    never replying: every case is DELIVERED with its SLA timer running (the warning's; the
  //    breach's is put when the warning fires).
  auto filler = MakeGenerator(false);
  Status connected = filler->Connect(kConnectTimeoutMs);
  if (!connected.ok()) return connected;
  result["agent_connections"] = filler->agent_connections();
  result["partner_connections"] = filler->partner_connections();
  filler->control().budget = static_cast<int64_t>(cases);
  CpuMeter fill_meter(broker_->pid());
  fill_meter.Start();
  int64_t fill_start = SteadyNowNs();
  int64_t fill_start_wall = UnixNowMs();
  filler->control().sending = true;
  {
    ProgressLine progress(stderr);  // on a terminal only, as in the throughput fill
    while (true) {
      LoadTotals totals = filler->Totals();
      if (totals.accepted + totals.errors >= cases && totals.outstanding == 0) break;
      progress.Update(FillProgress(totals.accepted, cases));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  int64_t fill_end = SteadyNowNs();
  int64_t fill_end_wall = UnixNowMs();
  bool drained = false;
  json drain = Drain(*filler, &drained);
  LoadTotals fill_totals = filler->Totals();
  json fill_cpu = fill_meter.Finish(fill_totals.accepted);
  json fill_stats = BrokerStats();
  wire::Envelope list;
  list.mutable_list_alerts()->set_include_acked(true);
  list.mutable_list_alerts()->set_limit(10000);
  auto early = OperatorCall(list, 60000);
  filler->Stop();
  double fill_seconds = static_cast<double>(fill_end - fill_start) / 1e9;
  result["fill"] = {{"seconds", fill_seconds},
                    {"accepted_per_second", static_cast<double>(fill_totals.accepted) / fill_seconds},
                    {"totals", TotalsJson(fill_totals)},
                    {"drain", drain},
                    {"broker_stats", fill_stats},
                    {"cpu", fill_cpu},
                    {"alerts_before_stop", early.ok() ? json(early->alert_list().alerts_size())
                                                      : json(early.status().ToString())}};

  // 2. Stop before the first warning falls due (first submit + window - lead).
  int64_t stop_start = SteadyNowNs();
  int exit_status = broker_->Stop(120000);
  int64_t stopped_wall = UnixNowMs();
  result["stop"] = {{"seconds", static_cast<double>(SteadyNowNs() - stop_start) / 1e9},
                    {"exit_status", exit_status},
                    {"seconds_before_first_warning_due",
                     static_cast<double>(fill_start_wall + window_ms - lead_ms - stopped_wall) / 1e3}};
  if (stopped_wall >= fill_start_wall + window_ms - lead_ms) {
    return Status(wire::INTERNAL,
                  "the fill ended after the first warning fell due: raise --sla-window (and "
                  "--sla-lead) or lower --catchup-cases");
  }
  uint64_t expected = 2 * fill_totals.accepted;

  // 3. Wait until every deadline has passed (the last case was accepted before fill_end_wall).
  int64_t all_due_wall = fill_end_wall + window_ms + 1000;
  Progress("stopped; waiting " + Fixed(static_cast<double>(all_due_wall - UnixNowMs()) / 1e3, 1) +
           " s until every deadline has passed");
  while (UnixNowMs() < all_due_wall) std::this_thread::sleep_for(std::chrono::milliseconds(50));

  // 4. Restart with a subscriber already connected (ZeroMQ reconnects every 5 ms until the PUB
  //    socket binds), and time everything from the exec.
  zmq::socket_t sub(context_, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvhwm, 0);  // unlimited: the subscriber never drops
  sub.set(zmq::sockopt::reconnect_ivl, 5);
  sub.set(zmq::sockopt::reconnect_ivl_max, 5);
  sub.set(zmq::sockopt::subscribe, "alert.");
  if (auto curve = ClientKeys(wire::OPERATOR, OperatorId())) ApplyCurveClient(sub, *curve);
  sub.connect(alerts_endpoint_);
  Status restarted = broker_->Start();
  if (!restarted.ok()) return restarted;
  CpuMeter meter(broker_->pid());
  meter.Start();
  CatchupWatch watch = WatchCatchup(context_, sub, endpoint_, expected, 3000, 600000,
                                    ClientKeys(wire::OPERATOR, OperatorId()));
  json cpu = meter.Finish(expected);
  auto memory = ReadProcessMemory(broker_->pid());
  int64_t exec_ns = broker_->exec_ns();
  int64_t exec_wall = broker_->exec_wall_ms();
  auto since_exec_ms = [&](int64_t ns) {
    return ns == 0 ? -1.0 : static_cast<double>(ns - exec_ns) / 1e6;
  };
  json published = {{"warnings", watch.warnings},
                    {"breaches", watch.breaches},
                    {"other", watch.other},
                    {"first_ms_after_exec", since_exec_ms(watch.first_alert_ns)},
                    {"last_ms_after_exec", since_exec_ms(watch.last_alert_ns)},
                    {"timed_out", watch.timed_out}};
  json stored = CountStoredAlerts();
  if (stored.contains("last_raised_at_ms") && stored["last_raised_at_ms"].get<int64_t>() > 0) {
    stored["first_ms_after_exec"] = stored["first_raised_at_ms"].get<int64_t>() - exec_wall;
    stored["last_ms_after_exec"] = stored["last_raised_at_ms"].get<int64_t>() - exec_wall;
    if (stored.contains("raised_at_ms_100000th")) {
      stored["ms_after_exec_100000th"] = stored["raised_at_ms_100000th"].get<int64_t>() - exec_wall;
    }
  }
  json restart = {{"expected_alerts", expected},
                  {"pong_ms_after_exec", since_exec_ms(watch.pong_ns)},
                  {"published", published},
                  {"stored", stored},
                  {"cpu", cpu},
                  {"broker_stats", BrokerStats()}};
  if (memory.ok()) {
    restart["rss_mb"] = Mb(memory->rss_bytes);
    restart["peak_rss_mb"] = Mb(memory->peak_bytes);
  }
  broker_->Stop(120000);
  restart["log_lines_sla_warning"] = CountLogLines(broker_->log_path(), "SLA WARNING");
  restart["log_lines_sla_breach"] = CountLogLines(broker_->log_path(), "SLA BREACH");
  result["restart"] = restart;
  return result;
}

// --- reporting -------------------------------------------------------------------------------

namespace {

void PrintCounts(const json& totals, std::ostream& out) {
  out << "  submits sent " << Grouped(totals["submits_sent"].get<double>()) << ", accepted "
      << Grouped(totals["accepted"].get<double>()) << ", unanswered "
      << Grouped(totals["unanswered"].get<double>()) << ", duplicates "
      << Grouped(totals["duplicates"].get<double>()) << "\n"
      << "  deliveries " << Grouped(totals["deliveries"].get<double>()) << " (redeliveries "
      << Grouped(totals["redeliveries"].get<double>()) << "), acked "
      << Grouped(totals["acked"].get<double>()) << ", errors " << ErrorsText(totals)
      << ", unexpected answers " << Grouped(totals["unexpected_answers"].get<double>()) << "\n";
}

void PrintBroker(const json& setup, std::ostream& out) {
  out << "  broker " << setup["endpoint"].get<std::string>();
  if (setup["started_by_bench"].get<bool>()) {
    out << " started by the bench (pid " << setup["pid"] << "), data "
        << setup["data_dir"].get<std::string>() << " on "
        << setup["filesystem"].get<std::string>();
  } else {
    out << " (already running)";
  }
  out << "\n";
}

void PrintText(const json& r, std::ostream& out);

void PrintGateways(const json& r, std::ostream& out) {
  const json& g = r["gateways"];
  const json& totals = g["totals"];
  const json& cpu = g["cpu"];
  std::string partners;
  for (const auto& partner : g["partners"]) {
    partners += (partners.empty() ? "" : ", ") + partner.get<std::string>();
  }
  out << "aplus-bench gateways: " << Fixed(g["seconds"], 1) << " s measured after "
      << Fixed(r["warmup_seconds"], 1) << " s warm-up; " << g["http_connections"]
      << " keep-alive connections to the agent gateway of " << g["contact_point"].get<std::string>()
      << "; partner gateways " << partners << " (" << g["ack_connections_per_partner"]
      << " ack connections each); body " << r["body_bytes"] << " bytes; data "
      << g["data_dir"].get<std::string>() << " on " << g["filesystem"].get<std::string>() << "\n"
      << "  submissions accepted (201, durable)   " << Grouped(g["accepted_per_second"]) << " /s\n"
      << "  stored by the partner gateways       " << Grouped(g["stored_per_second"]) << " /s\n"
      << "  taken (ack 200/202) by partner sw    " << Grouped(g["taken_per_second"]) << " /s\n"
      << "  POST /v1/cases -> 201     " << g["submit_latency_text"].get<std::string>() << "\n"
      << "  submit -> read from feed  " << g["submit_to_stored_latency_text"].get<std::string>()
      << "\n"
      << "  submit -> ack answered    " << g["submit_to_taken_latency_text"].get<std::string>()
      << "\n";
  out << "  CPU per escalation (us) and RSS (MB):";
  for (auto& [name, program] : cpu["programs"].items()) {
    out << " " << name << " " << Fixed(program["us_per_escalation"], 1) << " us ("
        << Fixed(program["cores"], 2) << " cores, RSS "
        << Fixed(program.value("rss_mb", 0.0), 0) << ");";
  }
  out << " whole path " << Fixed(cpu["path_us_per_escalation"], 1) << " us\n"
      << "  bench " << Fixed(cpu["bench_cores"], 2) << " cores, other processes "
      << Fixed(cpu["other_processes_cores"], 2) << " cores of " << cpu["cores"]
      << "; load average " << Fixed(cpu["load_average_start"], 2) << " -> "
      << Fixed(cpu["load_average_end"], 2) << "\n"
      << "  totals: " << totals["created_201"] << " created (201), "
      << totals["stored_read_from_feed"] << " stored and read from the feeds, "
      << totals["acked_200"] << " acked 200 + " << totals["acked_202_queued"]
      << " acked 202; created but not stored " << totals["created_not_stored"]
      << ", stored but not taken " << totals["stored_not_taken"] << ", duplicate deliveries "
      << totals["duplicate_deliveries"] << "\n"
      << "  errors: submissions " << totals["submit_errors"].dump() << ", partner software "
      << totals["partner_software_errors"].dump() << "\n"
      << "  drain " << (g["drain"]["complete"].get<bool>() ? "complete" : "INCOMPLETE")
      << " after " << Fixed(g["drain"]["seconds"], 2) << " s; exit statuses "
      << g["exit_status"].dump() << "\n"
      << "  broker: " << StatsText(g["broker_stats"]) << "\n";
  out << "broker only, same run:\n";
  PrintText(r["broker_only"], out);
  out << "ratio gateways / broker only: accepted " << Fixed(r["ratio_accepted"], 2)
      << ", taken by the partner " << Fixed(r["ratio_taken"], 2) << "\n";
}

void PrintPair(const json& r, std::ostream& out) {
  const json& setup = r["setup"];
  const json& availability = setup["availability"];
  out << "aplus-bench pair: " << setup["etcd_members"] << " etcd members, broker "
      << setup["leader"]["node"].get<std::string>() << " leads (pid " << setup["leader"]["pid"]
      << "), broker " << setup["standby"]["node"].get<std::string>()
      << " its synchronous standby (pid " << setup["standby"]["pid"] << "); [availability] mode "
      << availability["mode"].get<std::string>() << ", lease " << availability["lease_ttl_s"]
      << " s, standby_ack_timeout " << availability["standby_ack_timeout_ms"] << " ms\n"
      << "  etcd answered after " << Fixed(setup["seconds_until_etcd_answers"], 1)
      << " s, a leader after " << Fixed(setup["seconds_until_leader"], 1)
      << " s, its standby named synchronous after " << Fixed(setup["seconds_until_standby_named"], 1)
      << " s (from the start of etcd)\n"
      << "pair, closed loop against the leader (\"broker\" below = the leader):\n";
  PrintText(r["pair_throughput"], out);
  out << "pair, open loop against the leader:\n";
  PrintText(r["pair_latency"], out);
  out << "single node, same run (a fresh broker alone, the same workload):\n";
  PrintText(r["single_throughput"], out);
  PrintText(r["single_latency"], out);
  const json& targets = r["targets"];
  const json& pair_p99 = r["pair_latency"]["submit_to_accepted"];
  const json& single_p99 = r["single_latency"]["submit_to_accepted"];
  out << "ratio pair / single node, accepted per second: " << Fixed(r["ratio_accepted"], 2)
      << " (" << Grouped(r["pair_throughput"]["accepted_per_second"]) << " / "
      << Grouped(r["single_throughput"]["accepted_per_second"]) << "; target >= "
      << Fixed(targets["ratio_at_least"], 2) << ": "
      << (targets["ratio_met"].get<bool>() ? "met" : "NOT met") << ")\n"
      << "submit->Accepted p99 at " << Grouped(r["rate"]) << "/s: pair "
      << Fixed(pair_p99["p99_ms"], 2) << " ms, single node " << Fixed(single_p99["p99_ms"], 2)
      << " ms (target < " << Fixed(targets["p99_ms_under"], 0) << " ms with replication: "
      << (targets["p99_met"].get<bool>() ? "met" : "NOT met") << ")\n";
  out << "exit statuses " << r["exit_status"].dump() << "\n";
}

void PrintText(const json& r, std::ostream& out) {
  std::string mode = r["mode"];
  if (mode == "gateways") return PrintGateways(r, out);
  if (mode == "pair") return PrintPair(r, out);
  if (mode == "http") {
    for (const char* part : {"throughput", "open_loop"}) {
      const json& run = r[part];
      std::string loop = run["loop"] == "open"
                             ? "open loop at " + Fixed(run["offered_rate"], 0) + "/s"
                             : std::string("closed loop");
      out << "aplus-bench http " << loop << ": " << Fixed(run["seconds"], 1) << " s, " << run["connections"]
          << " keep-alive connections; " << run["created_201"] << " cases created (201), "
          << Fixed(run["created_per_second"], 0) << "/s; latency "
          << run["latency_text"].get<std::string>() << "\n";
      out << "  errors: " << run["errors"].dump() << "; cpu: " << run["cpu"].dump() << "\n";
    }
    return;
  }
  if (mode == "throughput") {
    out << "aplus-bench throughput: " << Fixed(r["seconds"], 1) << " s measured after "
        << Fixed(r["warmup_seconds"], 1) << " s warm-up; " << r["agent_connections"]
        << " agent connections x " << r["pipeline"] << " submits in flight, "
        << r["partner_connections"] << " partner connections (window " << r["window"] << "), "
        << r["client_threads"] << " client threads, body " << r["body_bytes"] << " bytes\n";
    PrintBroker(r["broker"], out);
    out << "  submitted+accepted (durable) " << Grouped(r["accepted_per_second"]) << " /s\n"
        << "  delivered to partners        " << Grouped(r["delivered_per_second"]) << " /s\n"
        << "  acked by partners            " << Grouped(r["acked_per_second"]) << " /s\n"
        << "  closed-loop submit->Accepted " << LatencyText(r["closed_loop_accept_latency"])
        << "\n";
    out << "  CPU: " << CpuText(r["cpu"]) << "\n";
    if (r.contains("broker_peak_rss_mb")) {
      out << "  broker RSS " << Fixed(r["broker_rss_mb"], 1) << " MB (peak "
          << Fixed(r["broker_peak_rss_mb"], 1) << " MB)\n";
    }
  } else if (mode == "latency") {
    out << "aplus-bench latency: open loop at " << Grouped(r["rate"]) << " submits/s for "
        << Fixed(r["seconds"], 1) << " s after " << Fixed(r["warmup_seconds"], 1)
        << " s warm-up; " << r["agent_connections"] << " agent connections, "
        << r["partner_connections"] << " partner connections (window " << r["window"] << ")\n";
    PrintBroker(r["broker"], out);
    out << "  offered " << Grouped(r["offered_in_window"]) << ", sent "
        << Grouped(r["sent_in_window"]) << " in the window (timed from scheduled send time)\n"
        << "  submit->Accepted  " << LatencyText(r["submit_to_accepted"]) << "\n"
        << "  submit->Delivery  " << LatencyText(r["submit_to_delivery"]) << "\n";
    if (r.contains("broker_commits")) {
      out << "  " << HistogramText("broker's group commits in the window (RocksDB write + fdatasync)",
                                   r["broker_commits"])
          << "\n";
    }
    if (r.contains("broker_submit_durable")) {
      out << "  " << HistogramText("inside the broker, receipt->Accepted sent, per submission",
                                   r["broker_submit_durable"])
          << "\n";
    }
    if (r.contains("disk_probe")) out << "  " << DiskProbeText(r["disk_probe"]) << "\n";
    out << "  CPU: " << CpuText(r["cpu"]) << "\n";
    if (r.contains("broker_peak_rss_mb")) {
      out << "  broker peak RSS " << Fixed(r["broker_peak_rss_mb"], 1) << " MB\n";
    }
  } else if (mode == "sla-catchup") {
    const json& fill = r["fill"];
    const json& restart = r["restart"];
    const json& stored = restart["stored"];
    const json& published = restart["published"];
    out << "aplus-bench sla-catchup: " << Grouped(r["cases"]) << " cases, reply_policy "
        << Fixed(r["reply_policy_seconds"], 0) << " secondes, warning_lead "
        << Fixed(r["warning_lead_seconds"], 0) << " secondes; " << r["agent_connections"]
        << " agent connections, " << r["partner_connections"]
        << " partner connections storing and acking deliveries, never replying\n";
    PrintBroker(r["broker"], out);
    out << "  alerts published on " << r["broker"]["alerts_endpoint"].get<std::string>() << "\n"
        << "  fill: " << Fixed(fill["seconds"], 1) << " s (" << Grouped(fill["accepted_per_second"])
        << " accepted/s); alerts stored before the stop: " << fill["alerts_before_stop"] << "\n"
        << "  CPU: " << CpuText(fill["cpu"]) << "\n";
    PrintCounts(fill["totals"], out);
    out << "  broker after fill: " << StatsText(fill["broker_stats"]) << "\n"
        << "  clean stop (SIGTERM) " << Fixed(r["stop"]["seconds"], 2) << " s, exit status "
        << r["stop"]["exit_status"] << ", " << Fixed(r["stop"]["seconds_before_first_warning_due"], 1)
        << " s before the first warning fell due; restarted after every deadline had passed\n"
        << "  restart: Pong after " << Fixed(restart["pong_ms_after_exec"], 1) << " ms from exec\n";
    if (stored.contains("error")) {
      out << "  stored alerts: ERROR " << stored["error"].get<std::string>() << "\n";
    } else {
      uint64_t total = stored["warnings"].get<uint64_t>() + stored["breaches"].get<uint64_t>();
      out << "  stored alerts (ListAlerts, " << stored["calls"] << " calls"
          << (stored["truncated"].get<bool>() ? ", TRUNCATED" : "") << "): "
          << Grouped(static_cast<double>(total)) << " of " << Grouped(restart["expected_alerts"])
          << " expected (" << Grouped(stored["warnings"]) << " warnings, "
          << Grouped(stored["breaches"]) << " breaches)\n";
      if (stored.contains("last_ms_after_exec")) {
        double first = stored["first_ms_after_exec"].get<double>();
        double last = stored["last_ms_after_exec"].get<double>();
        out << "  raised (alert raised_at_ms, wall clock, ms resolution): first "
            << Fixed(first, 0) << " ms, ALL " << Fixed(last, 0) << " ms after exec; "
            << Grouped(static_cast<double>(total) * 1000.0 / std::max(1.0, last - first))
            << " alerts/s between first and last\n";
        if (stored.contains("ms_after_exec_100000th")) {
          out << "  the 100,000th alert was raised " << stored["ms_after_exec_100000th"]
              << " ms after exec\n";
        }
      }
    }
    out << "  published (SUB socket, rcvhwm unlimited): " << Grouped(published["warnings"])
        << " warnings, " << Grouped(published["breaches"]) << " breaches; first "
        << Fixed(published["first_ms_after_exec"], 1) << " ms, last "
        << Fixed(published["last_ms_after_exec"], 1) << " ms after exec"
        << (published["timed_out"].get<bool>() ? " (TIMED OUT)" : "") << "\n"
        << "  broker log lines: " << Grouped(restart["log_lines_sla_warning"]) << " SLA WARNING, "
        << Grouped(restart["log_lines_sla_breach"]) << " SLA BREACH\n"
        << "  CPU from exec until quiet: " << CpuText(restart["cpu"], "alert") << "\n";
    if (restart.contains("rss_mb")) {
      out << "  broker RSS after catch-up " << Fixed(restart["rss_mb"], 1) << " MB (peak "
          << Fixed(restart["peak_rss_mb"], 1) << " MB)\n";
    }
    out << "  broker after catch-up: " << StatsText(restart["broker_stats"]) << "\n";
    return;
  } else {
    const json& fill = r["fill"];
    out << "aplus-bench " << mode << ": " << Grouped(r["cases"]) << " cases, "
        << r["agent_connections"] << " agent connections x " << r["pipeline"] << " in flight, "
        << r["partner_connections"] << " partner connections consuming\n";
    PrintBroker(r["broker"], out);
    out << "  fill: " << Fixed(fill["seconds"], 1) << " s (" << Grouped(fill["accepted_per_second"])
        << " accepted/s), all acked after " << Fixed(fill["seconds_until_all_acked"], 1) << " s\n"
        << "  CPU: " << CpuText(fill["cpu"]) << "\n";
    PrintCounts(fill["totals"], out);
    out << "  broker after fill: " << StatsText(fill["broker_stats"]) << "\n";
    if (fill.contains("broker_rss_mb")) {
      out << "  broker RSS with " << Grouped(r["cases"]) << " cases stored: "
          << Fixed(fill["broker_rss_mb"], 1) << " MB (peak " << Fixed(fill["broker_peak_rss_mb"], 1)
          << " MB)\n";
    }
    out << StoreMemoryText("  its store in memory", fill["broker_stats"]);
    if (r.contains("alerts_before_stop")) {
      out << "  alerts stored before the stop (must be 0: nothing falls due): "
          << r["alerts_before_stop"] << "\n";
    }
    out << "  clean stop (SIGTERM) " << Fixed(r["stop"]["seconds"], 2) << " s, exit status "
        << r["stop"]["exit_status"] << "; data dir " << Fixed(r["data_dir_mb"], 1) << " MB on disk\n";
    const json& restart = r["restart"];
    out << "  restart: Pong after " << Fixed(restart["pong_ms"], 1) << " ms, GetCase "
        << restart["known_case"].get<std::string>() << " ("
        << restart["known_case_state"].get<std::string>() << ") answered after "
        << Fixed(restart["get_case_ms"], 1) << " ms from exec\n";
    if (restart.contains("error")) out << "  restart ERROR: " << restart["error"].get<std::string>() << "\n";
    if (restart.contains("known_case_deadline_in_hours")) {
      out << "  its SLA deadline is " << Fixed(restart["known_case_deadline_in_hours"], 1)
          << " h away (timers pending, none in memory but the earliest due time)\n";
    }
    if (restart.contains("rss_mb_when_ready")) {
      out << "  RSS when ready " << Fixed(restart["rss_mb_when_ready"], 1) << " MB (peak "
          << Fixed(restart["peak_rss_mb_when_ready"], 1) << " MB)";
    }
    if (restart.contains("after_restart")) {
      const json& more = restart["after_restart"];
      out << "; after " << Grouped(more["submits"]) << " more submits ("
          << Grouped(more["accepted_per_second"]) << "/s) RSS "
          << Fixed(restart["rss_mb_after_more_submits"], 1) << " MB (peak "
          << Fixed(restart["peak_rss_mb_after_more_submits"], 1) << " MB)\n";
      PrintCounts(more["totals"], out);
    } else {
      out << "\n";
    }
    if (restart.contains("broker_stats_when_ready")) {
      out << StoreMemoryText("  its store in memory when ready", restart["broker_stats_when_ready"]);
    }
    return;
  }
  PrintCounts(r["totals"], out);
  out << "  drain " << (r["drain"]["complete"].get<bool>() ? "complete" : "INCOMPLETE") << " after "
      << Fixed(r["drain"]["seconds"], 2) << " s; broker: " << StatsText(r["broker_stats"]) << "\n";
}

}  // namespace

int BenchRunner::Run() {
  if (options_.mode == BenchMode::kSlaCatchup) {
    Status prepared = PrepareSlaConfig();
    if (!prepared.ok()) {
      std::cerr << "aplus-bench: " << prepared.message() << std::endl;
      return 1;
    }
  }
  bool external_http = options_.mode == BenchMode::kHttp && !options_.http_target.empty();
  Status ready = external_http                     ? Status::Ok()
                 : options_.mode == BenchMode::kPair ? SetUpPair()
                                                     : SetUpBroker();
  if (!ready.ok()) {
    std::cerr << "aplus-bench: " << ready.message() << std::endl;
    if (!options_.keep_data && !work_dir_.empty()) {
      std::cerr << "(run with --keep-data --data-dir DIR to keep the logs)" << std::endl;
    }
    return 1;
  }
  Result<json> result = Status(wire::INTERNAL, "no mode");
  switch (options_.mode) {
    case BenchMode::kThroughput: result = RunThroughput(); break;
    case BenchMode::kLatency: result = RunLatency(); break;
    case BenchMode::kRestart:
    case BenchMode::kSlaMemory: result = RunRestart(); break;
    case BenchMode::kSlaCatchup: result = RunSlaCatchup(); break;
    case BenchMode::kHttp: result = RunHttp(); break;
    case BenchMode::kGateways: result = RunGateways(); break;
    case BenchMode::kPair: result = RunPair(); break;
  }
  if (!result.ok()) {
    std::cerr << "aplus-bench: " << result.status().ToString() << std::endl;
    if (broker_) std::cerr << "broker log tail:\n" << broker_->LogTail(2000) << std::endl;
    if (standby_) std::cerr << "standby log tail:\n" << standby_->LogTail(2000) << std::endl;
    return 1;
  }
  if (options_.json) {
    std::cout << result->dump() << std::endl;
  } else {
    PrintText(*result, std::cout);
  }
  return 0;
}

}  // namespace aplus::bench
