#include "tools/aplus/operator_commands.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "tools/aplus/agent_commands.h"
#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

// Lifecycle order for known state names, then any name this CLI does not know, by name.
int StateRank(const std::string& name) {
  wire::CaseState state;
  if (wire::CaseState_Parse(name, &state)) return static_cast<int>(state);
  return 1 << 20;
}

}  // namespace

std::string RenderStats(const wire::Stats& stats) {
  std::string out = "Cases by state\n";
  std::vector<std::pair<std::string, uint64_t>> states(stats.cases_by_state().begin(),
                                                       stats.cases_by_state().end());
  std::sort(states.begin(), states.end(), [](const auto& a, const auto& b) {
    int rank_a = StateRank(a.first);
    int rank_b = StateRank(b.first);
    return rank_a != rank_b ? rank_a < rank_b : a.first < b.first;
  });
  if (states.empty()) {
    out += "  (no cases)\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    uint64_t total = 0;
    for (const auto& [name, count] : states) {
      rows.push_back({name, std::to_string(count)});
      total += count;
    }
    rows.push_back({"total", std::to_string(total)});
    out += RenderTable({"STATE", "CASES"}, rows, {false, true}, "  ");
  }

  // Only the partners with cases at risk: the list of every partner is the network's config.
  std::map<std::string, uint64_t> at_risk;
  for (const auto& [partner, count] : stats.cases_at_risk()) {
    if (count > 0) at_risk[partner] = count;
  }
  if (!at_risk.empty()) {
    out += "\nCases at risk (warned, not breached, not answered)\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& [partner, count] : at_risk) rows.push_back({partner, std::to_string(count)});
    out += RenderTable({"PARTNER", "CASES"}, rows, {false, true}, "  ");
  }

  out += "\nQueues\n";
  if (stats.queues().empty()) {
    out += "  (no queues)\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& queue : stats.queues()) {
      rows.push_back({queue.queue(), std::to_string(queue.depth()),
                      std::to_string(queue.in_flight()), std::to_string(queue.dead_lettered())});
    }
    out += RenderTable({"QUEUE", "DEPTH", "IN FLIGHT", "DEAD-LETTERED"}, rows,
                       {false, true, true, true}, "  ");
  }

  out += "\nTotals: " + std::to_string(stats.in_flight()) + " in flight, " +
         std::to_string(stats.dead_lettered()) + " dead-lettered, " +
         std::to_string(stats.sessions()) + " sessions\n";
  out += "Committed: " + std::to_string(stats.batches_committed()) + " batches, " +
         std::to_string(stats.messages_committed()) + " messages; " +
         std::to_string(stats.errors_answered()) + " errors answered\n";
  if (stats.has_store_memory()) {
    const auto& memory = stats.store_memory();
    auto mib = [](uint64_t bytes) {
      char text[32];
      std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / 1048576.0);
      return std::string(text);
    };
    out += "Store memory: memtables " + mib(memory.memtables_bytes()) + ", indexes and filters " +
           mib(memory.table_readers_bytes()) + ", block cache " +
           mib(memory.block_cache_bytes()) + "\n";
  }
  if (stats.has_pair()) {
    const auto& pair = stats.pair();
    out += "Pair: leader " + pair.node() + " (epoch " + std::to_string(pair.epoch()) + "), mode " +
           pair.mode() + ", " + pair.state() +
           (pair.standby().empty() ? std::string(", no standby attached")
                                   : ", standby " + pair.standby() + " at sequence " +
                                         std::to_string(pair.standby_applied_sequence()) + " of " +
                                         std::to_string(pair.committed_sequence())) +
           "\n";
  }
  for (const auto& failing : stats.failing_webhooks()) {
    out += "FAILING WEBHOOKS: partner " + failing.partner() +
           (failing.territory().empty() ? "" : " (" + failing.territory() + ")") + " to " +
           failing.url_host() + " since " + FormatSecond(failing.failing_since_ms()) + "\n";
  }
  return out;
}

int RunStats(const GlobalOptions& options) {
  wire::Envelope request;
  request.mutable_get_stats();
  auto answer = Exchange(options, options.broker, OperatorHello(options), std::move(request),
                         wire::Envelope::kStats);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->stats(), RenderStats(answer->stats()));
}

int RunCase(const GlobalOptions& options, const std::string& case_ref) {
  wire::Envelope request;
  request.mutable_get_case()->set_case_id(CaseRef(case_ref));
  auto answer = Exchange(options, options.broker, OperatorHello(options), std::move(request),
                         wire::Envelope::kCaseView);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->case_view(), RenderCaseView(answer->case_view()));
}

}  // namespace aplus::cli
