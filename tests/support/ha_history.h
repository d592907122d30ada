// Test support: the checker of the failover tests (issue 12, docs/AVAILABILITY.md), in the
// spirit of Jepsen. A test records what its clients saw while it kills, stops and cuts the pair
// of brokers, then what the survivor holds at the end; Summary() says whether any promise was
// broken and ToText() prints the table the issue asks for.
//
// What is recorded (times are the test's steady clock; each Record* defaults `at` to now):
//   submission acknowledged  a gateway (or a client in its place) got Accepted for an
//                            idempotency key, naming a case; with the epoch and the node that
//                            acknowledged when the test knows them (0 / "" otherwise). An empty
//                            case id is a submission a gateway accepted locally (QUEUED_LOCALLY):
//                            its case is found by (gateway, key) on the survivor
//   delivered                the case reached its partner (seen in the partner's inbox)
//   reply acknowledged       a partner's reply to a case was accepted (a reply key names it)
//   reply seen               that reply reached the case's contact point; `occurrence`
//                            distinguishes two deliveries of it (e.g. the mailbox event's cursor)
//   alert seen               an alert id, with `occurrence` distinguishing two raisings of it
//                            (e.g. the alert's stored sequence): the same (id, occurrence) seen
//                            twice is one alert seen twice, two occurrences are two raisings
//   epoch observed           an observer (a client, a gateway, the test's etcd reader) saw
//                            `node` lead in `epoch`
//   leader killed            the instant the test killed (or stopped) the leader
//   final state              the cases present on the survivor (with their idempotency key when
//                            known, and how many copies of each) and its stored alerts
//
// The rules (each breach is one line in Summary().violations):
//   lost                acknowledged, and absent on the survivor; or, when the survivor's cases
//                       were not read, never delivered; accepted locally with no case for its
//                       (gateway, key) anywhere
//   duplicated          one (gateway, idempotency key) acknowledged or stored as two cases, or a
//                       case present in two copies
//   stuck               present on the survivor (acknowledged or not) but never delivered
//   replies lost        a reply acknowledged that never reached its contact point
//   replies duplicated  a reply seen with two occurrences
//   alerts duplicated   one alert id with two occurrences, or stored twice on the survivor
//   epochs              per observer, an epoch lower than one it saw before; one epoch led
//                       (observed or acknowledging) by two nodes; an acknowledgement in an
//                       epoch lower than one that had already acknowledged earlier (an old
//                       leader acknowledging after a new one did)
//   failover            each kill is followed by an acknowledgement (the first Accepted of the
//                       new leader); its delay is the failover time; a kill never followed by one
//                       is "unfinished"; with `failover_limit`, a longer failover is a breach
//
// Thread rules: every Record* and Set* may be called from any thread (one mutex); Summary()
// reads a consistent copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aplus::testing {

using HaClock = std::chrono::steady_clock;

struct HaCheckOptions {
  // 0 = no limit; else a failover (kill -> first Accepted) longer than this is a violation.
  std::chrono::milliseconds failover_limit{0};
  // Tolerance for the order in which concurrent client threads record acknowledgements: an
  // acknowledgement of an older epoch recorded less than this after a newer epoch's first
  // acknowledgement is not counted as a late one.
  std::chrono::milliseconds late_acknowledgement_grace{0};
  // At most this many violation lines are kept (the counts stay exact).
  size_t max_violation_lines = 50;
};

struct HaSummary {
  int64_t acknowledged = 0;  // distinct (gateway, idempotency key) acknowledged
  int64_t lost = 0;
  int64_t duplicated = 0;
  int64_t stuck = 0;
  int64_t delivered = 0;     // distinct cases seen at their partner
  int64_t survivor_cases = 0;  // -1 when the survivor's cases were not read
  int64_t replies_acknowledged = 0;
  int64_t replies_lost = 0;
  int64_t replies_duplicated = 0;
  int64_t alerts_seen = 0;  // distinct alert ids
  int64_t alerts_duplicated = 0;
  // Every epoch seen, ascending, each with the node(s) that led it.
  std::map<int64_t, std::set<std::string>> epochs;
  int64_t epoch_violations = 0;
  int64_t late_acknowledgements = 0;
  int64_t failovers = 0;  // kills recorded
  int64_t failovers_unfinished = 0;
  std::vector<std::chrono::milliseconds> failover_times;  // one per finished failover, in order
  std::optional<std::chrono::milliseconds> failover_max, failover_p50;
  int64_t failovers_over_limit = 0;
  std::string survivor;
  // One line per breach, at most HaCheckOptions::max_violation_lines of them.
  std::vector<std::string> violations;
  int64_t violation_count = 0;

  // True when no promise was broken: nothing lost, duplicated or stuck, every reply arrived
  // once, no alert twice, epochs consistent, every failover finished (and within the limit).
  bool ok() const { return violation_count == 0; }
  // The summary table, then the violations (if any), one per line.
  std::string ToText() const;
};

class HaHistory {
 public:
  explicit HaHistory(HaCheckOptions options = {}) : options_(options) {}

  void RecordSubmissionAcknowledged(const std::string& gateway, const std::string& idempotency_key,
                                    const std::string& case_id, int64_t epoch = 0,
                                    const std::string& node = "", HaClock::time_point at = HaClock::now());
  void RecordDelivered(const std::string& case_id, HaClock::time_point at = HaClock::now());
  void RecordReplyAcknowledged(const std::string& case_id, const std::string& reply_key,
                               HaClock::time_point at = HaClock::now());
  void RecordReplySeen(const std::string& case_id, const std::string& reply_key,
                       const std::string& occurrence, HaClock::time_point at = HaClock::now());
  void RecordAlertSeen(const std::string& alert_id, const std::string& occurrence,
                       HaClock::time_point at = HaClock::now());
  void RecordEpoch(const std::string& observer, const std::string& node, int64_t epoch,
                   HaClock::time_point at = HaClock::now());
  void RecordLeaderKilled(const std::string& node, HaClock::time_point at = HaClock::now());

  // The final state, read from the survivor once the network has settled. A case may be added
  // several times (e.g. once per listing that shows it): `copies` add up.
  void SetSurvivor(const std::string& node);
  void AddSurvivorCase(const std::string& case_id, const std::string& gateway = "",
                       const std::string& idempotency_key = "", int copies = 1);
  void AddSurvivorAlert(const std::string& alert_id, int copies = 1);

  HaSummary Summary() const;

 private:
  struct Acknowledgement {
    std::string gateway, idempotency_key, case_id, node;
    int64_t epoch = 0;
    HaClock::time_point at;
  };
  struct EpochObservation {
    std::string observer, node;
    int64_t epoch = 0;
    HaClock::time_point at;
  };
  struct Kill {
    std::string node;
    HaClock::time_point at;
  };
  struct SurvivorCase {
    std::string gateway, idempotency_key;
    int copies = 0;
  };

  const HaCheckOptions options_;
  mutable std::mutex mutex_;
  // All guarded by mutex_.
  std::vector<Acknowledgement> acknowledgements_;
  std::set<std::string> delivered_;
  std::map<std::string, std::set<std::string>> replies_acknowledged_;  // case -> reply keys
  std::map<std::pair<std::string, std::string>, std::set<std::string>> replies_seen_;
  std::map<std::string, std::set<std::string>> alerts_seen_;  // id -> occurrences
  std::vector<EpochObservation> epochs_;
  std::vector<Kill> kills_;
  bool survivor_read_ = false;
  std::string survivor_;
  std::map<std::string, SurvivorCase> survivor_cases_;
  std::map<std::string, int> survivor_alerts_;
};

}  // namespace aplus::testing
