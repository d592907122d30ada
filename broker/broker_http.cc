// The broker's HTTP listener: GET /metrics (Prometheus, docs/METRICS.md) and GET /health, on
// the front door every program shares (http/http_front_door.h), driven from the loop thread.
// And the one function that gathers the broker's figures for both /metrics and GetStats.
#include <fmt/chrono.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "broker/broker.h"
#include "broker/http_listener.h"
#include "http/http_front_door.h"

namespace aplus {
namespace {

// Stats.sessions_by_role and the `role` label of aplus_sessions.
const char* RoleLabel(wire::Role role) {
  switch (role) {
    case wire::AGENT_GATEWAY: return "agent_gateway";
    case wire::PARTNER_GATEWAY: return "partner_gateway";
    case wire::OPERATOR: return "operator";
    case wire::ADMINISTRATOR: return "administrator";
    case wire::CONSOLE: return "console";
    default: return "unspecified";
  }
}

std::string Rfc3339Seconds(int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", utc);
}

}  // namespace

Status Broker::StartHttp() {
  auto started = StartHttpListener(HttpSettings(options_), HttpRoutes());
  if (!started.ok()) return started.status();
  http_ = std::move(started).value();
  return Status::Ok();
}

std::string Broker::http_url() const { return http_ ? http_->Url() : ""; }

std::vector<HttpRoute> Broker::HttpRoutes() {
  // Handlers run on the loop thread (Turn calls Dispatch), so they read the broker directly.
  return {
      HttpRoute{"GET", "/metrics", [this](HttpCall&& call) { ServeMetrics(std::move(call)); },
                /*needs_token=*/true, /*open_on_loopback=*/true},
      HttpRoute{"GET", "/health", [this](HttpCall&& call) { ServeHealth(std::move(call)); },
                /*needs_token=*/false},
  };
}

void Broker::ServeMetrics(HttpCall&& call) {
  wire::Stats stats;
  FillStats(stats);
  http::HttpResponse response;
  response.content_type = ProgramMetrics::kContentType;
  response.body = metrics_.Render(stats);
  call.responder.Send(std::move(response));
}

void Broker::ServeHealth(HttpCall&& call) {
  // Handlers run only while Run() serves; a failed commit ends the loop within its turn, so
  // this answers 503 only in the window before the process exits.
  if (durability_failure_) {
    SendProblem(call.responder,
                Status(wire::UNAVAILABLE, "the broker cannot write durably and is stopping: " +
                                              durability_failure_->message()));
    return;
  }
  SendJson(call.responder, 200,
           {{"status", "ok"},
            {"role", replication_ ? "leader" : "single"},
            {"instance_id", instance_id_},
            {"started_at", Rfc3339Seconds(started_at_ms_)},
            {"program", "aplus-broker"},
            {"version", APLUS_VERSION}});
}

void Broker::FillStats(wire::Stats& stats) const {
  for (const auto& [state, count] : store_->state_counts()) {
    (*stats.mutable_cases_by_state())[wire::CaseState_Name(state)] = count;
  }
  // Every partner of the network, 0 included; a partner since removed from it is left out.
  const auto& at_risk = store_->cases_at_risk();
  for (const auto& partner : config_.partners) {
    auto counted = at_risk.find(partner.id);
    (*stats.mutable_cases_at_risk())[partner.id] = counted == at_risk.end() ? 0 : counted->second;
  }
  int64_t now_ms = clock_.NowMs();
  uint64_t in_flight = 0, dead = 0;
  for (const auto& [name, queue] : queues_) {
    auto* q = stats.add_queues();
    q->set_queue(name);
    q->set_depth(queue.depth);
    q->set_in_flight(queue.in_flight.size());
    q->set_dead_lettered(queue.dead_lettered);
    q->set_ready(queue.depth - std::min<uint64_t>(queue.depth, queue.in_flight.size()));
    if (auto oldest = queue.OldestEnqueuedMs(); oldest && queue.depth > 0) {
      q->set_oldest_age_ms(std::max<int64_t>(1, now_ms - *oldest));  // 0 means none
    }
    q->set_partner(queue.partner);
    q->set_territory(queue.territory);
    in_flight += queue.in_flight.size();
    dead += queue.dead_lettered;
  }
  stats.set_in_flight(in_flight);
  stats.set_dead_lettered(dead);
  stats.set_sessions(sessions_.size());
  for (const auto& [id, session] : sessions_) {
    ++(*stats.mutable_sessions_by_role())[RoleLabel(session.role)];
  }
  if (replication_) FillPairStats(*stats.mutable_pair());
  stats.set_batches_committed(counters_.batches_committed);
  stats.set_messages_committed(counters_.messages_committed);
  stats.set_errors_answered(counters_.errors_answered);
  for (const auto& [id, peer] : sessions_) {
    if (peer.webhooks_failing_since_ms == 0) continue;
    auto* failing = stats.add_failing_webhooks();
    failing->set_partner(peer.principal);
    failing->set_territory(peer.territory);
    failing->set_failing_since_ms(peer.webhooks_failing_since_ms);
    failing->set_url_host(peer.webhook_url_host);
  }
  stats.set_submitted_total(metrics_.SubmittedTotal());
  stats.set_delivered_total(metrics_.DeliveredTotal());
  stats.set_answered_total(metrics_.AnsweredTotal());
  stats.set_started_at_ms(started_at_ms_);
  stats.set_instance_id(instance_id_);
  const StoreMemoryUsage memory = store_->db().MemoryUsage();
  stats.mutable_store_memory()->set_memtables_bytes(memory.memtables);
  stats.mutable_store_memory()->set_table_readers_bytes(memory.table_readers);
  stats.mutable_store_memory()->set_block_cache_bytes(memory.block_cache);
}

}  // namespace aplus
