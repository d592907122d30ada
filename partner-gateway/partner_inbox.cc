#include "partner-gateway/partner_inbox.h"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "common/personal_data.h"
#include "sla/civil_time.h"

namespace aplus {
namespace {
constexpr char kCasePrefix = 'c';
constexpr char kArrivalPrefix = 'a';
constexpr char kNoticePrefix = 'd';
constexpr char kDuePrefix = 'e';
constexpr char kCompactionOwedKey[] = "p";
constexpr char kRetentionIndexedKey[] = "r";

// The states in which the case has left the partner's hands: the retention period runs.
bool LeftPartner(wire::CaseState state) {
  return state == wire::ANSWERED || state == wire::CLOSED || state == wire::CANCELLED;
}

wire::Event MakeEvent(uint32_t sequence, int64_t at_ms, wire::CaseState state,
                      const std::string& actor) {
  wire::Event event;
  event.set_sequence(sequence);
  event.set_at_ms(at_ms);
  event.set_kind(wire::CaseState_Name(state));
  event.set_actor(actor);
  event.set_state_after(state);
  return event;
}

// Appends an event numbered after the last one (numbers stay dense even after a transfer
// back, whose timeline continues the earlier one).
wire::Event* AppendEvent(wire::CaseView& view, int64_t at_ms, const std::string& kind,
                         const std::string& actor, const std::string& detail) {
  auto* event = view.add_timeline();
  event->set_sequence(static_cast<uint32_t>(view.timeline_size() - 1));
  event->set_at_ms(at_ms);
  event->set_kind(kind);
  event->set_actor(actor);
  event->set_detail(detail);
  event->set_state_after(view.summary().state());
  return event;
}

// What a delivered notice or alert does to the case record.
void ApplyNotice(wire::CaseView& view, const wire::Delivery& delivery, int64_t received_at_ms) {
  auto* summary = view.mutable_summary();
  if (delivery.has_alert()) {
    const auto& alert = delivery.alert();
    bool warning = alert.kind() == wire::Alert::WARNING;
    if (warning) {
      summary->set_warned(true);
    } else {
      summary->set_breached(true);
    }
    if (alert.deadline_ms() > 0) summary->set_deadline_ms(alert.deadline_ms());
    AppendEvent(view, alert.raised_at_ms() > 0 ? alert.raised_at_ms() : received_at_ms,
                warning ? "SLA_WARNING" : "SLA_BREACH", "broker", alert.text());
    return;
  }
  const auto& mail = delivery.mail();
  int64_t at_ms = mail.at_ms() > 0 ? mail.at_ms() : received_at_ms;
  if (mail.kind() == wire::MailItem::NOTICE) {
    // The contact point answered our question: the clock runs again. A notice that arrives
    // after the case moved on (replied meanwhile) is history only.
    if (summary->state() == wire::INFO_REQUESTED) {
      summary->set_state(mail.state() != wire::STATE_UNSPECIFIED ? mail.state()
                                                                 : wire::ACKNOWLEDGED);
      view.clear_question();
    }
    AppendEvent(view, at_ms, "INFO_ANSWERED", summary->contact_point(), mail.text());
    return;
  }
  AppendEvent(view, at_ms, wire::MailItem::Kind_Name(mail.kind()), mail.partner(), mail.text());
}

const std::string& NoticeCaseId(const wire::Delivery& delivery) {
  return delivery.has_alert() ? delivery.alert().case_id() : delivery.mail().case_id();
}

}  // namespace

PartnerInbox::PartnerInbox(RocksDb& db, RetentionPeriod personal_data_after)
    : db_(db), personal_data_after_(personal_data_after), family_(db.Family(kInboxFamily)) {
  // The next arrival number follows the last stored one ("a" keys sort before "c" keys).
  auto it = db_.NewIterator(family_);
  it->SeekForPrev(ArrivalKey(UINT64_MAX));
  if (it->Valid() && it->key().size() == 9 && it->key()[0] == kArrivalPrefix) {
    next_arrival_ = ReadBigEndian64(it->key().data() + 1) + 1;
  }
}

std::string PartnerInbox::CaseKey(const std::string& case_id) {
  return std::string(1, kCasePrefix) + case_id;
}

std::string PartnerInbox::ArrivalKey(uint64_t arrival) {
  std::string key(1, kArrivalPrefix);
  AppendBigEndian64(key, arrival);
  return key;
}

std::string PartnerInbox::NoticeKey(const std::string& queue, uint64_t delivery_id) {
  std::string key(1, kNoticePrefix);
  key += queue;
  key.push_back('\0');
  AppendBigEndian64(key, delivery_id);
  return key;
}

std::string PartnerInbox::DueKey(int64_t erase_at_ms, const std::string& case_id) {
  std::string key(1, kDuePrefix);
  AppendBigEndian64(key, static_cast<uint64_t>(erase_at_ms));
  key += case_id;
  return key;
}

Result<std::optional<wire::CaseView>> PartnerInbox::Find(const std::string& case_id) const {
  auto value = db_.Get(family_, CaseKey(case_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<wire::CaseView>();
  wire::CaseView view;
  if (!view.ParseFromString(**value)) {
    return Status(wire::INTERNAL, "stored inbox record of " + case_id + " is corrupt");
  }
  return std::optional<wire::CaseView>(std::move(view));
}

Status PartnerInbox::StoreNew(const std::vector<Arrival>& arrivals, int64_t received_at_ms,
                              const BatchExtra& extra) {
  if (arrivals.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  uint64_t arrival = next_arrival_;
  for (const auto& item : arrivals) {
    const std::string& case_id = item.escalation.case_id();
    wire::CaseView view = ViewOf(item.escalation, item.attempt, received_at_ms);
    if (item.previous) {
      wire::CaseView merged = view;
      *merged.mutable_timeline() = item.previous->timeline();
      for (const auto& event : view.timeline()) {
        auto* added = merged.add_timeline();
        *added = event;
        added->set_sequence(static_cast<uint32_t>(merged.timeline_size() - 1));
      }
      view = std::move(merged);
    }
    batch.Put(family_, CaseKey(case_id), view.SerializeAsString());
    batch.Put(family_, ArrivalKey(arrival++), case_id);
  }
  if (extra) extra(batch);
  Status status = db_.Write(batch);
  if (status.ok()) next_arrival_ = arrival;
  return status;
}

Status PartnerInbox::Rewrite(const wire::CaseView& view) {
  rocksdb::WriteBatch batch;
  batch.Put(family_, CaseKey(view.summary().case_id()), view.SerializeAsString());
  return db_.Write(batch);
}

Status PartnerInbox::ApplyUpdate(const std::string& case_id, wire::CaseState state,
                                 const std::optional<std::string>& reply_text,
                                 const std::string& actor, int64_t at_ms) {
  auto found = Find(case_id);
  if (!found.ok()) return found.status();
  if (!found->has_value())
    return Status(wire::UNKNOWN_CASE, "no case " + case_id + " in the inbox");
  wire::CaseView view = std::move(**found);
  view.mutable_summary()->set_state(state);
  // A reply confirmed after the erasure (a late duplicate) is not kept either.
  if (reply_text && !view.summary().personal_data_erased()) view.set_reply_text(*reply_text);
  if (state != wire::INFO_REQUESTED) view.clear_question();
  *view.add_timeline() =
      MakeEvent(static_cast<uint32_t>(view.timeline_size()), at_ms, state, actor);
  rocksdb::WriteBatch batch;
  TrackRetention(batch, view, at_ms);
  batch.Put(family_, CaseKey(case_id), view.SerializeAsString());
  return db_.Write(batch);
}

Status PartnerInbox::RecordQuestion(const std::string& case_id, wire::CaseState state,
                                    const std::string& question, const std::string& actor,
                                    int64_t at_ms) {
  auto found = Find(case_id);
  if (!found.ok()) return found.status();
  if (!found->has_value())
    return Status(wire::UNKNOWN_CASE, "no case " + case_id + " in the inbox");
  wire::CaseView view = std::move(**found);
  view.mutable_summary()->set_state(state);
  if (state == wire::INFO_REQUESTED) view.set_question(question);
  AppendEvent(view, at_ms, wire::CaseState_Name(state), actor, question);
  return Rewrite(view);
}

Status PartnerInbox::RecordTransfer(const std::string& case_id, wire::CaseState state,
                                    const std::string& to_partner, const std::string& actor,
                                    int64_t at_ms) {
  auto found = Find(case_id);
  if (!found.ok()) return found.status();
  if (!found->has_value())
    return Status(wire::UNKNOWN_CASE, "no case " + case_id + " in the inbox");
  wire::CaseView view = std::move(**found);
  auto* summary = view.mutable_summary();
  // Least privilege: the new partner owns the citizen's data now; keep what identifies and
  // dates the case, nothing a person wrote.
  summary->set_state(state);
  summary->set_transferred_from(summary->partner());
  summary->set_partner(to_partner);
  summary->clear_subject();
  summary->set_warned(false);
  summary->set_breached(false);
  view.clear_body();
  view.clear_citizen_name();
  view.clear_reply_text();
  view.clear_question();
  view.clear_deadline_explanation();
  for (auto& event : *view.mutable_timeline()) event.clear_detail();
  AppendEvent(view, at_ms, wire::CaseState_Name(state), actor, "to " + to_partner);
  rocksdb::WriteBatch batch;
  batch.Put(family_, CaseKey(case_id), view.SerializeAsString());
  // Stored notices may quote the contact point's answers: keep them as redelivery markers
  // only. Transfers are rare; a scan of the notices is cheap enough.
  auto it = db_.NewIterator(family_);
  const std::string prefix(1, kNoticePrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    wire::Delivery stored;
    if (!stored.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    if (NoticeCaseId(stored) != case_id) continue;
    if (stored.has_mail()) stored.mutable_mail()->clear_text();
    if (stored.has_alert()) stored.mutable_alert()->clear_text();
    batch.Put(family_, it->key(), stored.SerializeAsString());
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the inbox: " + it->status().ToString());
  }
  return db_.Write(batch);
}

Result<bool> PartnerInbox::StoreNotice(const wire::Delivery& delivery, int64_t received_at_ms,
                                       const NoticeExtra& extra) {
  bool usable = (delivery.has_alert() || delivery.has_mail()) && !NoticeCaseId(delivery).empty();
  if (!usable) return Status(wire::INVALID_ARGUMENT, "delivery carries no notice or alert");
  const std::string key = NoticeKey(delivery.queue(), delivery.delivery_id());
  auto existing = db_.Get(family_, key);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return false;  // a redelivery: applied before
  rocksdb::WriteBatch batch;
  auto found = Find(NoticeCaseId(delivery));
  if (!found.ok()) return found.status();
  if (found->has_value() && (**found).summary().personal_data_erased()) {
    // Late news about a case whose retention is over here: its text is not kept.
    wire::Delivery without_text = delivery;
    if (without_text.has_mail()) without_text.mutable_mail()->clear_text();
    batch.Put(family_, key, without_text.SerializeAsString());
  } else {
    batch.Put(family_, key, delivery.SerializeAsString());
  }
  std::optional<wire::CaseView> stored;
  if (found->has_value()) {
    wire::CaseView view = std::move(**found);
    ApplyNotice(view, delivery, received_at_ms);
    if (view.summary().personal_data_erased()) WithholdPersonalData(view);
    batch.Put(family_, CaseKey(view.summary().case_id()), view.SerializeAsString());
    stored = std::move(view);
  }
  if (extra) extra(batch, stored);
  Status status = db_.Write(batch);
  if (!status.ok()) return status;
  return true;
}

Result<PartnerInbox::Page> PartnerInbox::ListAfter(uint64_t after, size_t limit,
                                                   std::optional<wire::CaseState> state) const {
  Page page;
  page.next_after = after;
  const size_t max_scanned = 10 * limit + 100;
  size_t scanned = 0;
  auto it = db_.NewIterator(family_);
  for (it->Seek(ArrivalKey(after + 1));
       it->Valid() && it->key().size() == 9 && it->key()[0] == kArrivalPrefix; it->Next()) {
    if (page.views.size() >= limit || scanned >= max_scanned) {
      page.more = true;
      break;
    }
    ++scanned;
    page.next_after = ReadBigEndian64(it->key().data() + 1);
    auto found = Find(it->value().ToString());
    if (!found.ok()) return found.status();
    if (!found->has_value()) continue;
    if (state && (**found).summary().state() != *state) continue;
    page.views.push_back(std::move(**found));
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the inbox: " + it->status().ToString());
  }
  return page;
}

Result<std::vector<wire::CaseView>> PartnerInbox::Newest(size_t limit) const {
  std::vector<std::string> case_ids;
  std::set<std::string> seen;
  auto it = db_.NewIterator(family_);
  for (it->SeekForPrev(ArrivalKey(UINT64_MAX));
       it->Valid() && case_ids.size() < limit && !it->key().empty() &&
       it->key()[0] == kArrivalPrefix;
       it->Prev()) {
    std::string case_id = it->value().ToString();
    // A case transferred back arrived twice: it is listed where it arrived last.
    if (seen.insert(case_id).second) case_ids.push_back(std::move(case_id));
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the inbox: " + it->status().ToString());
  }
  std::reverse(case_ids.begin(), case_ids.end());
  std::vector<wire::CaseView> views;
  views.reserve(case_ids.size());
  for (const auto& case_id : case_ids) {
    auto found = Find(case_id);
    if (!found.ok()) return found.status();
    if (found->has_value()) views.push_back(std::move(**found));
  }
  return views;
}

wire::CaseView PartnerInbox::ViewOf(const wire::Escalation& escalation, uint32_t attempt,
                                    int64_t received_at_ms) {
  wire::CaseView view;
  auto* summary = view.mutable_summary();
  summary->set_case_id(escalation.case_id());
  summary->set_state(wire::DELIVERED);
  summary->set_contact_point(escalation.contact_point());
  summary->set_agent(escalation.agent());
  summary->set_partner(escalation.partner());
  summary->set_territory(escalation.territory());
  summary->set_category(escalation.category());
  summary->set_subject(escalation.subject());
  summary->set_submitted_at_ms(escalation.submitted_at_ms());
  summary->set_deadline_ms(escalation.deadline_ms());
  summary->set_delivery_attempts(attempt);
  view.set_body(escalation.body());
  view.set_citizen_name(escalation.citizen_name());
  *view.add_timeline() = MakeEvent(0, received_at_ms, wire::DELIVERED, "broker");
  return view;
}

wire::Escalation PartnerInbox::EscalationOf(const wire::CaseView& view) {
  const auto& summary = view.summary();
  wire::Escalation escalation;
  escalation.set_case_id(summary.case_id());
  escalation.set_contact_point(summary.contact_point());
  escalation.set_agent(summary.agent());
  escalation.set_partner(summary.partner());
  escalation.set_territory(summary.territory());
  escalation.set_category(summary.category());
  escalation.set_subject(summary.subject());
  escalation.set_body(view.body());
  escalation.set_citizen_name(view.citizen_name());
  escalation.set_submitted_at_ms(summary.submitted_at_ms());
  escalation.set_deadline_ms(summary.deadline_ms());
  return escalation;
}

// --- retention -----------------------------------------------------------------------------

void PartnerInbox::TrackRetention(rocksdb::WriteBatch& batch, wire::CaseView& view,
                                  int64_t at_ms) const {
  auto* summary = view.mutable_summary();
  if (!LeftPartner(summary->state()) || summary->personal_data_erase_at_ms() != 0) return;
  if (summary->state() == wire::ANSWERED && summary->answered_at_ms() == 0) {
    summary->set_answered_at_ms(at_ms);
  }
  const int64_t erase_at =
      AddRetentionPeriod(at_ms, personal_data_after_, sla::TimeZone::Paris());
  summary->set_personal_data_erase_at_ms(erase_at);
  batch.Put(family_, DueKey(erase_at, summary->case_id()), "");
}

Status PartnerInbox::IndexAnsweredCases(int64_t now_ms) {
  auto indexed = db_.Get(family_, kRetentionIndexedKey);
  if (!indexed.ok()) return indexed.status();
  if (indexed->has_value()) return Status::Ok();
  rocksdb::WriteBatch batch;
  size_t dated = 0;
  auto it = db_.NewIterator(family_);
  const std::string prefix(1, kCasePrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    wire::CaseView view;
    if (!view.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    const auto& summary = view.summary();
    if (!LeftPartner(summary.state()) || summary.personal_data_erase_at_ms() != 0 ||
        summary.personal_data_erased()) {
      continue;
    }
    // When the reply was accepted: the last event that left the case in its state, else now.
    int64_t left_at_ms = now_ms;
    for (const auto& event : view.timeline()) {
      if (event.state_after() == summary.state()) left_at_ms = event.at_ms();
    }
    TrackRetention(batch, view, left_at_ms);
    batch.Put(family_, it->key(), view.SerializeAsString());
    ++dated;
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the inbox: " + it->status().ToString());
  }
  batch.Put(family_, kRetentionIndexedKey, "1");
  Status status = db_.Write(batch);
  if (status.ok() && dated > 0) {
    spdlog::info("retention: {} case(s) answered before now are scheduled for erasure", dated);
  }
  return status;
}

Result<std::vector<PartnerInbox::Due>> PartnerInbox::DueForErasure(int64_t now_ms,
                                                                   size_t limit) const {
  std::vector<Due> due;
  auto it = db_.NewIterator(family_);
  const std::string prefix(1, kDuePrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && due.size() < limit;
       it->Next()) {
    const rocksdb::Slice key = it->key();
    if (key.size() <= 9) continue;
    const int64_t erase_at = static_cast<int64_t>(ReadBigEndian64(key.data() + 1));
    if (erase_at > now_ms) break;
    due.push_back({std::string(key.data() + 9, key.size() - 9), erase_at});
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the inbox: " + it->status().ToString());
  }
  return due;
}

Result<PartnerInbox::Erasure> PartnerInbox::ErasePersonalData(const std::vector<Due>& due,
                                                              const BatchExtra& extra) {
  Erasure erasure;
  if (due.empty()) return erasure;
  rocksdb::WriteBatch batch;
  std::set<std::string> case_ids;
  std::optional<std::string> first_key, last_key;  // bounds of the keys rewritten
  auto rewrite = [&](const std::string& key, const std::string& value) {
    batch.Put(family_, key, value);
    if (!first_key || key < *first_key) first_key = key;
    if (!last_key || key > *last_key) last_key = key;
  };
  for (const auto& item : due) {
    batch.Delete(family_, DueKey(item.erase_at_ms, item.case_id));
    if (!case_ids.insert(item.case_id).second) continue;
    auto found = Find(item.case_id);
    if (!found.ok()) return found.status();
    if (!found->has_value()) continue;
    wire::CaseView view = std::move(**found);
    WithholdPersonalData(view);
    view.mutable_summary()->set_personal_data_erased(true);
    rewrite(CaseKey(item.case_id), view.SerializeAsString());
  }
  // Stored notices quote the contact point's answers. One scan for every case of the batch.
  auto it = db_.NewIterator(family_);
  const std::string prefix(1, kNoticePrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    wire::Delivery stored;
    if (!stored.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    if (!stored.has_mail() || stored.mail().text().empty()) continue;
    if (case_ids.count(NoticeCaseId(stored)) == 0) continue;
    stored.mutable_mail()->clear_text();
    rewrite(it->key().ToString(), stored.SerializeAsString());
  }
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the inbox: " + it->status().ToString());
  }
  batch.Put(family_, kCompactionOwedKey, "1");
  if (extra) extra(batch);
  Status status = db_.Write(batch);
  if (!status.ok()) return status;
  erasure.cases = case_ids.size();
  if (first_key) erasure.ranges.push_back(KeyRange{family_, first_key, last_key});
  return erasure;
}

Result<bool> PartnerInbox::CompactionOwed() const {
  auto owed = db_.Get(family_, kCompactionOwedKey);
  if (!owed.ok()) return owed.status();
  return owed->has_value();
}

Status PartnerInbox::ClearCompactionOwed() {
  rocksdb::WriteBatch batch;
  batch.Delete(family_, kCompactionOwedKey);
  return db_.Write(batch);
}

KeyRange PartnerInbox::PersonalDataRange() const { return KeyRange{family_, {}, {}}; }

}  // namespace aplus
