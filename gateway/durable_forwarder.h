// The durable forwarder both gateways share: requests accepted from a local client are appended
// to the fsynced outbox before anyone is answered, then forwarded to the broker in arrival
// order across broker outages and gateway restarts (the outbox is reloaded).
//
// Pipelining: up to Options::window entries are in flight at once on the one broker
// connection, sent in outbox order (the broker answers a connection's requests in order, but
// for operators' reads of every case, GetReport and GetSlaBoard, answered when their read
// ends; a gateway sends neither). An
// entry waits for the answer to an earlier entry it depends on (DependsOn): one about the
// same case (its case id as stored, or as prepared for sending), or one about a local ref
// whose submission is still in the outbox. So the order of the requests about one case, and
// of a submission and what follows about it, is the order they were made, whatever comes back;
// entries about different cases may be answered out of their outbox order when one of them is
// refused transiently and sent again.
//
// What happens to an entry (common/retry_policy.h is the one table of error codes):
//   the broker's answer, or a permanent refusal while its client still waits
//       -> the FinalHandler stores what must survive the entry, the entry leaves the outbox,
//          the client gets the answer;
//   a transient refusal (UNREACHABLE, UNAVAILABLE, NOT_AUTHENTICATED, RATE_LIMITED,
//   TOO_MANY_OPEN_CASES) or no answer in time
//       -> the entry stays in its place and is sent again after a backoff (exponential, full
//          jitter, no sooner than the broker's retry-after hint), or at once when the session is
//          re-established. Accepted work never leaves the outbox on a transient error;
//   a permanent refusal after its client went away (it was told QUEUED_LOCALLY)
//       -> the entry is set aside: it stays stored with failed = true and its typed error
//          (FAILED_LOCALLY), the entries behind it go on, and it waits for Retry (back in line,
//          same idempotency key) or Discard (the FinalHandler gets the stored error, the
//          entry leaves the outbox).
// A client still waiting after forward_timeout_ms gets the QueuedAnswer (QUEUED_LOCALLY).
// A failed outbox write trips the gateway's FailStop: nothing more is sent or answered.
// An owner that group-commits (gateway/group_commit.h) gives Hooks::may_send and calls
// MarkDurable after each commit: appends are then durable at the commit, not at Enqueue, and
// nothing is sent before it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "aplus.pb.h"
#include "common/broker_link.h"
#include "common/fail_stop.h"
#include "common/retry_policy.h"
#include "common/status.h"
#include "records.pb.h"
#include "store/outbox.h"
#include "store/rocks_db.h"

namespace aplus {

// Thread rules: the owning gateway's loop thread only; every callback runs on it.
class DurableForwarder {
 public:
  // Builds the request to send for an entry at the moment it is sent (e.g. a local ref replaced
  // by the case id learnt meanwhile). An error Status is a permanent refusal of the entry.
  using Preparer = std::function<Result<wire::Envelope>(const records::OutboxEntry&)>;
  // Called once per entry that leaves the outbox, BEFORE it is removed, with its final answer
  // (the broker's envelope, possibly an Error; or the stored error of a discarded entry). It
  // stores what must survive the entry (a gateway whose store fails trips the FailStop: the
  // entry then stays) and returns the answer for the waiting client, if one waits.
  using FinalHandler = std::function<wire::Envelope(uint64_t sequence,
                                                    const records::OutboxEntry& entry,
                                                    const wire::Envelope& answer)>;
  // The answer for a client still waiting after forward_timeout_ms (QUEUED_LOCALLY).
  using QueuedAnswer = std::function<wire::Envelope(const records::OutboxEntry& entry)>;
  // Optional: adds to `batch` what must become durable with an entry being set aside as
  // FAILED_LOCALLY (the agent gateway's case.refused feed event); `durable` is then called
  // once that batch is written.
  using SetAsideHook = std::function<void(rocksdb::WriteBatch& batch,
                                          const records::OutboxEntry& entry)>;
  // Gets a client's answer; called at most once.
  using ReplyFn = std::function<void(wire::Envelope answer)>;

  struct Options {
    int request_timeout_ms = 5000;  // one attempt; then it counts as transient (UNREACHABLE)
    int forward_timeout_ms = 2000;  // how long a local client waits for the broker's answer
    int64_t backoff_base_ms = 200;
    int64_t backoff_cap_ms = Backoff::kDefaultCapMs;
    // Entries in flight at once (>= 1; 1 = one at a time, as before pipelining).
    int window = kDefaultWindow;
  };
  static constexpr int kDefaultWindow = 64;
  struct Hooks {
    Preparer prepare;
    FinalHandler on_final;
    QueuedAnswer queued_answer;
    // False while the owner holds writes that are not durable yet (gateway/group_commit.h):
    // nothing is sent to the broker then, since what is sent must be in the outbox for good.
    // Null = always true. The owner calls OnTick (or OnLinkReady) once it may send again.
    std::function<bool()> may_send;
    SetAsideHook set_aside;                   // may be null
    std::function<void()> set_aside_durable;  // may be null
  };
  struct Item {
    uint64_t sequence;
    records::OutboxEntry entry;
    // A submission refused TOO_MANY_OPEN_CASES waits until then (steady clock) without blocking
    // the requests that can lower the count (answers, cancels, closes): see Pump.
    int64_t held_until_ms = 0;
    bool in_flight = false;
    // The case id of the request as last sent (after Preparer), for DependsOn.
    std::string sent_case_id;
  };

  // `db` (opened with kOutboxFamily), `link` and `fail_stop` must outlive the forwarder.
  // Loads the entries left by a previous run.
  DurableForwarder(RocksDb& db, BrokerLink& link, FailStop& fail_stop, Options options,
                   Hooks hooks);

  // Appends `entry` durably (fsynced) behind the others; `reply` (may be null: nobody waits)
  // gets its answer later. An error (the fail-stop has tripped) means nothing was appended and
  // `reply` will not be called. `also` (may be null): writes made durable in the same batch as
  // the entry (Outbox::Append).
  Result<uint64_t> Enqueue(records::OutboxEntry entry, ReplyFn reply,
                           rocksdb::WriteBatch* also = nullptr);

  // Every entry, oldest first, set-aside ones included.
  const std::deque<Item>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  // The entry with this local ref, or nullptr.
  const records::OutboxEntry* FindByLocalRef(const std::string& local_ref) const;
  // Every entry as the local endpoints show it (QUEUED_LOCALLY or FAILED_LOCALLY).
  std::vector<wire::LocalEntry> LocalEntries() const;
  static wire::LocalEntry Describe(const records::OutboxEntry& entry);

  // RetryLocal: a FAILED_LOCALLY entry goes back in line (its place and idempotency key kept).
  // Returns the entry as it now is; UNKNOWN_CASE for an unknown ref. An entry still in line is
  // returned unchanged.
  Result<wire::LocalEntry> Retry(const std::string& local_ref);
  // DiscardLocal: a FAILED_LOCALLY entry leaves the outbox for good (state STATE_UNSPECIFIED in
  // the answer). UNKNOWN_CASE for an unknown ref, INVALID_ARGUMENT for an entry still in line.
  Result<wire::LocalEntry> Discard(const std::string& local_ref);

  // The broker session was (re)established: forget the backoff and send at once.
  void OnLinkReady();
  // Answers expired waiters and sends the head when due. Call every loop turn.
  void OnTick();
  // The owner's group commit made everything appended so far durable (see Hooks::may_send).
  // Owners without group commit need not call it: their appends are durable at once.
  void MarkDurable() { durable_sequence_ = last_sequence_; }
  // The gateway is stopping (fail-stop): every client still waiting gets the QueuedAnswer now.
  // What they asked for is in the outbox, fsynced before the failure, and is forwarded after
  // the restart. A client whose entry was appended after the last MarkDurable (when the owner
  // calls it) gets the fail-stop error instead: its entry may not have reached the disk.
  void AnswerAllWaitersQueued();
  // Entries sent and not answered yet; for tests and logs.
  int in_flight() const { return in_flight_; }
  // How long the loop may sleep before OnTick has something to do (at most 100 ms).
  int NextWakeInMs() const;

 private:
  struct Waiter {
    int64_t deadline_ms;  // steady clock
    ReplyFn reply;
  };

  void Pump();
  // Sends one entry if one may go now (see the header comment); false if none may.
  bool SendNext();
  bool MaySend() const;
  void OnAnswer(uint64_t sequence, Result<wire::Envelope> answer);
  // A final answer for the entry at `index`: removed (answer to the waiter) or set aside.
  void Settle(size_t index, const wire::Envelope& answer);
  void Remove(size_t index, const wire::Envelope& answer);
  Item* Find(uint64_t sequence);
  Item* FindRef(const std::string& local_ref);

  Outbox outbox_;
  BrokerLink& link_;
  FailStop& fail_stop_;
  const Options options_;
  const Hooks hooks_;
  std::deque<Item> entries_;
  std::map<uint64_t, Waiter> waiters_;  // by sequence
  Backoff backoff_;
  int in_flight_ = 0;
  bool pumping_ = false;  // Pump is running (a handler may call it again from inside)
  bool pump_again_ = false;
  bool durability_tracked_ = false;  // the owner group-commits (Hooks::may_send): see MarkDurable
  uint64_t last_sequence_ = 0;       // of the last Enqueue
  uint64_t durable_sequence_ = 0;    // appended at or before it: durable
  int64_t next_attempt_ms_ = 0;  // steady clock; 0 = now
  uint64_t failed_attempts_ = 0;  // consecutive transient failures, for quieter logs
};

}  // namespace aplus
