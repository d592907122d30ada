// Dead letters an operator can act on: the alert a dead-lettering raises, the listing, and the
// requeue that puts parked items back at the head of their queues.
//
// A parked item keeps its queue sequence under "dead/<queue>" (store/KEY_LAYOUT.md). Its
// sequence is below the live queue's cursor (it was handed out before), so putting it back
// under the same sequence and marking it for redelivery makes it go first, in its original
// order among the other requeued items, with the same delivery id as before.
#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "broker/request_support.h"
#include "common/case_id.h"
#include "common/wire.h"
#include "store/key_layout.h"

namespace aplus {
namespace {

constexpr size_t kMaxIdempotencyKeyBytes = 128;

std::string DeadLetterAlertId(const std::string& case_id, uint32_t n) {
  return case_id + "/" + wire::Alert::Kind_Name(wire::Alert::DEAD_LETTER) + "/" + std::to_string(n);
}

const char* ItemKind(const records::QueueItem& item) {
  if (item.has_mail()) return "mail";
  if (item.has_alert()) return "alert";
  return "escalation";
}

std::string Plural(size_t n, const char* one) {
  return std::to_string(n) + " " + one + (n == 1 ? "" : "s");
}

}  // namespace

void Broker::RaiseDeadLetterAlert(const std::string& case_id, records::CaseRecord* record,
                                  const std::string& queue, uint64_t sequence,
                                  const records::QueueItem& item) {
  uint32_t n = 1;
  if (record) {
    n = record->dead_letterings() + 1;
    record->set_dead_letterings(n);
  } else {
    // No record to count in (rare: a mail item about a case that cannot be read): the stored
    // alerts say how many came before.
    for (;; ++n) {
      auto existing = store_->GetAlert(DeadLetterAlertId(case_id, n));
      if (!existing.ok() || !existing->has_value()) break;
    }
  }
  wire::Alert alert;
  alert.set_alert_id(DeadLetterAlertId(case_id, n));
  alert.set_kind(wire::Alert::DEAD_LETTER);
  alert.set_case_id(case_id);
  if (record) {
    const auto& summary = record->summary();
    alert.set_partner(summary.partner());
    alert.set_territory(summary.territory());
    alert.set_contact_point(summary.contact_point());
    alert.set_deadline_ms(summary.deadline_ms());
  } else if (item.has_mail()) {
    alert.set_partner(item.mail().partner());
  } else if (item.has_alert()) {
    alert.set_partner(item.alert().partner());
    alert.set_territory(item.alert().territory());
    alert.set_contact_point(item.alert().contact_point());
  }
  alert.set_raised_at_ms(clock_.NowMs());
  alert.set_sequence(store_->NextAlertSequence());
  alert.set_text("case " + case_id + ": " + ItemKind(item) + " item " + std::to_string(sequence) +
                 " of " + queue + " not acknowledged after " +
                 std::to_string(options_.max_delivery_attempts) +
                 " deliveries, parked; requeue it with: aplus dlq requeue " + case_id);
  // Operators only: the alert stream and `aplus alerts`, never a partner's or contact point's
  // queue (a reminder to a failing partner would itself be dead-lettered).
  store_->PutAlert(alert, /*open=*/true);
  alerts_to_publish_.push_back(std::move(alert));
}

void Broker::OnListDeadLetters(Session& session, const wire::Envelope& request) {
  const auto& ask = request.list_dead_letters();
  size_t limit = ask.limit() == 0 ? 100 : std::min<size_t>(ask.limit(), 10000);
  std::vector<BrokerStore::DeadLetterEntry> entries;
  if (ask.partner().empty()) {
    auto all = store_->ReadDeadLetters("");
    if (!all.ok()) return AnswerError(session.routing_id, request.request_id(), all.status());
    entries = std::move(all).value();
  } else {
    const Partner* partner = config_.FindPartner(ask.partner());
    if (!partner) {
      return AnswerError(session.routing_id, request.request_id(),
                         Status(wire::UNKNOWN_PARTNER, "no partner '" + ask.partner().substr(0, 128) + "'"));
    }
    for (const auto& queue : PartnerQueuesFor(config_, *partner, "")) {
      auto some = store_->ReadDeadLetters(queue + std::string(1, '\0'));  // exactly this queue
      if (!some.ok()) return AnswerError(session.routing_id, request.request_id(), some.status());
      for (auto& entry : *some) entries.push_back(std::move(entry));
    }
  }
  // Oldest first; within one dead-lettering instant, queue order.
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.item.dead_lettered_at_ms() < b.item.dead_lettered_at_ms();
  });
  wire::Envelope answer = AnswerTo(request);
  auto* list = answer.mutable_dead_letter_list();
  for (const auto& entry : entries) {
    if (static_cast<size_t>(list->items_size()) >= limit) break;
    auto* out = list->add_items();
    out->set_queue(entry.queue);
    out->set_sequence(entry.sequence);
    out->set_case_id(entry.item.case_id());
    out->set_kind(ItemKind(entry.item));
    out->set_attempts(entry.item.attempts());
    out->set_dead_lettered_at_ms(entry.item.dead_lettered_at_ms());
  }
  // It may show this batch's parking: it leaves once that is on disk.
  Answer(session.routing_id, std::move(answer));
}

void Broker::OnRequeueDeadLetters(Session& session, const wire::Envelope& request) {
  const std::string& routing_id = session.routing_id;
  const auto& ask = request.requeue_dead_letters();
  bool by_case = !ask.case_id().empty();
  bool by_partner = !ask.partner().empty() || ask.all();
  if (by_case == by_partner || (by_partner && (ask.partner().empty() || !ask.all()))) {
    return AnswerError(routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT,
                              "name one case, or a partner with all = true (not both)"));
  }
  if (ask.idempotency_key().size() > kMaxIdempotencyKeyBytes) {
    return AnswerError(routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "idempotency_key exceeds 128 bytes"));
  }
  std::string case_id;
  const Partner* partner = nullptr;
  if (by_case) {
    auto normalized = NormalizeCaseId(ask.case_id());
    if (!normalized) {
      return AnswerError(routing_id, request.request_id(),
                         Status(wire::UNKNOWN_CASE, "'" + ask.case_id().substr(0, 64) + "' is not a case id"));
    }
    case_id = *normalized;
  } else {
    partner = config_.FindPartner(ask.partner());
    if (!partner) {
      return AnswerError(routing_id, request.request_id(),
                         Status(wire::UNKNOWN_PARTNER, "no partner '" + ask.partner().substr(0, 128) + "'"));
    }
  }
  std::string dedup_key;
  if (!ask.idempotency_key().empty()) {
    // The table's scope, and what the requeue is about: a case, or a partner's queues.
    dedup_key = keys::ScopedIdempotencyKey(keys::kScopeRequeueDeadLetters,
                                           by_case ? case_id : "partner/" + partner->id,
                                           ask.idempotency_key());
    auto existing = store_->GetDedup(session.DedupPrincipal(), dedup_key);
    if (!existing.ok()) return AnswerError(routing_id, request.request_id(), existing.status());
    if (existing->has_value()) {
      wire::Envelope answer = AnswerTo(request);
      *answer.mutable_requeued() = (*existing)->requeued();
      // The first answer may still be in this very batch: answer only after the commit.
      return Answer(routing_id, std::move(answer));
    }
  }

  // What is parked: every item of the case, or every item of the partner's queues.
  std::vector<BrokerStore::DeadLetterEntry> entries;
  if (by_case) {
    auto all = store_->ReadDeadLetters("");
    if (!all.ok()) return AnswerError(routing_id, request.request_id(), all.status());
    for (auto& entry : *all) {
      if (entry.item.case_id() == case_id) entries.push_back(std::move(entry));
    }
  } else {
    for (const auto& queue : PartnerQueuesFor(config_, *partner, "")) {
      auto some = store_->ReadDeadLetters(queue + std::string(1, '\0'));
      if (!some.ok()) return AnswerError(routing_id, request.request_id(), some.status());
      for (auto& entry : *some) entries.push_back(std::move(entry));
    }
  }
  // The cases concerned, read before the first write (a read error changes nothing).
  std::map<std::string, std::optional<records::CaseRecord>> records_by_case;
  for (const auto& entry : entries) {
    const std::string& id = entry.item.case_id();
    if (id.empty() || records_by_case.count(id)) continue;
    auto record = store_->GetCase(id);
    if (!record.ok()) return AnswerError(routing_id, request.request_id(), record.status());
    records_by_case[id] = std::move(*record);
  }
  if (entries.empty()) {
    if (by_case) {
      auto record = store_->GetCase(case_id);
      if (!record.ok()) return AnswerError(routing_id, request.request_id(), record.status());
      if (!record->has_value()) {
        return AnswerError(routing_id, request.request_id(),
                           Status(wire::UNKNOWN_CASE, "no case " + case_id));
      }
    }
    return AnswerError(routing_id, request.request_id(),
                       Status(wire::NOT_DEAD_LETTERED,
                              by_case ? "case " + case_id + " has no dead-lettered item"
                                      : "no dead-lettered item in " + partner->id + "'s queues"));
  }

  struct Outcome {
    size_t requeued = 0;
    size_t dropped = 0;  // stale copies of an escalation the case no longer waits for
  };
  std::map<std::string, Outcome> outcomes;  // by case id ("" = items without a case)
  size_t requeued_items = 0;
  // Entries come in (queue, sequence) order: each queue's items go back in their order.
  for (auto& entry : entries) {
    const std::string& id = entry.item.case_id();
    Outcome& outcome = outcomes[id];
    QueueState& queue = Queue(entry.queue);
    std::string dead_queue = std::string(keys::kDeadLetterPrefix) + entry.queue;
    records::CaseRecord* record =
        id.empty() || !records_by_case[id].has_value() ? nullptr : &*records_by_case[id];
    bool escalation = !entry.item.has_mail() && !entry.item.has_alert();
    if (escalation) {
      // Only the case's own escalation goes back (its queue slot, at its current partner); a
      // copy left at a partner the case was transferred away from, or of a case closed or
      // cancelled since, would deliver a case its receiver no longer holds.
      const Partner* owner = record ? config_.FindPartner(record->summary().partner()) : nullptr;
      bool current = record && owner && record->queue().empty() &&
                     record->queue_sequence() == entry.sequence &&
                     PartnerQueueName(*owner, record->summary().territory()) == entry.queue &&
                     !IsFinal(record->summary().state());
      if (!current) {
        spdlog::warn("dead-lettered escalation {} of {} (case {}) is stale: dropped by {}",
                     entry.sequence, entry.queue, id, session.DedupPrincipal());
        store_->DeleteQueueItem(dead_queue, entry.sequence);
        if (queue.dead_lettered > 0) --queue.dead_lettered;
        ++outcome.dropped;
        // The case's own slot, of a case that ended: nothing of it is parked any more.
        if (record && owner && record->queue_sequence() == entry.sequence &&
            PartnerQueueName(*owner, record->summary().territory()) == entry.queue) {
          record->mutable_summary()->set_dead_lettered(false);
        }
        continue;
      }
      record->set_queue(entry.queue);  // the case's queue slot again (queue_sequence kept)
      record->mutable_summary()->set_dead_lettered(false);
    }
    records::QueueItem item = std::move(entry.item);
    item.set_dead_lettered(false);
    item.set_dead_lettered_at_ms(0);
    item.set_attempts(0);  // a fresh set of attempts
    store_->DeleteQueueItem(dead_queue, entry.sequence);
    store_->PutQueueItem(entry.queue, entry.sequence, item);
    if (queue.dead_lettered > 0) --queue.dead_lettered;
    ++queue.depth;
    queue.Enqueued(entry.sequence, clock_.NowMs());
    queue.attempts.erase(entry.sequence);
    // Below the cursor (always, unless a restart reset it): first in line among redeliveries.
    if (entry.sequence < queue.cursor) queue.redeliver.insert(entry.sequence);
    ++outcome.requeued;
    ++requeued_items;
  }

  wire::Envelope answer = AnswerTo(request);
  auto* requeued = answer.mutable_requeued();
  requeued->set_items(static_cast<uint32_t>(requeued_items));
  for (const auto& [id, outcome] : outcomes) {
    if (id.empty()) continue;
    requeued->add_case_ids(id);
    std::string detail = Plural(outcome.requeued, "item") + " back at the head of their queues";
    if (outcome.dropped > 0) {
      detail += ", " + std::to_string(outcome.dropped) + " stale escalation cop" +
                (outcome.dropped == 1 ? "y" : "ies") + " dropped";
    }
    if (auto& record = records_by_case[id]) {
      wire::Event event;
      event.set_sequence(record->event_count());
      event.set_at_ms(clock_.NowMs());
      event.set_kind("REQUEUED");
      event.set_actor(session.principal);
      event.set_detail(detail);
      event.set_state_after(record->summary().state());
      record->set_event_count(record->event_count() + 1);
      store_->PutEvent(id, event);
      store_->PutCase(*record, record->summary().state());
    }
    Audit(session, id, "requeue", detail);
  }
  spdlog::info("{} requeued {} dead-lettered item(s) of {} case(s)", session.DedupPrincipal(),
               requeued_items, requeued->case_ids_size());
  if (!dedup_key.empty()) {
    records::DedupEntry dedup;
    dedup.set_case_id(by_case ? case_id : "");
    *dedup.mutable_requeued() = *requeued;
    store_->PutDedup(session.DedupPrincipal(), dedup_key, dedup);
  }
  Answer(routing_id, std::move(answer));
}

}  // namespace aplus
