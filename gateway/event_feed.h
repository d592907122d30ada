// A gateway's ordered feed of events for its HTTP clients (GET /v1/events, long-polling) and,
// at the partner gateway, for its webhooks: the contact point's mailbox (replies, questions,
// transfers, SLA alerts, refusals of locally held submissions) or the partner's deliveries,
// reminders, answers and erase notices, as #/components/schemas/FeedEvent of docs/openapi.yaml.
//
// Layout: column family kEventFeedFamily, key be64(sequence) -> the event's JSON without its
// cursor (the cursor is the decimal sequence, added when read), plus "at_ms" (when it was
// appended, Unix ms, for trimming; removed when read). The empty key holds be64 of the last
// sequence handed out, so that trimming every event and restarting never reuses a sequence.
// Readers see events only up to the last Published() (what a group commit made durable).
// Sequences start at 1 and only grow; the cursor "0" (or none) reads from the oldest event kept.
//
// Durability: Append only adds to the caller's WriteBatch, so an event is written in the same
// batch (one fsync) as the state it reports (the mailbox item, the inbox entry, the webhook):
// never one without the other. After that batch is durable the caller calls Published(), which
// answers the long polls the new events concern. A batch that failed to be written must not be
// followed by Published(): the gateway fail-stops (common/fail_stop.h) and a restart reloads
// the last sequence from disk.
//
// Retention: events are trimmed after `keep_for_ms` (TrimBefore, called by the gateway's
// retention sweep; by default 7 days, always at most the network's personal_data_after), so
// the texts and case views they carry do not outlive the personal-data rules.
//
// Thread rules: one owner thread (the gateway's loop) calls every method.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/write_batch.h>

#include "common/retention_period.h"
#include "common/status.h"
#include "http/responder.h"
#include "store/rocks_db.h"

namespace aplus {

inline constexpr const char* kEventFeedFamily = "feed";

// Which events a reader may see (an agent-restricted token sees only its agents' cases);
// nullptr = every event.
using FeedFilter = std::function<bool(const nlohmann::json& event)>;

struct FeedPage {
  std::vector<nlohmann::json> events;  // each with its "cursor"
  uint64_t next_after = 0;             // pass back as `after`: the last event scanned (or after)
};

class EventFeed {
 public:
  // Reads the last sequence from `db` (opened with kEventFeedFamily, outliving the feed).
  // INTERNAL when the family cannot be read.
  static Result<std::unique_ptr<EventFeed>> Open(RocksDb& db);

  // Adds `event` (a FeedEvent without "cursor" and "at") at `at_unix_ms` to `batch` under the
  // next sequence, which it returns. Sequences handed out by Appends whose batch is then not
  // written are skipped (the feed has gaps, never reuses a number) — see the fail-stop note.
  uint64_t Append(rocksdb::WriteBatch& batch, nlohmann::json event, int64_t at_unix_ms);

  // The event as clients see it (in pages and webhook bodies): `event` as given to Append, with
  // its "at" and its "cursor".
  static nlohmann::json PublicForm(uint64_t sequence, nlohmann::json event, int64_t at_unix_ms);

  // After the batch holding the last Appends is durable: answers the waiting long polls that
  // now have events.
  void Published();

  // Up to `limit` events after `after` that pass `filter`, oldest first; scans at most
  // 10 * limit + 100 events per call so that a filtered reader cannot stall the loop (then
  // next_after moves on without a full page).
  Result<FeedPage> Read(uint64_t after, size_t limit, const FeedFilter& filter = nullptr) const;

  // A long poll: answers `responder` at once (200 + EventPage) when events follow `after`, else
  // keeps it until Published() brings one or `deadline_ms` (steady clock) passes (then an
  // empty page whose nextCursor is `after`). `render` turns a page into the response, so that
  // the gateway chooses the body; a read error answers 500 INTERNAL.
  using PageRenderer = std::function<void(const http::Responder&, const FeedPage&)>;
  void Wait(uint64_t after, size_t limit, int64_t deadline_ms, FeedFilter filter,
            http::Responder responder, PageRenderer render);

  // Answers the long polls whose deadline passed. Every loop turn.
  void ExpireWaiters(int64_t now_steady_ms);
  // The earliest waiter deadline (steady ms), or 0 when nobody waits: for the poll timeout.
  int64_t NextWaiterDeadlineMs() const;
  size_t waiter_count() const { return waiters_.size(); }

  // Adds to `batch` the deletion of every event whose "at" is before `cutoff_unix_ms` (events
  // are in time order, so a prefix of the feed); returns how many.
  Result<size_t> TrimBefore(rocksdb::WriteBatch& batch, int64_t cutoff_unix_ms) const;

  // How long events are kept: 7 days, never longer than the network's personal_data_after
  // (a calendar period that is not a fixed duration counts as 7 days).
  static int64_t RetentionMs(const RetentionPeriod& personal_data_after);

  // The retention sweep's part (both gateways): deletes, in one durable write, the events
  // older than RetentionMs at `now_unix_ms`. Returns how many; a failed write is returned as is
  // (the gateway fail-stops).
  Result<size_t> TrimExpired(int64_t now_unix_ms, const RetentionPeriod& personal_data_after);

  uint64_t last_sequence() const { return last_sequence_; }

  // After a fail-stop: answers every waiting long poll with `status` (a problem), so that no
  // client is left hanging when the process exits.
  void AnswerAllWaiters(const Status& status);

  // The cursor text of a sequence, and back (INVALID_ARGUMENT when not a decimal number).
  static std::string Cursor(uint64_t sequence);
  static Result<uint64_t> ParseCursor(const std::string& text);

 private:
  struct Waiter {
    uint64_t after;
    size_t limit;
    int64_t deadline_ms;
    FeedFilter filter;
    http::Responder responder;
    PageRenderer render;
  };
  EventFeed(RocksDb& db, uint64_t last_sequence);
  // Answers `waiter` with what follows its cursor; false when there is nothing yet.
  bool TryAnswer(Waiter& waiter) const;

  RocksDb& db_;
  rocksdb::ColumnFamilyHandle* family_;
  uint64_t last_sequence_;       // the last sequence handed out (also kept durably: a mark)
  uint64_t published_sequence_;  // the last one readers may see (durable: Published was called)
  std::vector<Waiter> waiters_;
};

}  // namespace aplus
