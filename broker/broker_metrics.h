// The broker's Prometheus metrics (docs/METRICS.md, program "broker"), on ProgramMetrics
// (metrics/program_metrics.h). Counters are incremented where their event happens; gauges
// mirror the broker's state and are set from one wire::Stats (Broker::FillStats, which also
// answers GetStats) just before the text is rendered, so that `aplus stats` and a scrape read
// the same numbers.
//
// Hot path: a partner's counters are looked up once (PartnerCounters, cached by partner id and
// by queue in QueueState) and then incremented through pointers: no Family::Add per message.
// Labels are bounded sets only (partners of the network config, queues, states, roles, kinds).
//
// A pair's leader (docs/AVAILABILITY.md) also exports the aplus_replication_* gauges, from
// Stats.pair: their families are registered at the first render whose Stats has a pair, so a
// single broker shows none of them (not even their HELP lines).
//
// Thread rules: owned by the broker's loop thread, which is the only one to call it (the
// /metrics handler runs on that thread too). prometheus-cpp's own atomics are the only
// synchronisation.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "aplus.pb.h"
#include "common/network_config.h"
#include "metrics/program_metrics.h"

namespace aplus {

class BrokerMetrics {
 public:
  // The counters of one partner (label partner="<id>").
  struct PartnerCounters {
    prometheus::Counter* submitted;
    prometheus::Counter* delivered;
    prometheus::Counter* acknowledged;
    prometheus::Counter* answered;
    prometheus::Counter* redelivered;
    prometheus::Counter* dead_lettered;
    prometheus::Counter* warnings;  // aplus_sla_alerts_total{kind="warning"}
    prometheus::Counter* breaches;  // aplus_sla_alerts_total{kind="breach"}
  };

  // Registers every family and the counters of each partner of `config` (at zero, so that a
  // rate over a partner that has seen nothing yet is 0 rather than absent).
  BrokerMetrics(const NetworkConfig& config, const std::string& version, int64_t start_unix_ms);

  // The counters of `partner`: nullptr for an id the network config does not know (no label
  // is ever made from unchecked input).
  PartnerCounters* Partner(const std::string& partner);

  // One group commit (write + fsync) that took `seconds` for `requests` requests.
  void ObserveCommit(double seconds, size_t requests);
  // A submission, from its receipt to its Accepted answer leaving after the commit.
  void ObserveSubmitDurable(double seconds) { submit_durable_->Observe(seconds); }
  // A due timer (an SLA alert's, a retention purge's) put back because its case record could
  // not be read (broker_sla.cc): the record needs a repair or a restore.
  void CountTimerPostponed() { timers_postponed_->Increment(); }

  // Since this process started, over every partner (Stats' *_total).
  uint64_t SubmittedTotal() const;
  uint64_t DeliveredTotal() const;
  uint64_t AnsweredTotal() const;

  // Sets the gauges from `stats` (FillStats), then renders everything in the text format.
  std::string Render(const wire::Stats& stats);

 private:
  // The aplus_replication_* gauges, made by RenderPair on a pair's leader only.
  struct PairGauges {
    prometheus::Family<prometheus::Gauge>& mode;
    prometheus::Family<prometheus::Gauge>& state;
    prometheus::Gauge& epoch;
    prometheus::Gauge& committed_sequence;
    prometheus::Gauge& standby_applied_sequence;
    prometheus::Family<prometheus::Gauge>& role;  // leader 1, standby 0 (as a standby exports)
    std::map<std::string, prometheus::Gauge*> known_modes, known_states, known_roles;
  };

  // Registers the aplus_replication_* families (the first time) and sets them from `pair`.
  void RenderPair(const wire::PairStats& pair);

  ProgramMetrics program_;
  prometheus::Family<prometheus::Counter>& submitted_;
  prometheus::Family<prometheus::Counter>& delivered_;
  prometheus::Family<prometheus::Counter>& acknowledged_;
  prometheus::Family<prometheus::Counter>& answered_;
  prometheus::Family<prometheus::Counter>& redelivered_;
  prometheus::Family<prometheus::Counter>& dead_lettered_;
  prometheus::Family<prometheus::Counter>& sla_alerts_;
  prometheus::Family<prometheus::Gauge>& ready_;
  prometheus::Family<prometheus::Gauge>& unacked_;
  prometheus::Family<prometheus::Gauge>& oldest_age_;
  prometheus::Family<prometheus::Gauge>& cases_;
  prometheus::Family<prometheus::Gauge>& at_risk_;
  prometheus::Family<prometheus::Gauge>& sessions_;
  prometheus::Family<prometheus::Gauge>& store_memory_;
  prometheus::Histogram* submit_durable_;
  prometheus::Histogram* commit_seconds_;
  prometheus::Histogram* group_commit_requests_;
  prometheus::Counter* timers_postponed_;
  std::unordered_map<std::string, PartnerCounters> partners_;
  std::unique_ptr<PairGauges> pair_;
  // The gauges made so far, by label value (Render sets those no longer reported to 0).
  std::map<std::string, prometheus::Gauge*> known_ready_, known_unacked_, known_oldest_,
      known_cases_, known_risk_, known_sessions_, known_store_memory_;
};

}  // namespace aplus
