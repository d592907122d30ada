// Rates (per second) computed from successive readings of counters that only grow, such as
// Stats.submitted_total: the broker gives totals, the overview shows rates in and out.
// A reading lower than the previous one means the broker restarted (its totals count from its
// start): that interval gives no rate, the next one does.
//
// Thread rules: one thread. Times are passed in (tests need no sleep).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace aplus {

class RateMeter {
 public:
  // Readings closer together than this do not make a new interval (a page refreshed twice).
  static constexpr int64_t kMinIntervalMs = 1000;

  // Records the totals read at `now_ms`; returns the rate per second of each counter over the
  // latest interval of at least kMinIntervalMs, or nullopt for a counter without one yet.
  std::map<std::string, std::optional<double>> Record(int64_t now_ms,
                                                      const std::map<std::string, uint64_t>& totals) {
    if (have_previous_ && now_ms - previous_ms_ >= kMinIntervalMs) {
      double seconds = static_cast<double>(now_ms - previous_ms_) / 1000.0;
      rates_.clear();
      for (const auto& [name, total] : totals) {
        auto before = previous_.find(name);
        if (before == previous_.end() || total < before->second) continue;  // restarted
        rates_[name] = static_cast<double>(total - before->second) / seconds;
      }
    }
    if (!have_previous_ || now_ms - previous_ms_ >= kMinIntervalMs) {
      previous_ = totals;
      previous_ms_ = now_ms;
      have_previous_ = true;
    }
    std::map<std::string, std::optional<double>> out;
    for (const auto& [name, total] : totals) {
      auto rate = rates_.find(name);
      out[name] = rate == rates_.end() ? std::nullopt : std::optional<double>(rate->second);
    }
    return out;
  }

 private:
  bool have_previous_ = false;
  int64_t previous_ms_ = 0;
  std::map<std::string, uint64_t> previous_;
  std::map<std::string, double> rates_;
};

}  // namespace aplus
