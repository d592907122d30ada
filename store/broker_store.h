// The broker's durable state: typed reads and writes over the layout of store/KEY_LAYOUT.md.
// Writes accumulate in one pending WriteBatch and become durable together at Commit() (group
// commit). Reads see the pending writes of the current batch too, so a turn of the broker's
// loop can, say, create a case and acknowledge its delivery before the single fsync.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aplus.pb.h"
#include "records.pb.h"
#include "store/recent_values.h"
#include "store/rocks_db.h"
#include "store/staged_batch.h"

namespace aplus {

// The options of a pair's databases (docs/AVAILABILITY.md): the write-ahead log archived, so a
// standby can catch up, for at most `log_ttl_seconds` (the retention's compaction interval).
RocksDbOptions PairedRocksDbOptions(uint64_t log_ttl_seconds);

// Thread rules: owned and used by the broker's loop thread only, but for CommittedCases(),
// which store/case_scanner.h calls from its worker (it reads what Open set, and RocksDB makes
// iterators from any thread).
class BrokerStore {
 public:
  struct QueueEntry {
    uint64_t sequence = 0;
    records::QueueItem item;
  };
  struct Timer {
    int64_t due_ms = 0;
    std::string case_id;
    char kind = 0;           // keys::kTimerWarning, kTimerBreach or kTimerPurge
    uint32_t generation = 0; // deadline generation (SLA timers); 0 for purge timers
    std::string key;         // as stored (set by DueTimers): a key of an earlier layout too
  };
  struct DeadLetterEntry {
    std::string queue;      // the live queue it was parked from (without the "dead/" prefix)
    uint64_t sequence = 0;  // its sequence in that queue, kept in the dead-letter queue
    records::QueueItem item;
  };
  struct QueueInfo {
    uint64_t next_sequence = 1;  // sequence the next appended item gets
    uint64_t depth = 0;          // items currently stored in the queue
  };

  // Opens or creates the database in `path`. UNAVAILABLE when RocksDB cannot open it;
  // INTERNAL when a stored counter (case, alert or audit counter, per-state counts, open cases
  // per contact point, the compaction mark) cannot be read or is malformed: the broker must not
  // serve then, since a case number read as 0 would be handed out again.
  static Result<std::unique_ptr<BrokerStore>> Open(const std::string& path,
                                                   const RocksDbOptions& options = {});
  // The column families, in the order Open creates them: a standby opens its copy with the
  // same list (a WriteBatch names families by id, so both databases must agree).
  static std::vector<std::string> FamilyNames();
  // The broker's database as Open opens it (every family; `meta`'s counters updated in place),
  // without reading it: a standby applies its leader's batches to it.
  static Result<std::unique_ptr<RocksDb>> OpenDatabase(const std::string& path,
                                                       const RocksDbOptions& options);

  // --- reads (committed state plus this batch's pending writes) ---
  // Every read returns its error as a value: UNAVAILABLE when RocksDB fails (a read error, an
  // iterator whose status is not OK), INTERNAL when a stored value cannot be parsed where the
  // read cannot go on without it. Nothing is ever read as "absent" or 0 because it failed.
  Result<std::optional<records::CaseRecord>> GetCase(const std::string& case_id);
  // The case's content (body, citizen name) from the content family; nullopt when the case
  // has none there (a record of the first layout holds it itself, or it was purged).
  Result<std::optional<records::CaseContent>> GetContent(const std::string& case_id);
  Result<std::vector<wire::Event>> GetEvents(const std::string& case_id);
  Result<std::optional<records::DedupEntry>> GetDedup(const std::string& principal,
                                                      const std::string& key);
  // Case ids of a contact point in submission order (case number), after the case `after`
  // (exclusive; any case id, listed or not, has a place in that order), at most `limit`.
  // Committed state only.
  Result<std::vector<std::string>> ListCaseIds(const std::string& contact_point,
                                               const std::string& after, size_t limit);
  // Up to `limit` committed items of `queue` with sequence >= `from` (minus this batch's
  // deletes). An item that cannot be parsed is skipped (and logged): it stays stored for an
  // operator, and the items behind it are still served.
  Result<std::vector<QueueEntry>> ReadQueue(const std::string& queue, uint64_t from,
                                            size_t limit);
  // One item (this batch's writes and deletes included), nullopt if absent. INTERNAL when
  // stored but unparsable.
  Result<std::optional<records::QueueItem>> GetQueueItem(const std::string& queue,
                                                         uint64_t sequence);
  // The committed item `sequence` of `queue` when the recent values hold it and this batch has
  // not touched it; nullptr otherwise (then ReadQueue or GetQueueItem tells). The pointer is
  // valid until the next Commit.
  const records::QueueItem* RecentQueueItem(const std::string& queue, uint64_t sequence) const;
  // Every queue with stored items or a recorded high-water mark: one pass over the queues
  // family and the marks, done once at start-up. next_sequence never goes back, so a sequence
  // (the delivery id gateways deduplicate on) is never reused: a malformed mark is INTERNAL.
  Result<std::map<std::string, QueueInfo>> ScanQueues();

  // The earliest committed timer's due time, if any.
  Result<std::optional<int64_t>> EarliestTimerMs();
  struct DueTimersFound {
    std::vector<Timer> timers;
    std::optional<int64_t> next_due_ms;  // the first timer after the returned ones, if any
  };
  // Committed timers due at or before `now_ms`, earliest first, at most `limit`, starting the
  // search at `from_ms` (no live timer is earlier: fired ones leave tombstones there that a
  // seek from the start would walk).
  Result<DueTimersFound> DueTimers(int64_t from_ms, int64_t now_ms, size_t limit);
  Result<std::optional<wire::Alert>> GetAlert(const std::string& alert_id);
  // Alerts in id order; only the open (unacknowledged) ones unless `include_acked`.
  Result<std::vector<wire::Alert>> ListAlerts(bool include_acked, size_t scan_limit);
  // Alerts raised after `after_sequence`, in the order raised, at most `limit` (this batch's
  // included: an answer built from them leaves after the commit). Reads the
  // alerts_by_sequence index from that sequence on. INTERNAL on a read error or a dangling or
  // unreadable entry.
  Result<std::vector<wire::Alert>> AlertsAfter(uint64_t after_sequence, size_t limit);
  // Dead-lettered items of the queues whose name starts with `queue_prefix` ("" = every
  // queue), committed with this batch's writes applied, in (queue, sequence) order. Reads the
  // matching dead-letter queues whole: dead letters are few (each one is an operator alert).
  // INTERNAL on a read error or an unreadable item.
  Result<std::vector<DeadLetterEntry>> ReadDeadLetters(const std::string& queue_prefix);
  // An iterator over the committed case records as they are at this instant (its snapshot),
  // for store/case_scanner.h (VisitCases walks it); it must be released before the store
  // closes. The broker reads every case off its loop, through CaseScanner.
  std::unique_ptr<rocksdb::Iterator> CommittedCases() const { return db_->NewIterator(cases_); }
  // The mail items of `queue` that carry a text (committed, with this batch's rewrites and
  // deletes applied), in queue order. Reads the whole queue: for the retention purge, which
  // reads each queue once per pass.
  Result<std::vector<QueueEntry>> MailItemsWithText(const std::string& queue);
  // The audit log of `case_id` in the order it was written (committed entries, then this
  // batch's).
  Result<std::vector<wire::AuditEntry>> GetAudit(const std::string& case_id);
  // Where a case's personal data lives, for the compaction that follows its purge: the record,
  // the timeline, one queue item; and every family that holds case data, whole.
  std::vector<KeyRange> CaseRanges(const std::string& case_id) const;
  KeyRange QueueItemRange(const std::string& queue, uint64_t sequence) const;
  std::vector<KeyRange> CaseDataFamilies() const;
  // The purge pass whose compaction is still owed (0 = none), this batch's change included.
  uint64_t purge_compaction_owed() const { return purge_compaction_owed_; }

  uint64_t case_counter() const { return case_counter_; }
  // Every alert with a sequence up to this one is committed (a conservative bound while this
  // batch holds alert writes): what a listing of the committed alerts covers.
  uint64_t committed_alert_sequence() const {
    return pending_alert_sequences_.empty() ? alert_counter_
                                            : pending_alert_sequences_.begin()->first - 1;
  }
  const std::map<wire::CaseState, uint64_t>& state_counts() const { return state_counts_; }
  // Cases of `contact_point` still waiting for a partner (not answered, closed or cancelled),
  // pending writes included.
  uint64_t open_cases(const std::string& contact_point) const;
  // Cases at risk (store/cases_at_risk.h) by partner, pending writes included; a partner
  // with none may be absent or 0. Kept by PutCase: reading it scans nothing.
  const std::map<std::string, uint64_t>& cases_at_risk() const { return at_risk_; }

  // --- writes (pending until Commit) ---
  // Stores the record; `previous_state` (STATE_UNSPECIFIED for a new case) keeps the
  // per-state counters right. The counts of cases at risk follow from the record itself:
  // `record` must be the stored version (as GetCase read it) changed, or a new case; the
  // store sets its `at_risk_partner`.
  void PutCase(const records::CaseRecord& record, wire::CaseState previous_state);
  void PutEvent(const std::string& case_id, const wire::Event& event);
  // Written once, at submission; deleted by the retention purge (its compaction range is in
  // CaseRanges).
  void PutContent(const std::string& case_id, const records::CaseContent& content);
  void DeleteContent(const std::string& case_id);
  void PutQueueItem(const std::string& queue, uint64_t sequence, const records::QueueItem& item);
  void DeleteQueueItem(const std::string& queue, uint64_t sequence);
  // Records that `queue` hands out `next_sequence` next (written with the batch).
  void SetQueueNext(const std::string& queue, uint64_t next_sequence);
  void PutDedup(const std::string& principal, const std::string& key,
                const records::DedupEntry& entry);
  void IndexCaseForContactPoint(const std::string& contact_point, const std::string& case_id);
  void PutTimer(const Timer& timer);
  void DeleteTimer(int64_t due_ms, const std::string& case_id, char kind);
  // Deletes a timer DueTimers found, by the key it is stored under (whatever its layout).
  void DeleteFoundTimer(const Timer& timer);
  // Stores the alert; `open` keeps it in the open-alerts index.
  void PutAlert(const wire::Alert& alert, bool open);
  uint64_t NextAlertSequence();
  // Reserves the next case number (written with the batch).
  uint64_t NextCaseNumber();
  // Appends `entry` to its case's audit log with the next global sequence (which it sets and
  // returns), in the pending batch. Audit entries are never rewritten nor deleted.
  uint64_t AppendAudit(wire::AuditEntry entry);
  // Records that the compaction of purge pass `generation` is owed (0: none is owed any more).
  // Written with the batch, so a purge and the promise to compact it are durable together.
  void SetPurgeCompactionOwed(uint64_t generation);

  bool HasPendingWrites() const { return pending_writes_ > 0; }
  size_t pending_writes() const { return pending_writes_; }
  // Writes the pending batch with sync = true. Whatever the outcome, the batch and every
  // pending map are cleared (memory stays bounded). On failure nothing of the batch was
  // written, the store is failed for good (RocksDb's sticky failure: never retried) and the
  // in-memory counters may be ahead of the disk: the broker must stop (fail-stop) and reopen.
  Status Commit();

  RocksDb& db() { return *db_; }
  // Fault injection: the next Commit fails as a failed fsync would (see RocksDb).
  void FailNextCommitForTest() { db_->FailNextWriteForTest(); }

 private:
  explicit BrokerStore(std::unique_ptr<RocksDb> db);
  Status LoadCounters();
  // Moves records written before the numbered key layout (store/KEY_LAYOUT.md: keyed by the
  // case id alone) to their numbered keys, in synced batches, before the store serves; owes a
  // whole-family compaction when it moved any. A no-op (four seeks) on a store without them.
  Status MigrateCaseKeys();
  // Moves the contact-point index entries written before it was keyed by case number
  // (contact point + `\0` + case id) to their numbered keys, in synced batches, before the
  // store serves. Two seeks per contact point on a store without them: no mark needed.
  Status MigrateContactPointIndex();
  // Counts the cases at risk from the cases, once: on a store written before the counters
  // (no `at_risk_counted` mark; store/cases_at_risk.cc). A no-op (one Get) otherwise.
  Status CountCasesAtRiskOnce();
  // Moves `record` between the at-risk counts: from `counted_before` (its at_risk_partner as
  // stored, "" for none) to what the rule says now, and sets its at_risk_partner to that.
  void CountAtRisk(records::CaseRecord& record, const std::string& counted_before);
  // Clears the batch and every pending map (after each commit, whatever its outcome).
  void ClearPending();
  // After a successful commit: what it wrote of cases, contents and queue items becomes the
  // recent values (deleted keys leave them).
  void KeepRecent();
  // Start-up: indexes by sequence the alerts of a database written before the index existed.
  Status BackfillAlertIndex();

  std::unique_ptr<RocksDb> db_;
  rocksdb::ColumnFamilyHandle* cases_;
  rocksdb::ColumnFamilyHandle* events_;
  rocksdb::ColumnFamilyHandle* content_;
  rocksdb::ColumnFamilyHandle* queues_;
  rocksdb::ColumnFamilyHandle* dedup_;
  rocksdb::ColumnFamilyHandle* by_contact_point_;
  rocksdb::ColumnFamilyHandle* meta_;
  rocksdb::ColumnFamilyHandle* due_;
  rocksdb::ColumnFamilyHandle* alerts_;
  rocksdb::ColumnFamilyHandle* open_alerts_;
  rocksdb::ColumnFamilyHandle* alerts_by_sequence_;
  rocksdb::ColumnFamilyHandle* audit_;

  // This batch's writes, staged by family; Commit turns them into batch_ (key order, each key
  // once) and writes that.
  StagedBatch staged_;
  rocksdb::WriteBatch batch_;
  // What the last commits wrote of the records read right after they are written (a case's
  // delivery and acknowledgement, its content at delivery, the queue item at the ack): kept
  // after a successful commit only. Sized for what is between its write and its next read
  // under full load (a few group commits of ~500 escalations, 16 partners x 256 in flight),
  // and bounded in bytes too (texts may be up to 256 KiB): 24 MiB at most in all.
  RecentValues<records::CaseRecord> recent_cases_{8192, 8 << 20};
  RecentValues<records::CaseContent> recent_content_{4096, 8 << 20};
  RecentValues<records::QueueItem> recent_queue_items_{8192, 8 << 20};
  size_t pending_writes_ = 0;
  // The counters the pending batch changed: only those are rewritten (each rewrite is one
  // more memtable insert, and at a light load a batch holds one request).
  bool case_counter_dirty_ = false;
  bool alert_counter_dirty_ = false;
  bool audit_counter_dirty_ = false;
  std::set<wire::CaseState> state_counts_dirty_;
  std::unordered_map<std::string, records::CaseRecord> pending_cases_;
  std::unordered_map<std::string, records::DedupEntry> pending_dedup_;
  // Content written (value) or deleted (nullopt) in the pending batch.
  std::unordered_map<std::string, std::optional<records::CaseContent>> pending_content_;
  // Queue items written (value) or deleted (nullopt) in the pending batch, by key.
  std::unordered_map<std::string, std::optional<records::QueueItem>> pending_queue_items_;
  std::map<std::string, uint64_t> pending_queue_next_;
  std::unordered_map<std::string, std::vector<wire::Event>> pending_events_;
  std::unordered_map<std::string, wire::Alert> pending_alerts_;
  std::map<uint64_t, std::string> pending_alert_sequences_;  // sequence -> alert id
  std::unordered_map<std::string, std::vector<wire::AuditEntry>> pending_audit_;
  bool compaction_owed_dirty_ = false;
  uint64_t purge_compaction_owed_ = 0;
  uint64_t audit_counter_ = 0;
  uint64_t alert_counter_ = 0;
  uint64_t case_counter_ = 0;
  std::map<wire::CaseState, uint64_t> state_counts_;
  std::unordered_map<std::string, uint64_t> open_cases_;    // by contact point
  std::map<std::string, uint64_t> at_risk_;                 // by partner
  std::set<std::string> at_risk_dirty_;                     // written at the next Commit
  bool at_risk_mark_owed_ = false;  // a new store: `at_risk_counted` goes with the first batch
  inline static const std::string kNotAtRisk;               // at_risk_partner of a case not at risk
  static constexpr size_t kMigrationBatchBytes = 8 << 20;
  std::unordered_set<std::string> open_cases_dirty_;        // written at the next Commit
};

}  // namespace aplus
