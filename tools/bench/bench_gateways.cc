// `aplus-bench --mode gateways`: the whole path through real gateways, then the broker-only
// figure in the same run (BenchRunner::RunGateways; the rest of the runner is in
// bench_runner.cc).
//
//   agent software --HTTP--> aplus-agent-gateway --CURVE--> aplus-broker --CURVE-->
//   aplus-partner-gateway (one per partner addressed) --HTTP feed + ack--> partner software
//
// Each gateway has its own data directory (its own RocksDB, fsynced before it answers), its own
// CURVE key and the token directory of the run. The load addresses only the partners that have
// a gateway: the first --gateway-partners national partners of the network.
#include <algorithm>
#include <filesystem>
#include <thread>
#include <unordered_set>

#include "common/clock.h"
#include "common/token_store.h"
#include "tools/bench/bench_runner.h"
#include "tools/bench/child_program.h"
#include "tools/bench/cpu_meter.h"
#include "tools/bench/http_load.h"
#include "tools/bench/latency_summary.h"
#include "tools/bench/partner_software.h"
#include "tools/bench/proc_stats.h"
#include "tools/bench/steady_clock.h"

namespace aplus::bench {
namespace {

using nlohmann::json;

// A program of the path, as the report names it, with its pid and CPU seconds at the start of
// the window.
struct MeteredProgram {
  std::string name;
  pid_t pid = 0;
  double cpu_at_start = 0;
};

// Sum of the PartnerSoftware snapshots.
PartnerSoftwareSnapshot SumOf(const std::vector<std::unique_ptr<PartnerSoftware>>& partners) {
  PartnerSoftwareSnapshot total;
  for (const auto& partner : partners) {
    PartnerSoftwareSnapshot one = partner->Snapshot();
    total.delivered += one.delivered;
    total.duplicate_deliveries += one.duplicate_deliveries;
    total.other_events += one.other_events;
    total.acked += one.acked;
    total.acked_queued += one.acked_queued;
    total.feed_requests += one.feed_requests;
    for (const auto& [kind, count] : one.errors) total.errors[kind] += count;
  }
  return total;
}

json ErrorsJson(const std::map<std::string, uint64_t>& errors) {
  json out = json::object();
  for (const auto& [kind, count] : errors) out[kind] = count;
  return out;
}

}  // namespace

Result<json> BenchRunner::RunGateways() {
  if (!broker_) return Status(wire::INVALID_ARGUMENT, "--mode gateways starts its own broker");
  const auto& contact_point = config_.contact_points.front();
  if (contact_point.agents.empty()) {
    return Status(wire::INVALID_ARGUMENT, "contact point " + contact_point.id + " has no agent");
  }
  std::vector<std::string> partners;
  for (const auto& partner : config_.partners) {
    if (!partner.per_territory && partners.size() < options_.gateway_partners) {
      partners.push_back(partner.id);
    }
  }
  if (partners.empty()) return Status(wire::INVALID_ARGUMENT, "the network has no national partner");

  std::string base = std::filesystem::path(broker_->data_dir()).parent_path().string();
  std::string token_dir = base + "/tokens";
  auto token = AddToken(token_dir, "bench", {}, UnixNowMs());
  if (!token.ok()) return token.status();
  std::error_code ec;
  std::string bin_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();

  // --- the programs of the path ---
  auto ports = PickFreeLoopbackPorts(2 + 2 * static_cast<int>(partners.size()));
  if (!ports.ok()) return ports.status();
  const std::vector<int> agent_ports = {(*ports)[0], (*ports)[1]};
  std::string agent_key = KeyNameFor(wire::AGENT_GATEWAY, contact_point.id, "");
  auto agent_gateway = std::make_unique<ChildProgram>(
      bin_dir + "/aplus-agent-gateway",
      std::vector<std::string>{
          "--contact-point", contact_point.id, "--broker", broker_endpoints_, "--listen",
          "tcp://127.0.0.1:" + std::to_string(agent_ports[0]), "--data-dir",
          base + "/agent-gateway", "--key", keys_->KeyFile(agent_key), "--broker-key",
          keys_->PublicFile("broker"), "--http-listen",
          "127.0.0.1:" + std::to_string(agent_ports[1]), "--token-dir", token_dir},
      base + "/agent-gateway.log");
  if (Status started = agent_gateway->Start(); !started.ok()) return started;

  std::vector<std::unique_ptr<ChildProgram>> partner_gateways;
  std::vector<int> partner_http_ports;
  for (size_t i = 0; i < partners.size(); ++i) {
    const std::string& partner = partners[i];
    const int zmq_port = (*ports)[2 + 2 * i], http_port = (*ports)[3 + 2 * i];
    std::string key = KeyNameFor(wire::PARTNER_GATEWAY, partner, "");
    partner_gateways.push_back(std::make_unique<ChildProgram>(
        bin_dir + "/aplus-partner-gateway",
        std::vector<std::string>{
            "--partner", partner, "--broker", broker_endpoints_, "--listen",
            "tcp://127.0.0.1:" + std::to_string(zmq_port), "--data-dir",
            base + "/partner-gateway-" + partner, "--key", keys_->KeyFile(key), "--broker-key",
            keys_->PublicFile("broker"), "--window", std::to_string(options_.window),
            "--http-listen", "127.0.0.1:" + std::to_string(http_port), "--token-dir",
            token_dir},
        base + "/partner-gateway-" + partner + ".log"));
    partner_http_ports.push_back(http_port);
    if (Status started = partner_gateways.back()->Start(); !started.ok()) return started;
  }
  if (Status ready = agent_gateway->WaitForLog("HTTP API on", 60000); !ready.ok()) return ready;
  for (auto& gateway : partner_gateways) {
    if (Status ready = gateway->WaitForLog("HTTP API on", 60000); !ready.ok()) return ready;
  }
  Progress("agent gateway and " + std::to_string(partners.size()) + " partner gateway(s) ready");

  std::string run_tag = RandomTag();
  std::vector<std::unique_ptr<PartnerSoftware>> softwares;
  for (int port : partner_http_ports) {
    PartnerSoftwareOptions options;
    options.port = static_cast<uint16_t>(port);
    options.token = *token;
    options.ack_connections = options_.ack_connections;
    options.run_tag = run_tag;
    softwares.push_back(std::make_unique<PartnerSoftware>(options));
    softwares.back()->Start();
  }

  // --- the load: closed loop on the agent gateway's HTTP API ---
  HttpLoadOptions load;
  load.port = static_cast<uint16_t>(agent_ports[1]);
  load.token = *token;
  load.agent = contact_point.agents.front().id;
  load.connections = options_.http_connections;
  load.partners = partners;
  load.body_bytes = options_.body_bytes;
  load.run_tag = run_tag + "-s";
  load.collect_cases = true;
  load.start_ns = SteadyNowNs() + 50'000'000;
  load.window_start_ns = load.start_ns + static_cast<int64_t>(options_.warmup_seconds * 1e9);
  load.window_end_ns = load.window_start_ns + static_cast<int64_t>(options_.seconds * 1e9);

  std::vector<MeteredProgram> programs = {{"broker", broker_->pid()},
                                          {"agent_gateway", agent_gateway->pid()}};
  for (size_t i = 0; i < partners.size(); ++i) {
    programs.push_back({"partner_gateway_" + partners[i], partner_gateways[i]->pid()});
  }
  Progress("closed loop: " + std::to_string(load.connections) +
           " keep-alive connections to the agent gateway, partners " + [&] {
             std::string list;
             for (const auto& p : partners) list += (list.empty() ? "" : ",") + p;
             return list;
           }());
  Result<HttpLoadResult> loaded = Status(wire::INTERNAL, "not run");
  std::thread load_thread([&] { loaded = RunHttpLoad(load); });
  SleepUntilNs(load.window_start_ns);
  CpuMeter meter(0);
  meter.Start();
  for (auto& program : programs) {
    if (auto cpu = ProcessCpuSeconds(program.pid); cpu.ok()) program.cpu_at_start = *cpu;
  }
  PartnerSoftwareSnapshot at_start = SumOf(softwares);
  int64_t window_start = SteadyNowNs();
  SleepUntilNs(load.window_end_ns);
  PartnerSoftwareSnapshot at_end = SumOf(softwares);
  int64_t window_end = SteadyNowNs();
  double seconds = static_cast<double>(window_end - window_start) / 1e9;
  json cpu = meter.Finish(0);  // the bench's and the machine's; the programs' below
  json programs_json = json::object();
  double path_cpu = 0;
  std::vector<double> cpu_seconds;
  for (auto& program : programs) {
    auto cpu_now = ProcessCpuSeconds(program.pid);
    cpu_seconds.push_back(cpu_now.ok() ? *cpu_now - program.cpu_at_start : 0.0);
  }
  load_thread.join();
  if (!loaded.ok()) return loaded.status();
  uint64_t created = loaded->created;
  double others = cpu["machine_busy_cores"].get<double>() - cpu["bench_cores"].get<double>();
  for (size_t i = 0; i < programs.size(); ++i) {
    json one = {{"pid", programs[i].pid},
                {"cores", cpu_seconds[i] / seconds},
                {"us_per_escalation",
                 created == 0 ? 0.0 : cpu_seconds[i] * 1e6 / static_cast<double>(created)}};
    if (auto memory = ReadProcessMemory(programs[i].pid); memory.ok()) {
      one["rss_mb"] = Mb(memory->rss_bytes);
      one["peak_rss_mb"] = Mb(memory->peak_bytes);
    }
    programs_json[programs[i].name] = one;
    path_cpu += cpu_seconds[i];
    others -= cpu_seconds[i] / seconds;
  }
  cpu["programs"] = programs_json;
  cpu["path_us_per_escalation"] =
      created == 0 ? 0.0 : path_cpu * 1e6 / static_cast<double>(created);
  cpu["other_processes_cores"] = std::max(0.0, others);

  // --- drain: every accepted submission stored at its partner gateway and taken ---
  Progress("draining: waiting until every accepted case is stored and taken");
  int64_t drain_start = SteadyNowNs();
  int64_t drain_deadline = drain_start + static_cast<int64_t>(options_.drain_seconds * 1e9);
  uint64_t created_total = loaded->created_total;
  PartnerSoftwareSnapshot final_counts;
  while (true) {
    final_counts = SumOf(softwares);
    if (final_counts.delivered >= created_total &&
        final_counts.acked + final_counts.acked_queued + [&] {
          uint64_t ack_errors = 0;
          for (const auto& [kind, count] : final_counts.errors) {
            if (kind.rfind("ack ", 0) == 0) ack_errors += count;
          }
          return ack_errors;
        }() >= final_counts.delivered) {
      break;
    }
    if (SteadyNowNs() >= drain_deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double drain_seconds = static_cast<double>(SteadyNowNs() - drain_start) / 1e9;
  for (auto& software : softwares) software->Stop();
  final_counts = SumOf(softwares);

  // Every case answered 201 must have been read from its partner gateway's feed.
  std::unordered_map<std::string, int64_t> read_ns, acked_ns;
  for (const auto& software : softwares) {
    read_ns.insert(software->read_ns().begin(), software->read_ns().end());
    acked_ns.insert(software->acked_ns().begin(), software->acked_ns().end());
  }
  uint64_t missing = 0, not_acked = 0;
  std::vector<int64_t> to_stored, to_acked;
  for (const auto& created_case : loaded->cases) {
    auto read = read_ns.find(created_case.case_id);
    if (read == read_ns.end()) {
      ++missing;
      continue;
    }
    auto acked = acked_ns.find(created_case.case_id);
    if (acked == acked_ns.end()) ++not_acked;
    if (created_case.sent_ns < window_start || created_case.sent_ns >= window_end) continue;
    to_stored.push_back(read->second - created_case.sent_ns);
    if (acked != acked_ns.end()) to_acked.push_back(acked->second - created_case.sent_ns);
  }
  uint64_t unknown = 0;  // delivered cases this run never created
  std::unordered_set<std::string> created_ids;
  for (const auto& created_case : loaded->cases) created_ids.insert(created_case.case_id);
  for (const auto& [case_id, when] : read_ns) unknown += created_ids.count(case_id) ? 0 : 1;

  json submit_errors = ErrorsJson(loaded->other);
  json partner_errors = ErrorsJson(final_counts.errors);
  LatencySummary submit_latency = LatencySummary::Of(loaded->latencies_ns);
  LatencySummary stored_latency = LatencySummary::Of(to_stored);
  LatencySummary acked_latency = LatencySummary::Of(to_acked);
  json gateways = {
      {"seconds", seconds},
      {"http_connections", load.connections},
      {"ack_connections_per_partner", options_.ack_connections},
      {"contact_point", contact_point.id},
      {"partners", partners},
      {"submitted_201", created},
      {"accepted_per_second", static_cast<double>(created) / seconds},
      {"stored_per_second", static_cast<double>(at_end.delivered - at_start.delivered) / seconds},
      {"taken_per_second",
       static_cast<double>(at_end.acked + at_end.acked_queued - at_start.acked -
                           at_start.acked_queued) /
           seconds},
      {"submit_latency", submit_latency.ToJson()},
      {"submit_latency_text", submit_latency.ToString()},
      {"submit_to_stored_latency_text", stored_latency.ToString()},
      {"submit_to_taken_latency_text", acked_latency.ToString()},
      {"cpu", cpu},
      {"totals",
       {{"requests_sent", loaded->sent},
        {"created_201", created_total},
        {"stored_read_from_feed", final_counts.delivered},
        {"duplicate_deliveries", final_counts.duplicate_deliveries},
        {"acked_200", final_counts.acked},
        {"acked_202_queued", final_counts.acked_queued},
        {"feed_requests", final_counts.feed_requests},
        {"created_not_stored", missing},
        {"stored_not_taken", not_acked},
        {"stored_not_created_by_this_run", unknown},
        {"submit_errors", submit_errors},
        {"partner_software_errors", partner_errors}}},
      {"drain", {{"complete", missing == 0 && not_acked == 0}, {"seconds", drain_seconds}}},
      {"broker_stats", BrokerStats()},
  };
  gateways["exit_status"] = json::object();
  gateways["exit_status"]["agent_gateway"] = agent_gateway->Stop(30000);
  for (size_t i = 0; i < partners.size(); ++i) {
    gateways["exit_status"]["partner_gateway_" + partners[i]] = partner_gateways[i]->Stop(30000);
  }
  gateways["exit_status"]["broker"] = broker_->Stop(60000);
  gateways["data_dir"] = base;
  gateways["filesystem"] = FilesystemType(base);

  // --- the broker-only figure, same run: a fresh broker, the throughput runner's fake
  // gateways (ZeroMQ, CURVE), addressing the same partners ---
  Progress("broker only: a fresh broker, the --mode throughput runner, same partners");
  options_.data_dir = base + "/broker-only";
  if (Status ready = SetUpBroker(); !ready.ok()) return ready;
  load_partners_ = partners;
  auto broker_only = RunThroughput();
  if (!broker_only.ok()) return broker_only.status();
  double broker_only_rate = (*broker_only)["accepted_per_second"].get<double>();
  double broker_only_acked = (*broker_only)["acked_per_second"].get<double>();
  json result = {{"mode", "gateways"},
                 {"warmup_seconds", options_.warmup_seconds},
                 {"body_bytes", options_.body_bytes},
                 {"gateways", gateways},
                 {"broker_only", *broker_only}};
  result["ratio_accepted"] =
      broker_only_rate > 0 ? gateways["accepted_per_second"].get<double>() / broker_only_rate : 0.0;
  result["ratio_taken"] =
      broker_only_acked > 0 ? gateways["taken_per_second"].get<double>() / broker_only_acked : 0.0;
  return result;
}

}  // namespace aplus::bench
