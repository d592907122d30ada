#include "broker/standby_metrics.h"

namespace aplus {

StandbyMetrics::StandbyMetrics(const std::string& version, int64_t start_unix_ms)
    : program_("aplus-broker", version, start_unix_ms),
      role_(GaugeFamily(program_.registry(), "aplus_replication_role",
                        "This node's role in its pair: 1 for the current one (leader, "
                        "standby).")),
      role_leader_(role_.Add({{"role", "leader"}})),
      role_standby_(role_.Add({{"role", "standby"}})),
      following_(GaugeFamily(program_.registry(), "aplus_replication_following",
                             "A standby: 1 while it is attached to a leader and copying.")
                     .Add({})),
      epoch_(GaugeFamily(program_.registry(), "aplus_replication_epoch",
                         "The pair's epoch as this node knows it (a leader's own; a standby's "
                         "highest seen).")
                 .Add({})),
      applied_sequence_(GaugeFamily(program_.registry(), "aplus_replication_applied_sequence",
                                    "A standby: the last RocksDB sequence number it applied (0: "
                                    "no copy yet).")
                            .Add({})) {}

std::string StandbyMetrics::Render(const View& view) {
  role_leader_.Set(0);
  role_standby_.Set(1);
  following_.Set(view.following ? 1 : 0);
  epoch_.Set(static_cast<double>(view.epoch));
  applied_sequence_.Set(static_cast<double>(view.applied_sequence));
  return program_.Text();
}

}  // namespace aplus
