// The retention sweep both gateways share: when a sweep is due (at the first loop turn, then
// every RetentionSweepIntervalMs of `[retention] personal_data_after`), the gateway's own
// erasure runs (the agent gateway's cache, the partner gateway's inbox and spool); what it
// rewrote is handed to a PurgeCompactor through a CompactionDebt (at most once per
// `[retention] compaction_interval`, off the loop thread) so that the overwritten values leave
// the files, together with the outbox family, which held the requests of those cases before
// they were forwarded. The erasure's batch durably marks a compaction as owed; the mark is
// cleared once the compactor has caught up, so a compaction owed when the process stopped runs
// at the next start (Start).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/fail_stop.h"
#include "common/network_config.h"
#include "common/status.h"
#include "store/compaction_debt.h"
#include "store/rocks_db.h"

namespace aplus {

// Thread rules: the owning gateway's loop thread only (the compactor has its own thread).
class RetentionSweeper {
 public:
  // What one run of the gateway's erasure did.
  struct Erasure {
    size_t cases = 0;              // cases erased (logged)
    std::vector<KeyRange> ranges;  // what the erasure rewrote (empty = nothing to compact)
    bool more = false;             // more is due already: sweep again at the next turn
  };
  struct Hooks {
    // Erases the personal data due now (one bounded batch). An error is a failed durable
    // write: the FailStop trips. Hooks that compact by themselves (Owe) may report 0 cases.
    std::function<Result<Erasure>()> erase_due;
    // The durable "compaction owed" mark, read at start and cleared once compacted.
    std::function<Result<bool>()> compaction_owed;
    std::function<Status()> clear_compaction_owed;
    // Every range an erasure may rewrite: compacted at start when the mark was left set.
    std::function<std::vector<KeyRange>()> personal_data_ranges;
  };

  // `db` (opened with kOutboxFamily) and `fail_stop` must outlive the sweeper. `what` names
  // the copies in logs ("cached case(s)"). Runs a compaction still owed from before.
  static Result<std::unique_ptr<RetentionSweeper>> Start(RocksDb& db, FailStop& fail_stop,
                                                         const RetentionSettings& settings,
                                                         std::string what, Hooks hooks);

  // Every loop turn: settles the compaction and sweeps when due (returns at once otherwise).
  void Tick();
  // An erasure made outside a sweep (the partner's erase notices) is compacted too: call once
  // its batch, holding the mark, is committed. The outbox family is added.
  void Owe(std::vector<KeyRange> ranges);

 private:
  RetentionSweeper(RocksDb& db, FailStop& fail_stop, const RetentionSettings& settings,
                   std::string what, Hooks hooks);

  RocksDb& db_;
  FailStop& fail_stop_;
  const RetentionSettings settings_;
  const std::string what_;
  const Hooks hooks_;
  CompactionDebt debt_;
  int64_t next_sweep_ms_ = 0;  // steady clock; 0 = at the first loop turn
};

}  // namespace aplus
