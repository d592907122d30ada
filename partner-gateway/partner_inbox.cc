#include "partner-gateway/partner_inbox.h"

#include <algorithm>

namespace aplus {
namespace {
constexpr char kCasePrefix = 'c';
constexpr char kArrivalPrefix = 'a';

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
}  // namespace

PartnerInbox::PartnerInbox(RocksDb& db) : db_(db), family_(db.Family(kInboxFamily)) {
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

Status PartnerInbox::StoreNew(const std::vector<Arrival>& arrivals, int64_t received_at_ms) {
  if (arrivals.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  uint64_t arrival = next_arrival_;
  for (const auto& item : arrivals) {
    const std::string& case_id = item.escalation.case_id();
    batch.Put(family_, CaseKey(case_id),
              ViewOf(item.escalation, item.attempt, received_at_ms).SerializeAsString());
    batch.Put(family_, ArrivalKey(arrival++), case_id);
  }
  Status status = db_.Write(batch);
  if (status.ok()) next_arrival_ = arrival;
  return status;
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
  if (reply_text) view.set_reply_text(*reply_text);
  *view.add_timeline() =
      MakeEvent(static_cast<uint32_t>(view.timeline_size()), at_ms, state, actor);
  rocksdb::WriteBatch batch;
  batch.Put(family_, CaseKey(case_id), view.SerializeAsString());
  return db_.Write(batch);
}

Result<std::vector<wire::CaseView>> PartnerInbox::Newest(size_t limit) const {
  std::vector<std::string> case_ids;
  auto it = db_.NewIterator(family_);
  for (it->SeekForPrev(ArrivalKey(UINT64_MAX));
       it->Valid() && case_ids.size() < limit && !it->key().empty() &&
       it->key()[0] == kArrivalPrefix;
       it->Prev()) {
    case_ids.push_back(it->value().ToString());
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

}  // namespace aplus
