#include "gateway/event_feed.h"

#include <rocksdb/iterator.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "common/clock.h"
#include "gateway/case_json.h"
#include "http/problem.h"

namespace aplus {
namespace {

// Under the empty key (it sorts before every be64 sequence): the last sequence handed out.
const std::string kHighWaterKey;

std::string KeyOf(uint64_t sequence) {
  std::string key;
  AppendBigEndian64(key, sequence);
  return key;
}

// The event's "at" as Unix ms, for trimming (events carry RFC 3339 text); 0 when unreadable.
int64_t AtMs(const nlohmann::json& event) {
  auto it = event.find("at_ms");
  return it != event.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

EventFeed::EventFeed(RocksDb& db, uint64_t last_sequence)
    : db_(db),
      family_(db.Family(kEventFeedFamily)),
      last_sequence_(last_sequence),
      published_sequence_(last_sequence) {}

Result<std::unique_ptr<EventFeed>> EventFeed::Open(RocksDb& db) {
  auto* family = db.Family(kEventFeedFamily);
  if (family == nullptr) {
    return Status(wire::INTERNAL, std::string("the database has no family ") + kEventFeedFamily);
  }
  // The high-water mark survives the trimming of every event: a restart never hands out a
  // sequence (a cursor, a webhook-id) again.
  uint64_t last = 0;
  auto mark = db.Get(family, kHighWaterKey);
  if (!mark.ok()) return Status(wire::INTERNAL, "cannot read the event feed: " + mark.status().message());
  if (mark->has_value()) {
    if ((*mark)->size() != 8) return Status(wire::INTERNAL, "malformed event feed mark");
    last = ReadBigEndian64((*mark)->data());
  }
  auto it = db.NewIterator(family);
  it->SeekToLast();
  if (it->Valid() && it->key().size() == 8) last = std::max(last, ReadBigEndian64(it->key().data()));
  if (!it->status().ok()) {
    return Status(wire::INTERNAL, "cannot read the event feed: " + it->status().ToString());
  }
  return std::unique_ptr<EventFeed>(new EventFeed(db, last));
}

uint64_t EventFeed::Append(rocksdb::WriteBatch& batch, nlohmann::json event, int64_t at_unix_ms) {
  uint64_t sequence = ++last_sequence_;
  event["at"] = Rfc3339(at_unix_ms);
  // Trimming goes by when the event was appended (feed order), not by its own instant (a mail
  // delivered late carries an old one).
  event["at_ms"] = UnixNowMs();
  batch.Put(family_, KeyOf(sequence), event.dump());
  batch.Put(family_, kHighWaterKey, KeyOf(sequence));
  return sequence;
}

nlohmann::json EventFeed::PublicForm(uint64_t sequence, nlohmann::json event, int64_t at_unix_ms) {
  event["at"] = Rfc3339(at_unix_ms);
  event.erase("at_ms");
  event["cursor"] = Cursor(sequence);
  return event;
}

std::string EventFeed::Cursor(uint64_t sequence) { return std::to_string(sequence); }

Result<uint64_t> EventFeed::ParseCursor(const std::string& text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return Status(wire::INVALID_ARGUMENT, "a cursor is the nextCursor or an event's cursor");
  }
  return value;
}

Result<FeedPage> EventFeed::Read(uint64_t after, size_t limit, const FeedFilter& filter) const {
  FeedPage page;
  page.next_after = after;
  // Only what a group commit made durable (Published): a cursor seen before the fsync could be
  // handed to another event after a crash.
  if (limit == 0 || after >= published_sequence_) return page;
  const size_t max_scanned = 10 * limit + 100;
  size_t scanned = 0;
  auto it = db_.NewIterator(family_);
  for (it->Seek(KeyOf(after + 1)); it->Valid() && page.events.size() < limit &&
                                   scanned < max_scanned;
       it->Next()) {
    ++scanned;
    if (it->key().size() != 8) return Status(wire::INTERNAL, "malformed key in the event feed");
    uint64_t sequence = ReadBigEndian64(it->key().data());
    if (sequence > published_sequence_) break;
    page.next_after = sequence;
    auto event = nlohmann::json::parse(it->value().ToStringView(), nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
      return Status(wire::INTERNAL, "malformed event " + std::to_string(sequence) + " in the feed");
    }
    if (filter && !filter(event)) continue;
    event.erase("at_ms");
    event["cursor"] = Cursor(sequence);
    page.events.push_back(std::move(event));
  }
  if (!it->status().ok()) {
    return Status(wire::INTERNAL, "cannot read the event feed: " + it->status().ToString());
  }
  return page;
}

bool EventFeed::TryAnswer(Waiter& waiter) const {
  if (waiter.after >= published_sequence_) return false;
  auto page = Read(waiter.after, waiter.limit, waiter.filter);
  if (!page.ok()) {
    waiter.responder.Send(http::ProblemResponse(page.status()));
    return true;
  }
  if (page->events.empty()) {
    // Everything new was filtered out: the waiter keeps waiting past what it has seen.
    waiter.after = page->next_after;
    return false;
  }
  waiter.render(waiter.responder, *page);
  return true;
}

void EventFeed::Wait(uint64_t after, size_t limit, int64_t deadline_ms, FeedFilter filter,
                     http::Responder responder, PageRenderer render) {
  Waiter waiter{after, limit, deadline_ms, std::move(filter), std::move(responder),
                std::move(render)};
  if (TryAnswer(waiter)) return;
  if (SteadyNowMs() >= deadline_ms) {
    waiter.render(waiter.responder, FeedPage{{}, waiter.after});
    return;
  }
  waiters_.push_back(std::move(waiter));
}

void EventFeed::Published() {
  published_sequence_ = last_sequence_;
  std::erase_if(waiters_, [this](Waiter& waiter) {
    return waiter.responder.answered() || TryAnswer(waiter);
  });
}

void EventFeed::ExpireWaiters(int64_t now_steady_ms) {
  std::erase_if(waiters_, [now_steady_ms](Waiter& waiter) {
    if (waiter.responder.answered()) return true;
    if (waiter.deadline_ms > now_steady_ms) return false;
    waiter.render(waiter.responder, FeedPage{{}, waiter.after});
    return true;
  });
}

int64_t EventFeed::NextWaiterDeadlineMs() const {
  int64_t next = 0;
  for (const auto& waiter : waiters_) {
    if (next == 0 || waiter.deadline_ms < next) next = waiter.deadline_ms;
  }
  return next;
}

Result<size_t> EventFeed::TrimBefore(rocksdb::WriteBatch& batch, int64_t cutoff_unix_ms) const {
  size_t trimmed = 0;
  auto it = db_.NewIterator(family_);
  for (it->Seek(KeyOf(0)); it->Valid(); it->Next()) {
    auto event = nlohmann::json::parse(it->value().ToStringView(), nullptr, false);
    int64_t at = event.is_object() ? AtMs(event) : 0;
    if (at >= cutoff_unix_ms) break;
    batch.Delete(family_, it->key());
    ++trimmed;
  }
  if (!it->status().ok()) {
    return Status(wire::INTERNAL, "cannot read the event feed: " + it->status().ToString());
  }
  return trimmed;
}

void EventFeed::AnswerAllWaiters(const Status& status) {
  for (auto& waiter : waiters_) waiter.responder.Send(http::ProblemResponse(status));
  waiters_.clear();
}

int64_t EventFeed::RetentionMs(const RetentionPeriod& personal_data_after) {
  constexpr int64_t kKeepMs = 7LL * 24 * 3600 * 1000;
  return std::min(kKeepMs, FixedDurationMs(personal_data_after).value_or(kKeepMs));
}

Result<size_t> EventFeed::TrimExpired(int64_t now_unix_ms,
                                      const RetentionPeriod& personal_data_after) {
  rocksdb::WriteBatch batch;
  auto trimmed = TrimBefore(batch, now_unix_ms - RetentionMs(personal_data_after));
  if (!trimmed.ok() || *trimmed == 0) return trimmed;
  Status written = db_.Write(batch);
  if (!written.ok()) return written;
  return trimmed;
}

}  // namespace aplus
