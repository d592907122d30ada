#include "agent-gateway/local_case_cache.h"

#include "gateway/event_feed.h"

#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <queue>
#include <set>
#include <utility>

#include "common/case_id.h"
#include "common/personal_data.h"
#include "sla/civil_time.h"
#include "store/outbox.h"

namespace aplus {
namespace {

constexpr const char* kNextLocalRefKey = "next_local_ref";
constexpr const char* kRetentionIndexedKey = "retention_indexed";
constexpr const char* kCompactionOwedKey = "purge_compaction_owed";

std::string MailboxKey(const std::string& case_id, uint64_t delivery_id) {
  std::string key = case_id;
  key.push_back('\0');
  AppendBigEndian64(key, delivery_id);
  return key;
}

// The retention index key of a case erased at `erase_at_ms`: due keys sort first.
std::string DueKey(int64_t erase_at_ms, const std::string& case_id) {
  std::string key;
  AppendBigEndian64(key, static_cast<uint64_t>(erase_at_ms));
  key += case_id;
  return key;
}

// The states after which the retention period runs: the contact point ended the case.
bool Ended(wire::CaseState state) { return state == wire::CLOSED || state == wire::CANCELLED; }

// What the sweep leaves of a case.
void Erase(wire::CaseView& view) {
  WithholdPersonalData(view);
  view.mutable_summary()->set_personal_data_erased(true);
}

template <typename Message>
std::optional<Message> Parse(const std::string& bytes) {
  Message message;
  if (!message.ParseFromString(bytes)) return std::nullopt;
  return message;
}

uint32_t NextSequence(const wire::CaseView& view) {
  return view.timeline_size() == 0 ? 0 : view.timeline(view.timeline_size() - 1).sequence() + 1;
}

// A mail item tells the contact point what happened to its case; the cached view follows it
// until the broker's own view replaces it.
void ApplyMail(wire::CaseView& view, const wire::MailItem& mail) {
  auto* summary = view.mutable_summary();
  if (summary->case_id().empty()) summary->set_case_id(mail.case_id());
  if (mail.kind() == wire::MailItem::TRANSFERRED) {
    // The mail names the new partner; the old one is where the case came from.
    if (!summary->partner().empty() && summary->partner() != mail.partner()) {
      summary->set_transferred_from(summary->partner());
    }
    if (!mail.partner().empty()) summary->set_partner(mail.partner());
    // A new reply window with the new partner: the old alerts are history.
    summary->set_warned(false);
    summary->set_breached(false);
  } else if (summary->partner().empty()) {
    summary->set_partner(mail.partner());
  }
  wire::CaseState state = mail.state();
  if (state == wire::STATE_UNSPECIFIED) {
    switch (mail.kind()) {
      case wire::MailItem::ACKNOWLEDGED:
        state = wire::ACKNOWLEDGED;
        break;
      case wire::MailItem::REPLY:
        state = wire::ANSWERED;
        break;
      case wire::MailItem::INFO_REQUESTED:
        state = wire::INFO_REQUESTED;
        break;
      case wire::MailItem::TRANSFERRED:
        state = wire::TRANSFERRED;
        break;
      default:
        break;
    }
  }
  if (state != wire::STATE_UNSPECIFIED) summary->set_state(state);
  if (mail.kind() == wire::MailItem::REPLY) view.set_reply_text(mail.text());
  if (mail.kind() == wire::MailItem::INFO_REQUESTED) {
    view.set_question(mail.text());
  } else if (summary->state() != wire::INFO_REQUESTED) {
    view.clear_question();
  }
  uint32_t sequence = NextSequence(view);
  auto* event = view.add_timeline();
  event->set_sequence(sequence);
  event->set_at_ms(mail.at_ms());
  event->set_kind(wire::MailItem::Kind_Name(mail.kind()));
  event->set_actor(mail.partner());
  event->set_detail(mail.text());
  event->set_state_after(summary->state());
}

// An SLA alert about one of the contact point's cases: the reply window is about to lapse
// (WARNING) or has lapsed (BREACH).
void ApplyAlert(wire::CaseView& view, const wire::Alert& alert) {
  auto* summary = view.mutable_summary();
  if (summary->case_id().empty()) summary->set_case_id(alert.case_id());
  if (summary->partner().empty()) summary->set_partner(alert.partner());
  if (alert.kind() == wire::Alert::BREACH) {
    summary->set_breached(true);
  } else {
    summary->set_warned(true);
  }
  if (alert.deadline_ms() > 0) summary->set_deadline_ms(alert.deadline_ms());
  uint32_t sequence = NextSequence(view);
  auto* event = view.add_timeline();
  event->set_sequence(sequence);
  event->set_at_ms(alert.raised_at_ms());
  event->set_kind(alert.kind() == wire::Alert::BREACH ? "SLA_BREACH" : "SLA_WARNING");
  event->set_actor("broker");
  event->set_detail(alert.text());
  event->set_state_after(summary->state());
}

const std::string& CaseIdOf(const wire::Delivery& delivery) {
  return delivery.has_alert() ? delivery.alert().case_id() : delivery.mail().case_id();
}

}  // namespace

std::vector<std::string> AgentGatewayFamilies() {
  return {kOutboxFamily, kMetaFamily,       kRefsFamily,       kCasesFamily,
          kMailboxFamily, kRetentionFamily, kIdempotencyFamily, kEventFeedFamily};
}

LocalCaseCache::LocalCaseCache(RocksDb& db, const Clock& clock,
                               RetentionPeriod personal_data_after)
    : db_(db),
      clock_(clock),
      personal_data_after_(personal_data_after),
      refs_(db.Family(kRefsFamily)),
      cases_(db.Family(kCasesFamily)),
      mailbox_(db.Family(kMailboxFamily)),
      meta_(db.Family(kMetaFamily)),
      retention_(db.Family(kRetentionFamily)) {}

Result<std::string> LocalCaseCache::AllocateLocalRef(rocksdb::WriteBatch& batch) {
  if (next_local_ref_ == 0) {
    auto stored = db_.Get(meta_, kNextLocalRefKey);
    if (!stored.ok()) return stored.status();
    next_local_ref_ = 1;
    if (stored->has_value() && (*stored)->size() == 8) {
      next_local_ref_ = ReadBigEndian64((*stored)->data());
    }
  }
  uint64_t next = next_local_ref_++;
  std::string value;
  AppendBigEndian64(value, next_local_ref_);
  batch.Put(meta_, kNextLocalRefKey, value);
  return std::string(kLocalRefPrefix) + std::to_string(next);
}

Status LocalCaseCache::RecordSubmitAnswer(const std::string& local_ref, const wire::Submit& submit,
                                          int64_t submitted_at_ms, const wire::Envelope& answer,
                                          const std::function<void(rocksdb::WriteBatch&)>& also) {
  rocksdb::WriteBatch batch;
  if (also) also(batch);
  wire::Envelope recorded = answer;
  recorded.set_request_id(0);
  batch.Put(refs_, local_ref, recorded.SerializeAsString());
  if (answer.has_accepted() && !answer.accepted().case_id().empty()) {
    const auto& accepted = answer.accepted();
    auto existing = FindCase(accepted.case_id());
    if (!existing.ok()) return existing.status();
    wire::CaseView view;
    if (existing->has_value()) {
      // A duplicate answer: the case may have moved on; keep what is known, add the ref.
      view = std::move(**existing);
    } else {
      auto* summary = view.mutable_summary();
      summary->set_case_id(accepted.case_id());
      summary->set_state(accepted.state());
      summary->set_agent(submit.agent());
      summary->set_partner(submit.partner());
      summary->set_category(submit.category());
      summary->set_subject(submit.subject());
      summary->set_submitted_at_ms(submitted_at_ms);
      summary->set_deadline_ms(accepted.deadline_ms());
      view.set_body(submit.body());
      view.set_citizen_name(submit.citizen_name());
    }
    view.mutable_summary()->set_local_ref(local_ref);
    batch.Put(cases_, accepted.case_id(), view.SerializeAsString());
  }
  return db_.Write(batch);
}

Result<std::optional<wire::Envelope>> LocalCaseCache::FindRef(const std::string& local_ref) const {
  auto stored = db_.Get(refs_, local_ref);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<wire::Envelope>();
  auto envelope = Parse<wire::Envelope>(**stored);
  if (!envelope) return Status(wire::INTERNAL, "unreadable record for " + local_ref);
  return envelope;
}

Result<wire::CaseView> LocalCaseCache::RecordCaseView(const wire::CaseView& view) {
  const std::string& case_id = view.summary().case_id();
  if (case_id.empty()) return Status(wire::INTERNAL, "case view without a case id");
  auto existing = FindCase(case_id);
  if (!existing.ok()) return existing.status();
  wire::CaseView stored = view;
  stored.set_from_local_cache(false);
  if (stored.summary().local_ref().empty() && existing->has_value()) {
    stored.mutable_summary()->set_local_ref((*existing)->summary().local_ref());
  }
  rocksdb::WriteBatch batch;
  TrackRetention(batch, existing->has_value() ? &**existing : nullptr, stored, clock_.NowMs());
  batch.Put(cases_, case_id, stored.SerializeAsString());
  Status status = db_.Write(batch);
  if (!status.ok()) return status;
  return stored;
}

Status LocalCaseCache::RecordCaseUpdated(const wire::CaseUpdated& updated) {
  if (updated.case_id().empty() || updated.state() == wire::STATE_UNSPECIFIED) return Status::Ok();
  auto existing = FindCase(updated.case_id());
  if (!existing.ok()) return existing.status();
  wire::CaseView view;
  if (existing->has_value()) view = **existing;
  view.mutable_summary()->set_case_id(updated.case_id());
  view.mutable_summary()->set_state(updated.state());
  if (updated.state() != wire::INFO_REQUESTED) view.clear_question();
  rocksdb::WriteBatch batch;
  TrackRetention(batch, existing->has_value() ? &**existing : nullptr, view, clock_.NowMs());
  batch.Put(cases_, updated.case_id(), view.SerializeAsString());
  return db_.Write(batch);
}

Status LocalCaseCache::RecordSummaries(const std::vector<wire::CaseSummary>& summaries) {
  if (summaries.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  const int64_t now = clock_.NowMs();
  std::set<std::string> seen;  // a case listed twice is stored once, as first listed
  for (const auto& summary : summaries) {
    if (summary.case_id().empty() || !seen.insert(summary.case_id()).second) continue;
    auto existing = FindCase(summary.case_id());
    if (!existing.ok()) return existing.status();
    wire::CaseView view;
    if (existing->has_value()) view = **existing;
    std::string local_ref = view.summary().local_ref();
    *view.mutable_summary() = summary;
    if (summary.local_ref().empty()) view.mutable_summary()->set_local_ref(local_ref);
    TrackRetention(batch, existing->has_value() ? &**existing : nullptr, view, now);
    batch.Put(cases_, summary.case_id(), view.SerializeAsString());
  }
  return db_.Write(batch);
}

Result<std::optional<wire::CaseView>> LocalCaseCache::FindCase(const std::string& case_id) const {
  auto stored = db_.Get(cases_, case_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<wire::CaseView>();
  auto view = Parse<wire::CaseView>(**stored);
  if (!view) return Status(wire::INTERNAL, "unreadable cached case " + case_id);
  return view;
}

std::vector<wire::CaseSummary> LocalCaseCache::ListCases(const std::string& after_case_id,
                                                         size_t limit) const {
  // The broker lists in submission order (its index is keyed by case number); the cache is
  // keyed by case id, so this local view walks the ids and keeps the `limit` first numbers
  // after the cursor's. It serves only while the broker is unreachable, and the cache holds
  // one contact point's cases.
  using Place = std::pair<uint64_t, std::string>;  // (case number, id): the broker's order
  auto place_of = [](std::string_view id) {
    return Place{CaseIdCounter(id).value_or(kCaseIdSpace), std::string(id)};
  };
  std::optional<Place> after;
  if (!after_case_id.empty()) after = place_of(after_case_id);
  std::priority_queue<Place> first;  // the greatest on top, popped when one more is smaller
  auto it = db_.NewIterator(cases_);
  for (it->SeekToFirst(); it->Valid() && limit > 0; it->Next()) {
    Place place = place_of(it->key().ToStringView());
    if (after && !(*after < place)) continue;
    if (first.size() < limit) {
      first.push(std::move(place));
    } else if (place < first.top()) {
      first.pop();
      first.push(std::move(place));
    }
  }
  std::vector<Place> ordered;
  for (; !first.empty(); first.pop()) ordered.push_back(first.top());
  std::vector<wire::CaseSummary> summaries;
  for (auto place = ordered.rbegin(); place != ordered.rend(); ++place) {
    auto view = FindCase(place->second);
    if (view.ok() && view->has_value()) summaries.push_back((*view)->summary());
  }
  return summaries;
}

Result<size_t> LocalCaseCache::StoreDeliveries(const std::vector<wire::Delivery>& deliveries,
                                               const OnNewDelivery& on_new) {
  rocksdb::WriteBatch batch;
  std::set<std::string> keys_in_batch;
  // Cases changed by this batch: as cached before it (nullopt when not cached), and as they
  // become.
  struct Touched {
    std::optional<wire::CaseView> before;
    wire::CaseView view;
    int64_t last_mail_at_ms = 0;  // when the case ended, if a mail item here says it did
  };
  std::map<std::string, Touched> touched;
  size_t stored = 0;
  for (const auto& delivery : deliveries) {
    if (!delivery.has_mail() && !delivery.has_alert()) continue;
    const std::string& case_id = CaseIdOf(delivery);
    if (case_id.empty()) continue;
    std::string key = MailboxKey(case_id, delivery.delivery_id());
    if (keys_in_batch.count(key) > 0) continue;
    auto existing = db_.Get(mailbox_, key);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      auto previous = Parse<wire::Delivery>(**existing);
      if (previous && previous->queue() == delivery.queue()) continue;  // a redelivery
    }
    keys_in_batch.insert(key);
    auto view_it = touched.find(case_id);
    if (view_it == touched.end()) {
      auto cached = FindCase(case_id);
      if (!cached.ok()) return cached.status();
      Touched entry;
      entry.before = std::move(*cached);
      if (entry.before) entry.view = *entry.before;
      view_it = touched.emplace(case_id, std::move(entry)).first;
    }
    wire::CaseView& view = view_it->second.view;
    if (view.summary().personal_data_erased() && delivery.has_mail() &&
        !delivery.mail().text().empty()) {
      // A late mail item about a case erased here: its text is past its retention too.
      wire::Delivery without_text = delivery;
      without_text.mutable_mail()->clear_text();
      batch.Put(mailbox_, key, without_text.SerializeAsString());
    } else {
      batch.Put(mailbox_, key, delivery.SerializeAsString());
    }
    if (delivery.has_alert()) {
      ApplyAlert(view, delivery.alert());
    } else {
      ApplyMail(view, delivery.mail());
      view_it->second.last_mail_at_ms = delivery.mail().at_ms();
    }
    if (on_new) on_new(batch, delivery, view);
    ++stored;
  }
  if (stored == 0) return size_t{0};
  const int64_t now = clock_.NowMs();
  for (auto& [case_id, entry] : touched) {
    TrackRetention(batch, entry.before ? &*entry.before : nullptr, entry.view,
                   entry.last_mail_at_ms > 0 ? entry.last_mail_at_ms : now);
    batch.Put(cases_, case_id, entry.view.SerializeAsString());
  }
  Status status = db_.Write(batch);
  if (!status.ok()) return status;
  return stored;
}

std::vector<wire::Delivery> LocalCaseCache::Mailbox(const std::string& case_id) const {
  std::vector<wire::Delivery> items;
  std::string prefix = case_id;
  prefix.push_back('\0');
  auto it = db_.NewIterator(mailbox_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto delivery = Parse<wire::Delivery>(it->value().ToString());
    if (delivery) items.push_back(std::move(*delivery));
  }
  return items;
}

// --- retention -----------------------------------------------------------------------------

void LocalCaseCache::TrackRetention(rocksdb::WriteBatch& batch, const wire::CaseView* before,
                                    wire::CaseView& after, int64_t ended_at_ms) const {
  auto* summary = after.mutable_summary();
  const wire::CaseSummary* old = before != nullptr ? &before->summary() : nullptr;
  // Past its retention here means past it everywhere: nothing brings the data back, whether a
  // view read before the broker's own erasure or a mail item delivered late.
  if (old != nullptr && old->personal_data_erased()) Erase(after);
  // Dates once known stay known (a view without them is an older broker's); the broker's
  // replace the ones estimated here.
  if (old != nullptr && summary->ended_at_ms() == 0) summary->set_ended_at_ms(old->ended_at_ms());
  if (old != nullptr && summary->personal_data_erase_at_ms() == 0) {
    summary->set_personal_data_erase_at_ms(old->personal_data_erase_at_ms());
  }
  if (Ended(summary->state())) {
    if (summary->ended_at_ms() == 0) summary->set_ended_at_ms(ended_at_ms);
    if (summary->personal_data_erase_at_ms() == 0) {
      summary->set_personal_data_erase_at_ms(AddRetentionPeriod(
          summary->ended_at_ms(), personal_data_after_, sla::TimeZone::Paris()));
    }
  }
  const int64_t was = old != nullptr ? old->personal_data_erase_at_ms() : 0;
  const int64_t is = summary->personal_data_erase_at_ms();
  if (was == is) return;
  if (was != 0) batch.Delete(retention_, DueKey(was, summary->case_id()));
  if (is != 0) batch.Put(retention_, DueKey(is, summary->case_id()), "");
}

Status LocalCaseCache::IndexEndedCases() {
  auto indexed = db_.Get(meta_, kRetentionIndexedKey);
  if (!indexed.ok()) return indexed.status();
  if (indexed->has_value()) return Status::Ok();
  rocksdb::WriteBatch batch;
  const int64_t now = clock_.NowMs();
  size_t dated = 0;
  auto it = db_.NewIterator(cases_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto view = Parse<wire::CaseView>(it->value().ToString());
    if (!view) continue;
    const auto& summary = view->summary();
    if (!Ended(summary.state()) && summary.personal_data_erase_at_ms() == 0) continue;
    // When it ended is not known here: its last event is the best guess.
    int64_t ended_at_ms = now;
    if (view->timeline_size() > 0) {
      ended_at_ms = view->timeline(view->timeline_size() - 1).at_ms();
    }
    wire::CaseView undated = *view;
    undated.mutable_summary()->clear_personal_data_erase_at_ms();  // so that it is indexed
    TrackRetention(batch, &undated, *view, ended_at_ms);
    batch.Put(cases_, it->key(), view->SerializeAsString());
    ++dated;
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the cached cases: " + it->status().ToString());
  }
  batch.Put(meta_, kRetentionIndexedKey, "1");
  Status status = db_.Write(batch);
  if (status.ok() && dated > 0) {
    spdlog::info("retention: {} ended case(s) cached before now are scheduled for erasure", dated);
  }
  return status;
}

Result<LocalCaseCache::Erasure> LocalCaseCache::ErasePersonalDataDue() {
  const int64_t now = clock_.NowMs();
  Erasure erasure;
  rocksdb::WriteBatch batch;
  std::set<std::string> erased;  // a case indexed twice (its date moved) is erased once
  auto it = db_.NewIterator(retention_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    if (key.size() <= 8) {  // not a key of ours: drop it rather than stop every sweep here
      batch.Delete(retention_, key);
      continue;
    }
    if (static_cast<int64_t>(ReadBigEndian64(key.data())) > now) break;
    if (erased.size() == kMaxErasuresPerSweep) {
      erasure.more = true;
      break;
    }
    batch.Delete(retention_, key);
    std::string case_id(key.data() + 8, key.size() - 8);
    if (!erased.insert(case_id).second) continue;
    auto cached = FindCase(case_id);
    if (!cached.ok()) return cached.status();
    if (cached->has_value()) {
      wire::CaseView view = std::move(**cached);
      Erase(view);
      batch.Put(cases_, case_id, view.SerializeAsString());
    }
    for (auto& item : Mailbox(case_id)) {
      if (!item.has_mail() || item.mail().text().empty()) continue;
      item.mutable_mail()->clear_text();
      batch.Put(mailbox_, MailboxKey(case_id, item.delivery_id()), item.SerializeAsString());
    }
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE,
                  "cannot read the retention index: " + it->status().ToString());
  }
  if (batch.Count() == 0) return erasure;
  if (!erased.empty()) batch.Put(meta_, kCompactionOwedKey, "1");
  Status status = db_.Write(batch);
  if (!status.ok()) return status;
  erasure.cases = erased.size();
  if (!erased.empty()) {
    // The bounding ranges of what was rewritten: the cases' records and their mail items.
    const std::string& first = *erased.begin();
    const std::string& last = *erased.rbegin();
    erasure.ranges.push_back(KeyRange{cases_, first, last});
    erasure.ranges.push_back(KeyRange{mailbox_, first + std::string(1, '\0'),
                                      last + std::string(1, '\0') + std::string(8, '\xff')});
  }
  return erasure;
}

Result<bool> LocalCaseCache::CompactionOwed() const {
  auto owed = db_.Get(meta_, kCompactionOwedKey);
  if (!owed.ok()) return owed.status();
  return owed->has_value();
}

Status LocalCaseCache::ClearCompactionOwed() {
  rocksdb::WriteBatch batch;
  batch.Delete(meta_, kCompactionOwedKey);
  return db_.Write(batch);
}

std::vector<KeyRange> LocalCaseCache::PersonalDataRanges() const {
  return {KeyRange{cases_, {}, {}}, KeyRange{mailbox_, {}, {}}};
}

}  // namespace aplus
