// What a pair's standby exports on GET /metrics (docs/METRICS.md): the program's own families
// (metrics/program_metrics.h) and its side of the aplus_replication_* gauges, so that operators
// see both nodes of a pair, and a standby that lags, stopped following or is gone.
//
// Thread rules: the standby's loop thread only.
#pragma once

#include <prometheus/gauge.h>

#include <cstdint>
#include <string>

#include "metrics/program_metrics.h"

namespace aplus {

class StandbyMetrics {
 public:
  StandbyMetrics(const std::string& version, int64_t start_unix_ms);

  // The standby's state at one scrape.
  struct View {
    bool following = false;        // attached to a leader's replication endpoint
    int64_t epoch = 0;             // the highest epoch seen (its copy's, or a newer leader's)
    uint64_t applied_sequence = 0; // the last sequence applied here (0: no copy)
  };
  // The text exposition of everything, set from `view`.
  std::string Render(const View& view);

 private:
  ProgramMetrics program_;
  prometheus::Family<prometheus::Gauge>& role_;
  prometheus::Gauge& role_leader_;
  prometheus::Gauge& role_standby_;
  prometheus::Gauge& following_;
  prometheus::Gauge& epoch_;
  prometheus::Gauge& applied_sequence_;
};

}  // namespace aplus
