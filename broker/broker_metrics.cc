#include "broker/broker_metrics.h"

namespace aplus {
namespace {

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Histogram* HistogramOf(prometheus::Registry& registry, const char* name,
                                   const char* help, const std::vector<double>& buckets) {
  return &prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

uint64_t Sum(const std::unordered_map<std::string, BrokerMetrics::PartnerCounters>& partners,
             prometheus::Counter* BrokerMetrics::PartnerCounters::*which) {
  double total = 0;
  for (const auto& [id, counters] : partners) total += (counters.*which)->Value();
  return static_cast<uint64_t>(total);
}

// Sets a gauge family to exactly `values`: a label seen before and absent now reads 0 (a
// queue emptied, a role with no session left), never a stale figure.
void SetAll(prometheus::Family<prometheus::Gauge>& family, const std::string& label,
            const std::map<std::string, double>& values,
            std::map<std::string, prometheus::Gauge*>& known) {
  for (auto& [value, gauge] : known) gauge->Set(0);
  for (const auto& [value, figure] : values) {
    auto it = known.find(value);
    if (it == known.end()) it = known.emplace(value, &family.Add({{label, value}})).first;
    it->second->Set(figure);
  }
}

// Every value of the pair's label sets, exported 1 for the current one and 0 for the others
// (so that an alert can compare `{state="paired"} == 0` without the series going absent). A
// value the leader reports outside these still gets its own series (SetAll adds it).
constexpr const char* kPairModes[] = {"strict", "degraded"};
constexpr const char* kPairStates[] = {"paired", "alone", "waiting for a standby"};
constexpr const char* kPairRoles[] = {"leader", "standby"};

template <size_t N>
std::map<std::string, double> OneHot(const char* const (&all)[N], const std::string& current) {
  std::map<std::string, double> values;
  for (const char* value : all) values[value] = 0;
  values[current] = 1;
  return values;
}

}  // namespace

BrokerMetrics::BrokerMetrics(const NetworkConfig& config, const std::string& version,
                             int64_t start_unix_ms)
    : program_("aplus-broker", version, start_unix_ms),
      submitted_(CounterFamily(program_.registry(), "aplus_escalations_submitted_total",
                               "Escalations accepted durably by the broker.")),
      delivered_(CounterFamily(program_.registry(), "aplus_escalations_delivered_total",
                               "Escalations stored by the partner gateway (delivery confirmed).")),
      acknowledged_(CounterFamily(program_.registry(), "aplus_escalations_acknowledged_total",
                                  "Escalations taken by the partner.")),
      answered_(CounterFamily(program_.registry(), "aplus_escalations_answered_total",
                              "Escalations replied to by the partner.")),
      redelivered_(CounterFamily(program_.registry(), "aplus_escalations_redelivered_total",
                                 "Items of a partner's queue sent again after a lease timeout or "
                                 "a reconnection.")),
      dead_lettered_(CounterFamily(program_.registry(), "aplus_escalations_dead_lettered_total",
                                   "Items of a partner's queue parked after too many failed "
                                   "deliveries.")),
      sla_alerts_(CounterFamily(program_.registry(), "aplus_sla_alerts_total",
                                "SLA alerts raised, by kind (warning, breach) and partner.")),
      ready_(GaugeFamily(program_.registry(), "aplus_queue_messages_ready",
                         "Items waiting to be sent, by queue.")),
      unacked_(GaugeFamily(program_.registry(), "aplus_queue_messages_unacked",
                           "Items sent and not yet stored by the gateway, by queue.")),
      oldest_age_(GaugeFamily(program_.registry(), "aplus_queue_oldest_message_age_seconds",
                              "Age of the oldest ready or unacked item, by queue.")),
      cases_(GaugeFamily(program_.registry(), "aplus_cases", "Cases by state.")),
      at_risk_(GaugeFamily(program_.registry(), "aplus_cases_at_risk",
                           "Open cases warned and not yet breached, by partner.")),
      sessions_(GaugeFamily(program_.registry(), "aplus_sessions",
                            "Authenticated sessions, by role.")),
      store_memory_(GaugeFamily(program_.registry(), "aplus_store_memory_bytes",
                                "Memory the broker's RocksDB holds, by kind (memtables, "
                                "table_readers: indexes and filters, block_cache).")),
      submit_durable_(HistogramOf(program_.registry(), "aplus_submit_durable_seconds",
                                  "From a submission's receipt to its Accepted answer leaving "
                                  "after the commit.",
                                  LatencyBucketsSeconds())),
      commit_seconds_(HistogramOf(program_.registry(), "aplus_commit_seconds",
                                  "One group commit: write and fsync.", LatencyBucketsSeconds())),
      group_commit_requests_(HistogramOf(program_.registry(), "aplus_group_commit_requests",
                                         "Requests made durable by one group commit.",
                                         {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
      timers_postponed_(&CounterFamily(program_.registry(), "aplus_sla_timers_postponed_total",
                                       "Due timers (SLA alerts, retention purges) put back a "
                                       "minute because their case record could not be read.")
                             .Add({})) {
  for (const auto& partner : config.partners) {
    const prometheus::Labels labels = {{"partner", partner.id}};
    partners_.emplace(
        partner.id,
        PartnerCounters{&submitted_.Add(labels), &delivered_.Add(labels),
                        &acknowledged_.Add(labels), &answered_.Add(labels),
                        &redelivered_.Add(labels), &dead_lettered_.Add(labels),
                        &sla_alerts_.Add({{"kind", "warning"}, {"partner", partner.id}}),
                        &sla_alerts_.Add({{"kind", "breach"}, {"partner", partner.id}})});
  }
}

BrokerMetrics::PartnerCounters* BrokerMetrics::Partner(const std::string& partner) {
  auto it = partners_.find(partner);
  return it == partners_.end() ? nullptr : &it->second;
}

void BrokerMetrics::ObserveCommit(double seconds, size_t requests) {
  commit_seconds_->Observe(seconds);
  if (requests > 0) group_commit_requests_->Observe(static_cast<double>(requests));
}

uint64_t BrokerMetrics::SubmittedTotal() const {
  return Sum(partners_, &PartnerCounters::submitted);
}
uint64_t BrokerMetrics::DeliveredTotal() const {
  return Sum(partners_, &PartnerCounters::delivered);
}
uint64_t BrokerMetrics::AnsweredTotal() const {
  return Sum(partners_, &PartnerCounters::answered);
}

std::string BrokerMetrics::Render(const wire::Stats& stats) {
  std::map<std::string, double> ready, unacked, oldest, cases, risk, sessions;
  for (const auto& queue : stats.queues()) {
    ready[queue.queue()] = static_cast<double>(queue.ready());
    unacked[queue.queue()] = static_cast<double>(queue.in_flight());
    oldest[queue.queue()] = static_cast<double>(queue.oldest_age_ms()) / 1000.0;
  }
  for (const auto& [state, count] : stats.cases_by_state()) cases[state] = count;
  for (const auto& [partner, count] : stats.cases_at_risk()) risk[partner] = static_cast<double>(count);
  for (const auto& [role, count] : stats.sessions_by_role()) sessions[role] = count;
  const auto& store = stats.store_memory();
  std::map<std::string, double> store_memory = {
      {"memtables", static_cast<double>(store.memtables_bytes())},
      {"table_readers", static_cast<double>(store.table_readers_bytes())},
      {"block_cache", static_cast<double>(store.block_cache_bytes())}};
  SetAll(ready_, "queue", ready, known_ready_);
  SetAll(unacked_, "queue", unacked, known_unacked_);
  SetAll(oldest_age_, "queue", oldest, known_oldest_);
  SetAll(cases_, "state", cases, known_cases_);
  SetAll(at_risk_, "partner", risk, known_risk_);
  SetAll(sessions_, "role", sessions, known_sessions_);
  SetAll(store_memory_, "kind", store_memory, known_store_memory_);
  if (stats.has_pair()) RenderPair(stats.pair());
  return program_.Text();
}

void BrokerMetrics::RenderPair(const wire::PairStats& pair) {
  if (!pair_) {
    auto& registry = program_.registry();
    pair_ = std::unique_ptr<PairGauges>(new PairGauges{
        GaugeFamily(registry, "aplus_replication_mode",
                    "The pair's [availability] mode: 1 for the one in force (strict, degraded)."),
        GaugeFamily(registry, "aplus_replication_state",
                    "The pair's state: 1 for the current one (paired, alone, waiting for a "
                    "standby)."),
        GaugeFamily(registry, "aplus_replication_epoch",
                    "The pair's epoch as this node knows it (a leader's own: the etcd revision "
                    "at which it won; a standby's highest seen).")
            .Add({}),
        GaugeFamily(registry, "aplus_replication_committed_sequence",
                    "This leader's last committed RocksDB sequence number.")
            .Add({}),
        GaugeFamily(registry, "aplus_replication_standby_applied_sequence",
                    "The last sequence number the attached standby applied (0 without one).")
            .Add({}),
        GaugeFamily(registry, "aplus_replication_role",
                    "This node's role in its pair: 1 for the current one (leader, standby)."),
        {},
        {},
        {}});
  }
  SetAll(pair_->mode, "mode", OneHot(kPairModes, pair.mode()), pair_->known_modes);
  SetAll(pair_->state, "state", OneHot(kPairStates, pair.state()), pair_->known_states);
  SetAll(pair_->role, "role", OneHot(kPairRoles, "leader"), pair_->known_roles);
  pair_->epoch.Set(static_cast<double>(pair.epoch()));
  pair_->committed_sequence.Set(static_cast<double>(pair.committed_sequence()));
  pair_->standby_applied_sequence.Set(static_cast<double>(pair.standby_applied_sequence()));
}

}  // namespace aplus
