#include "metrics/program_metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include <sstream>

namespace aplus {

ProgramMetrics::ProgramMetrics(const std::string& program, const std::string& version,
                               int64_t start_unix_ms)
    : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::BuildGauge()
      .Name("process_start_time_seconds")
      .Help("Start time of the process since the Unix epoch, in seconds.")
      .Register(*registry_)
      .Add({})
      .Set(static_cast<double>(start_unix_ms) / 1000.0);
  prometheus::BuildGauge()
      .Name("aplus_build_info")
      .Help("Always 1; the labels say which program and version run.")
      .Register(*registry_)
      .Add({{"program", program}, {"version", version}})
      .Set(1);
}

std::string ProgramMetrics::Text() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry, const char* name,
                                                   const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

const std::vector<double>& LatencyBucketsSeconds() {
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                               1,      2.5,     5,      10};
  return kBuckets;
}

}  // namespace aplus
