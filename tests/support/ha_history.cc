#include "tests/support/ha_history.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <utility>

namespace aplus::testing {
namespace {

std::string Seconds(std::chrono::milliseconds duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", static_cast<double>(duration.count()) / 1000.0);
  return text;
}

std::string Join(const std::set<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ",") + (item.empty() ? "?" : item);
  return text;
}

}  // namespace

void HaHistory::RecordSubmissionAcknowledged(const std::string& gateway,
                                             const std::string& idempotency_key,
                                             const std::string& case_id, int64_t epoch,
                                             const std::string& node, HaClock::time_point at) {
  std::lock_guard lock(mutex_);
  acknowledgements_.push_back({gateway, idempotency_key, case_id, node, epoch, at});
}

void HaHistory::RecordDelivered(const std::string& case_id, HaClock::time_point) {
  std::lock_guard lock(mutex_);
  delivered_.insert(case_id);
}

void HaHistory::RecordReplyAcknowledged(const std::string& case_id, const std::string& reply_key,
                                        HaClock::time_point) {
  std::lock_guard lock(mutex_);
  replies_acknowledged_[case_id].insert(reply_key);
}

void HaHistory::RecordReplySeen(const std::string& case_id, const std::string& reply_key,
                                const std::string& occurrence, HaClock::time_point) {
  std::lock_guard lock(mutex_);
  replies_seen_[{case_id, reply_key}].insert(occurrence);
}

void HaHistory::RecordAlertSeen(const std::string& alert_id, const std::string& occurrence,
                                HaClock::time_point) {
  std::lock_guard lock(mutex_);
  alerts_seen_[alert_id].insert(occurrence);
}

void HaHistory::RecordEpoch(const std::string& observer, const std::string& node, int64_t epoch,
                            HaClock::time_point at) {
  std::lock_guard lock(mutex_);
  epochs_.push_back({observer, node, epoch, at});
}

void HaHistory::RecordLeaderKilled(const std::string& node, HaClock::time_point at) {
  std::lock_guard lock(mutex_);
  kills_.push_back({node, at});
}

void HaHistory::SetSurvivor(const std::string& node) {
  std::lock_guard lock(mutex_);
  survivor_read_ = true;
  survivor_ = node;
}

void HaHistory::AddSurvivorCase(const std::string& case_id, const std::string& gateway,
                                const std::string& idempotency_key, int copies) {
  std::lock_guard lock(mutex_);
  survivor_read_ = true;
  auto& stored = survivor_cases_[case_id];
  if (!gateway.empty()) stored.gateway = gateway;
  if (!idempotency_key.empty()) stored.idempotency_key = idempotency_key;
  stored.copies += copies;
}

void HaHistory::AddSurvivorAlert(const std::string& alert_id, int copies) {
  std::lock_guard lock(mutex_);
  survivor_read_ = true;
  survivor_alerts_[alert_id] += copies;
}

HaSummary HaHistory::Summary() const {
  std::lock_guard lock(mutex_);
  HaSummary summary;
  auto violation = [&](const std::string& line) {
    ++summary.violation_count;
    if (summary.violations.size() < options_.max_violation_lines) summary.violations.push_back(line);
  };
  summary.survivor = survivor_;
  summary.survivor_cases = survivor_read_ ? static_cast<int64_t>(survivor_cases_.size()) : -1;
  summary.delivered = static_cast<int64_t>(delivered_.size());

  // Escalations: one (gateway, idempotency key) is one case, everywhere.
  // An acknowledgement without a case id (accepted locally by a gateway, QUEUED_LOCALLY) names
  // its case through its key: another acknowledgement of the key, or the survivor's case.
  std::map<std::pair<std::string, std::string>, std::set<std::string>> cases_of_key;
  for (const auto& ack : acknowledgements_) {
    auto& cases = cases_of_key[{ack.gateway, ack.idempotency_key}];
    if (!ack.case_id.empty()) cases.insert(ack.case_id);
  }
  summary.acknowledged = static_cast<int64_t>(cases_of_key.size());
  std::set<std::pair<std::string, std::string>> duplicated_keys;
  for (const auto& [key, cases] : cases_of_key) {
    if (cases.size() > 1) {
      duplicated_keys.insert(key);
      violation("duplicated: " + key.first + " key " + key.second + " acknowledged as cases " +
                Join(cases));
    }
  }
  std::map<std::pair<std::string, std::string>, std::set<std::string>> stored_cases_of_key;
  for (const auto& [case_id, stored] : survivor_cases_) {
    if (!stored.idempotency_key.empty()) {
      stored_cases_of_key[{stored.gateway, stored.idempotency_key}].insert(case_id);
    }
  }
  for (const auto& [key, cases] : stored_cases_of_key) {
    if (cases.size() > 1 && duplicated_keys.insert(key).second) {
      violation("duplicated: " + key.first + " key " + key.second + " stored as cases " +
                Join(cases) + " on " + survivor_);
    }
  }
  int64_t duplicated_cases = 0;
  for (const auto& [case_id, stored] : survivor_cases_) {
    if (stored.copies > 1) {
      ++duplicated_cases;
      violation("duplicated: case " + case_id + " present " + std::to_string(stored.copies) +
                " times on " + survivor_);
    }
  }
  summary.duplicated = static_cast<int64_t>(duplicated_keys.size()) + duplicated_cases;

  std::set<std::string> acknowledged_cases;
  for (const auto& [key, cases] : cases_of_key) {
    if (!cases.empty()) {
      acknowledged_cases.insert(cases.begin(), cases.end());
      continue;
    }
    auto stored = stored_cases_of_key.find(key);
    if (stored != stored_cases_of_key.end()) {
      acknowledged_cases.insert(stored->second.begin(), stored->second.end());
      continue;
    }
    ++summary.lost;
    violation("lost: " + key.first + " key " + key.second + " accepted, " +
              (survivor_read_ ? "no case for it on the survivor " + survivor_
                              : std::string("its case never known")));
  }
  for (const auto& case_id : acknowledged_cases) {
    if (survivor_read_ ? survivor_cases_.count(case_id) == 0 : delivered_.count(case_id) == 0) {
      ++summary.lost;
      violation("lost: case " + case_id + " acknowledged, " +
                (survivor_read_ ? "absent on the survivor " + survivor_
                                : std::string("never delivered")));
    }
  }
  if (survivor_read_) {
    for (const auto& [case_id, stored] : survivor_cases_) {
      if (delivered_.count(case_id) == 0) {
        ++summary.stuck;
        violation("stuck: case " + case_id + " present on " + survivor_ + ", never delivered");
      }
    }
  }

  // Replies: each acknowledged one reaches its contact point, once.
  for (const auto& [case_id, keys] : replies_acknowledged_) {
    for (const auto& key : keys) {
      ++summary.replies_acknowledged;
      if (replies_seen_.count({case_id, key}) == 0) {
        ++summary.replies_lost;
        violation("reply lost: " + key + " of case " + case_id + " acknowledged, never seen at " +
                  "its contact point");
      }
    }
  }
  for (const auto& [reply, occurrences] : replies_seen_) {
    if (occurrences.size() > 1) {
      ++summary.replies_duplicated;
      violation("reply duplicated: " + reply.second + " of case " + reply.first + " seen as " +
                Join(occurrences));
    }
  }

  // Alerts: an id is raised once.
  std::set<std::string> duplicated_alerts;
  for (const auto& [id, occurrences] : alerts_seen_) {
    if (occurrences.size() > 1) {
      duplicated_alerts.insert(id);
      violation("alert raised twice: " + id + " seen as " + Join(occurrences));
    }
  }
  for (const auto& [id, copies] : survivor_alerts_) {
    if (copies > 1 && duplicated_alerts.insert(id).second) {
      violation("alert raised twice: " + id + " stored " + std::to_string(copies) + " times on " +
                survivor_);
    }
  }
  summary.alerts_seen = static_cast<int64_t>(alerts_seen_.size());
  summary.alerts_duplicated = static_cast<int64_t>(duplicated_alerts.size());

  // Epochs: one node per epoch; each observer sees them only increase; no acknowledgement from
  // an epoch once a newer one has acknowledged.
  for (const auto& observation : epochs_) {
    auto& nodes = summary.epochs[observation.epoch];
    if (!observation.node.empty()) nodes.insert(observation.node);
  }
  std::map<int64_t, HaClock::time_point> first_ack_of_epoch;
  for (const auto& ack : acknowledgements_) {
    if (ack.epoch == 0) continue;
    auto& nodes = summary.epochs[ack.epoch];
    if (!ack.node.empty()) nodes.insert(ack.node);
    auto [it, inserted] = first_ack_of_epoch.emplace(ack.epoch, ack.at);
    if (!inserted && ack.at < it->second) it->second = ack.at;
  }
  for (const auto& [epoch, nodes] : summary.epochs) {
    if (nodes.size() > 1) {
      ++summary.epoch_violations;
      violation("epoch " + std::to_string(epoch) + " led by two nodes: " + Join(nodes));
    }
  }
  std::map<std::string, int64_t> highest_of_observer;
  for (const auto& observation : epochs_) {
    auto [it, inserted] = highest_of_observer.emplace(observation.observer, observation.epoch);
    if (inserted) continue;
    if (observation.epoch < it->second) {
      ++summary.epoch_violations;
      violation("epoch went back: " + observation.observer + " saw epoch " +
                std::to_string(observation.epoch) + " (" + observation.node + ") after " +
                std::to_string(it->second));
    } else {
      it->second = observation.epoch;
    }
  }
  for (const auto& ack : acknowledgements_) {
    if (ack.epoch == 0) continue;
    for (auto it = first_ack_of_epoch.upper_bound(ack.epoch); it != first_ack_of_epoch.end(); ++it) {
      if (ack.at > it->second + options_.late_acknowledgement_grace) {
        ++summary.late_acknowledgements;
        violation("late acknowledgement: case " + ack.case_id + " acknowledged in epoch " +
                  std::to_string(ack.epoch) + (ack.node.empty() ? "" : " by " + ack.node) +
                  " after epoch " + std::to_string(it->first) + " had acknowledged");
        break;
      }
    }
  }

  // Failovers: from each kill to the first acknowledgement by another node, before the next
  // kill.
  auto kills = kills_;
  std::sort(kills.begin(), kills.end(), [](const Kill& a, const Kill& b) { return a.at < b.at; });
  auto acks = acknowledgements_;
  std::sort(acks.begin(), acks.end(),
            [](const Acknowledgement& a, const Acknowledgement& b) { return a.at < b.at; });
  summary.failovers = static_cast<int64_t>(kills.size());
  for (size_t i = 0; i < kills.size(); ++i) {
    std::optional<HaClock::time_point> until;
    if (i + 1 < kills.size()) until = kills[i + 1].at;
    std::optional<std::chrono::milliseconds> took;
    for (const auto& ack : acks) {
      if (ack.at <= kills[i].at) continue;
      if (until && ack.at >= *until) break;
      if (!ack.node.empty() && ack.node == kills[i].node) continue;
      took = std::chrono::duration_cast<std::chrono::milliseconds>(ack.at - kills[i].at);
      break;
    }
    if (!took) {
      ++summary.failovers_unfinished;
      violation("failover " + std::to_string(i + 1) + " (" + kills[i].node +
                " killed) never finished: no Accepted by another node after it");
      continue;
    }
    summary.failover_times.push_back(*took);
    if (options_.failover_limit.count() > 0 && *took > options_.failover_limit) {
      ++summary.failovers_over_limit;
      violation("failover " + std::to_string(i + 1) + " (" + kills[i].node + " killed) took " +
                Seconds(*took) + ", over the limit of " + Seconds(options_.failover_limit));
    }
  }
  if (!summary.failover_times.empty()) {
    auto sorted = summary.failover_times;
    std::sort(sorted.begin(), sorted.end());
    summary.failover_max = sorted.back();
    summary.failover_p50 = sorted[(sorted.size() - 1) / 2];  // nearest rank
  }
  return summary;
}

std::string HaSummary::ToText() const {
  std::ostringstream text;
  auto row = [&](const std::string& name, const std::string& value) {
    text << "  " << name << std::string(name.size() < 36 ? 36 - name.size() : 0, ' ') << " "
         << value << "\n";
  };
  text << "Failover history (Jepsen-style summary)\n";
  row("acknowledged submissions", std::to_string(acknowledged));
  row("lost", std::to_string(lost));
  row("duplicated", std::to_string(duplicated));
  row("stuck (present, not delivered)", std::to_string(stuck));
  row("delivered to partners", std::to_string(delivered));
  row("cases on the survivor", survivor_cases < 0 ? "not read"
                                                  : std::to_string(survivor_cases) +
                                                        (survivor.empty() ? "" : " (" + survivor + ")"));
  row("replies acknowledged / lost / twice", std::to_string(replies_acknowledged) + " / " +
                                                 std::to_string(replies_lost) + " / " +
                                                 std::to_string(replies_duplicated));
  row("alerts seen / raised twice",
      std::to_string(alerts_seen) + " / " + std::to_string(alerts_duplicated));
  // The first and last few: 200 failovers make 200 epochs.
  constexpr size_t kEpochsShown = 12;
  std::string epochs_text;
  size_t index = 0;
  for (const auto& [epoch, nodes] : epochs) {
    ++index;
    if (epochs.size() > kEpochsShown && index > kEpochsShown / 2 &&
        index <= epochs.size() - kEpochsShown / 2) {
      if (index == kEpochsShown / 2 + 1) epochs_text += ", ...";
      continue;
    }
    epochs_text += (epochs_text.empty() ? "" : ", ") + std::to_string(epoch) +
                   (nodes.empty() ? "" : " (" + Join(nodes) + ")");
  }
  if (epochs.size() > kEpochsShown) epochs_text += " (" + std::to_string(epochs.size()) + " in all)";
  row("epochs seen", epochs_text.empty() ? "none" : epochs_text);
  row("epoch violations / late acks",
      std::to_string(epoch_violations) + " / " + std::to_string(late_acknowledgements));
  std::string failover_text = std::to_string(failovers) + " kill(s)";
  if (failover_max) {
    failover_text += ", leader death -> first Accepted: max " + Seconds(*failover_max) + ", p50 " +
                     Seconds(*failover_p50);
  }
  if (failovers_unfinished > 0) failover_text += ", " + std::to_string(failovers_unfinished) + " unfinished";
  if (failovers_over_limit > 0) failover_text += ", " + std::to_string(failovers_over_limit) + " over the limit";
  row("failovers", failover_text);
  row("verdict", ok() ? "OK" : "VIOLATIONS (" + std::to_string(violation_count) + ")");
  for (const auto& line : violations) text << "  - " << line << "\n";
  if (violation_count > static_cast<int64_t>(violations.size())) {
    text << "  - ... and " << (violation_count - static_cast<int64_t>(violations.size()))
         << " more\n";
  }
  return text.str();
}

}  // namespace aplus::testing
