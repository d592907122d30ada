#include "agent-gateway/local_case_cache.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "store/outbox.h"

namespace aplus {
namespace {

constexpr const char* kNextLocalRefKey = "next_local_ref";

std::string MailboxKey(const std::string& case_id, uint64_t delivery_id) {
  std::string key = case_id;
  key.push_back('\0');
  AppendBigEndian64(key, delivery_id);
  return key;
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
  return {kOutboxFamily, kRefsFamily, kCasesFamily, kMailboxFamily, kMetaFamily};
}

LocalCaseCache::LocalCaseCache(RocksDb& db)
    : db_(db),
      refs_(db.Family(kRefsFamily)),
      cases_(db.Family(kCasesFamily)),
      mailbox_(db.Family(kMailboxFamily)),
      meta_(db.Family(kMetaFamily)) {}

Result<std::string> LocalCaseCache::AllocateLocalRef() {
  auto stored = db_.Get(meta_, kNextLocalRefKey);
  if (!stored.ok()) return stored.status();
  uint64_t next = 1;
  if (stored->has_value() && (*stored)->size() == 8) next = ReadBigEndian64((*stored)->data());
  std::string value;
  AppendBigEndian64(value, next + 1);
  rocksdb::WriteBatch batch;
  batch.Put(meta_, kNextLocalRefKey, value);
  Status status = db_.Write(batch);
  if (!status.ok()) return status;
  return "LOC-" + std::to_string(next);
}

Status LocalCaseCache::RecordSubmitAnswer(const std::string& local_ref, const wire::Submit& submit,
                                          int64_t submitted_at_ms, const wire::Envelope& answer) {
  rocksdb::WriteBatch batch;
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
  if (existing->has_value()) view = std::move(**existing);
  view.mutable_summary()->set_case_id(updated.case_id());
  view.mutable_summary()->set_state(updated.state());
  if (updated.state() != wire::INFO_REQUESTED) view.clear_question();
  rocksdb::WriteBatch batch;
  batch.Put(cases_, updated.case_id(), view.SerializeAsString());
  return db_.Write(batch);
}

Status LocalCaseCache::RecordSummaries(const std::vector<wire::CaseSummary>& summaries) {
  if (summaries.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  for (const auto& summary : summaries) {
    if (summary.case_id().empty()) continue;
    auto existing = FindCase(summary.case_id());
    if (!existing.ok()) return existing.status();
    wire::CaseView view;
    if (existing->has_value()) view = std::move(**existing);
    std::string local_ref = view.summary().local_ref();
    *view.mutable_summary() = summary;
    if (summary.local_ref().empty()) view.mutable_summary()->set_local_ref(local_ref);
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
  std::vector<wire::CaseSummary> summaries;
  auto it = db_.NewIterator(cases_);
  if (after_case_id.empty()) {
    it->SeekToFirst();
  } else {
    it->Seek(after_case_id);
    if (it->Valid() && it->key() == rocksdb::Slice(after_case_id)) it->Next();
  }
  for (; it->Valid() && summaries.size() < limit; it->Next()) {
    auto view = Parse<wire::CaseView>(it->value().ToString());
    if (view) summaries.push_back(view->summary());
  }
  return summaries;
}

Result<size_t> LocalCaseCache::StoreDeliveries(const std::vector<wire::Delivery>& deliveries) {
  rocksdb::WriteBatch batch;
  std::set<std::string> keys_in_batch;
  std::map<std::string, wire::CaseView> touched;  // cases changed by this batch, latest first
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
    batch.Put(mailbox_, key, delivery.SerializeAsString());
    auto view_it = touched.find(case_id);
    if (view_it == touched.end()) {
      auto cached = FindCase(case_id);
      if (!cached.ok()) return cached.status();
      view_it =
          touched.emplace(case_id, cached->has_value() ? std::move(**cached) : wire::CaseView())
              .first;
    }
    if (delivery.has_alert()) {
      ApplyAlert(view_it->second, delivery.alert());
    } else {
      ApplyMail(view_it->second, delivery.mail());
    }
    ++stored;
  }
  if (stored == 0) return size_t{0};
  for (const auto& [case_id, view] : touched) batch.Put(cases_, case_id, view.SerializeAsString());
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

}  // namespace aplus
