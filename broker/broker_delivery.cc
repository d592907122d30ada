// The delivery engine: at least once, in queue order, under a credit window and an ack lease.
// The stored queue is the truth; memory only says which items are in flight and where the
// never-delivered part of each queue begins.
#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "common/wire.h"
#include "store/key_layout.h"

namespace aplus {

void Broker::PumpDeliveries() {
  for (auto& [name, queue] : queues_) {
    if (queue.HasWork()) PumpQueue(queue);
  }
}

void Broker::PumpQueue(QueueState& queue) {
  // Sessions subscribed to this queue, served round robin while they have credit.
  std::vector<Session*> takers;
  for (auto& [id, session] : sessions_) {
    if (!session.subscribed()) continue;
    for (const auto& name : session.queues) {
      if (name == queue.name) {
        takers.push_back(&session);
        break;
      }
    }
  }
  if (takers.empty()) return;
  size_t next_taker = 0;
  auto pick_taker = [&]() -> Session* {
    for (size_t tried = 0; tried < takers.size(); ++tried) {
      Session* session = takers[next_taker];
      next_taker = (next_taker + 1) % takers.size();
      if (session->has_credit()) return session;
    }
    return nullptr;
  };

  // Redeliveries first: they are older than anything past the cursor.
  while (!queue.redeliver.empty()) {
    Session* session = pick_taker();
    if (!session) return;
    uint64_t sequence = *queue.redeliver.begin();
    queue.redeliver.erase(queue.redeliver.begin());
    auto item = store_->GetQueueItem(queue.name, sequence);
    if (!item.ok()) {
      // Skip the turn: the item stays due for redelivery and is read again at the next one.
      spdlog::error("queue {} item {} unreadable: {}", queue.name, sequence,
                    item.status().ToString());
      queue.redeliver.insert(sequence);
      return;
    }
    if (!item->has_value()) continue;  // acknowledged or cancelled meanwhile
    if (!DeliverOne(queue, sequence, **item, *session)) return;
  }
  // Hands out the item at `sequence`, the cursor moving past it; false when the turn stops here
  // (no session has credit left, or the send failed).
  auto hand_out = [&](uint64_t sequence, const records::QueueItem& item) {
    queue.cursor = sequence + 1;
    if (queue.in_flight.count(sequence)) return true;
    Session* session = pick_taker();
    if (!session) {
      queue.cursor = sequence;
      return false;
    }
    return DeliverOne(queue, sequence, item, *session);
  };
  while (queue.cursor < queue.next_sequence) {
    // Items this broker appended lately are still in the store's recent values: served from
    // there in order, without opening an iterator per queue and turn. The first one missing
    // there (evicted, withdrawn, or written by an earlier run) sends us to the stored queue.
    if (const records::QueueItem* recent = store_->RecentQueueItem(queue.name, queue.cursor)) {
      if (!hand_out(queue.cursor, *recent)) return;
      continue;
    }
    uint32_t credit = 0;
    for (Session* session : takers) credit += session->window - std::min(session->window, session->in_flight);
    if (credit == 0) return;
    auto read = store_->ReadQueue(queue.name, queue.cursor, credit);
    if (!read.ok()) {
      spdlog::error("queue {} unreadable, retried at the next turn: {}", queue.name,
                    read.status().ToString());
      return;
    }
    auto& entries = *read;
    if (entries.empty()) {
      queue.cursor = queue.next_sequence;  // the rest was acknowledged or cancelled
      return;
    }
    for (auto& entry : entries) {
      if (!hand_out(entry.sequence, entry.item)) return;
    }
  }
}

bool Broker::DeliverOne(QueueState& queue, uint64_t sequence, const records::QueueItem& item,
                        Session& session) {
  uint32_t attempt = std::max(item.attempts(), queue.attempts[sequence]) + 1;
  if (attempt > options_.max_delivery_attempts) {
    DeadLetter(queue, sequence, item);
    return true;
  }
  wire::Envelope envelope;
  auto* delivery = envelope.mutable_delivery();
  delivery->set_queue(queue.name);
  delivery->set_delivery_id(sequence);
  delivery->set_attempt(attempt);
  if (item.has_mail()) {
    *delivery->mutable_mail() = item.mail();
  } else if (item.has_alert()) {
    *delivery->mutable_alert() = item.alert();
  } else {
    auto record = store_->GetCase(item.case_id());
    if (!record.ok() || !record->has_value()) {
      spdlog::error("queue {} item {} names case {} which cannot be read; parked", queue.name,
                    sequence, item.case_id());
      DeadLetter(queue, sequence, item);
      return true;
    }
    auto content = ContentOf(**record);
    if (!content.ok() && content.status().code() == wire::INTERNAL) {
      // Stored but unparsable: it will not heal, so it must not hold the queue behind it.
      spdlog::error("queue {} item {}: content of case {} is unreadable; parked", queue.name,
                    sequence, item.case_id());
      DeadLetter(queue, sequence, item);
      return true;
    }
    if (!content.ok()) {
      // A read error (I/O): the item stays first in line and is tried at the next turn.
      spdlog::error("queue {} item {}: content of case {} not read: {}", queue.name, sequence,
                    item.case_id(), content.status().ToString());
      queue.redeliver.insert(sequence);
      return false;
    }
    const auto& summary = (*record)->summary();
    auto* escalation = delivery->mutable_escalation();
    escalation->set_case_id(summary.case_id());
    escalation->set_contact_point(summary.contact_point());
    escalation->set_agent(summary.agent());
    escalation->set_partner(summary.partner());
    escalation->set_territory(summary.territory());
    escalation->set_category(summary.category());
    escalation->set_subject(summary.subject());
    escalation->set_body(std::move(*content->mutable_body()));
    escalation->set_citizen_name(std::move(*content->mutable_citizen_name()));
    escalation->set_mandate_reference((*record)->summary().mandate_reference());
    escalation->set_citizen_consent((*record)->summary().citizen_consent());
    escalation->set_submitted_at_ms(summary.submitted_at_ms());
    escalation->set_deadline_ms(summary.deadline_ms());
  }
  if (!SendTo(session.routing_id, envelope)) {
    // The session vanished (DropSession already requeued its items) or its pipe is full:
    // the item goes back to the front of the line.
    queue.redeliver.insert(sequence);
    return false;
  }
  queue.attempts[sequence] = attempt;
  if (attempt > 1) {
    // Redelivery counts survive restarts; the first attempt is not worth a write.
    records::QueueItem counted = item;
    counted.set_attempts(attempt);
    store_->PutQueueItem(queue.name, sequence, counted);
    ++counters_.redeliveries;
    if (queue.metrics) queue.metrics->redelivered->Increment();
  }
  queue.in_flight[sequence] = InFlightDelivery{session.routing_id,
                                               SteadyNowMs() + options_.ack_lease_ms, attempt};
  ++session.in_flight;
  ++counters_.deliveries_sent;
  return true;
}

void Broker::DeadLetter(QueueState& queue, uint64_t sequence, records::QueueItem item) {
  spdlog::error("queue {} item {} (case {}) failed {} deliveries: parked in the dead-letter queue",
                queue.name, sequence, item.case_id(), options_.max_delivery_attempts);
  store_->DeleteQueueItem(queue.name, sequence);
  queue.Removed(sequence);
  if (queue.metrics) queue.metrics->dead_lettered->Increment();
  item.set_dead_lettered(true);
  item.set_attempts(std::max(item.attempts(), options_.max_delivery_attempts));
  item.set_dead_lettered_at_ms(clock_.NowMs());
  store_->PutQueueItem(std::string(keys::kDeadLetterPrefix) + queue.name, sequence, item);
  queue.attempts.erase(sequence);
  if (queue.depth > 0) --queue.depth;
  ++queue.dead_lettered;
  if (item.case_id().empty()) return;  // nothing to tell an operator about (no case)
  auto loaded = store_->GetCase(item.case_id());
  if (!loaded.ok() || !loaded->has_value()) {
    // A mail item or a reminder about a case no longer readable: still parked, still alerted.
    RaiseDeadLetterAlert(item.case_id(), nullptr, queue.name, sequence, item);
    return;
  }
  records::CaseRecord updated = std::move(**loaded);
  RaiseDeadLetterAlert(item.case_id(), &updated, queue.name, sequence, item);
  // Only the case's current item speaks for it (not a copy left at a partner it was
  // transferred away from, nor a mail item or a reminder).
  if (!item.has_mail() && !item.has_alert() && updated.queue() == queue.name &&
      updated.queue_sequence() == sequence) {
    updated.clear_queue();  // queue_sequence stays: a requeue restores the slot from it
    updated.mutable_summary()->set_dead_lettered(true);
    wire::Event event;
    event.set_sequence(updated.event_count());
    event.set_at_ms(clock_.NowMs());
    event.set_kind("DEAD_LETTERED");
    event.set_actor("broker");
    event.set_detail("not acknowledged after " + std::to_string(options_.max_delivery_attempts) +
                     " deliveries; an operator must requeue it (aplus dlq requeue " +
                     updated.summary().case_id() + ")");
    event.set_state_after(updated.summary().state());
    updated.set_event_count(updated.event_count() + 1);
    store_->PutEvent(updated.summary().case_id(), event);
  }
  store_->PutCase(updated, updated.summary().state());
}

void Broker::OnDeliveryAck(Session& session, const wire::Envelope& request) {
  const auto& ack = request.delivery_ack();
  bool allowed = false;
  for (const auto& name : session.queues) allowed = allowed || name == ack.queue();
  if (!allowed) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::PERMISSION_DENIED, "queue '" + ack.queue().substr(0, 128) +
                                                           "' is not this session's"));
  }
  QueueState& queue = Queue(ack.queue());
  for (uint64_t sequence : ack.delivery_ids()) {
    auto in_flight = queue.in_flight.find(sequence);
    if (in_flight != queue.in_flight.end()) {
      auto owner = sessions_.find(in_flight->second.routing_id);
      if (owner != sessions_.end() && owner->second.in_flight > 0) --owner->second.in_flight;
      queue.in_flight.erase(in_flight);
    }
    // An ack for an item no longer stored (acknowledged before, or a forged id) changes nothing.
    auto found = store_->GetQueueItem(queue.name, sequence);
    if (!found.ok()) {
      // Not deleted: the item is delivered again later and its next ack tries again.
      spdlog::error("ack of queue {} item {}: {}", queue.name, sequence, found.status().ToString());
      queue.redeliver.insert(sequence);
      continue;
    }
    if (!found->has_value()) continue;
    const records::QueueItem* item = &**found;
    auto made = queue.attempts.find(sequence);
    uint32_t attempts_made =
        std::max<uint32_t>({item->attempts(), made == queue.attempts.end() ? 0u : made->second, 1u});
    queue.redeliver.erase(sequence);
    queue.attempts.erase(sequence);
    store_->DeleteQueueItem(queue.name, sequence);
    queue.Removed(sequence);
    if (queue.depth > 0) --queue.depth;
    if (item->has_mail() || item->has_alert()) continue;
    auto record = store_->GetCase(item->case_id());
    if (!record.ok()) {
      spdlog::error("ack of queue {} item {}: case {} unreadable, its state not updated: {}",
                    queue.name, sequence, item->case_id(), record.status().ToString());
      continue;
    }
    if (!record->has_value()) continue;
    // The partner gateway has stored the escalation: its content changed hands (also when
    // the case moved on meanwhile). An ack for an item already gone recorded nothing above.
    Audit(session, item->case_id(), "deliver", "attempt " + std::to_string(attempts_made));
    records::CaseRecord updated = std::move(**record);
    // A receipt from a partner the case has since been transferred away from is history only.
    if (updated.queue() != queue.name || updated.queue_sequence() != sequence) continue;
    if (queue.metrics) queue.metrics->delivered->Increment();
    updated.clear_queue();
    updated.mutable_summary()->set_delivery_attempts(attempts_made);
    if (NextState(updated.summary().state(), CaseEvent::kDeliver).ok()) {
      auto state = ApplyEvent(updated, CaseEvent::kDeliver, session.principal,
                              "stored by the partner gateway");
      if (!state.ok()) spdlog::error("delivery of {}: {}", item->case_id(), state.status().ToString());
    } else {
      store_->PutCase(updated, updated.summary().state());
    }
  }
}

void Broker::ExpireLeasesAndSessions() {
  // As of the last complete read of the socket (broker.h, last_drained_ms_): what arrived
  // before it has been read, so a silence or a lease measured up to it is the client's.
  // Under a load that never lets a turn read everything (max_batch_messages per turn), the
  // reference may lag by at most the session timeout, so leases still expire. A longer stall
  // of the loop itself is excused separately (ExcuseOwnStall).
  int64_t now = std::max(last_drained_ms_, SteadyNowMs() - options_.session_timeout_ms);
  std::vector<std::string> silent;
  for (const auto& [id, session] : sessions_) {
    if (session.reads_waiting > 0) continue;  // waiting on the broker, not silent
    if (now - session.last_seen_ms > options_.session_timeout_ms) silent.push_back(id);
  }
  for (const auto& id : silent) DropSession(id, "silent too long");
  for (auto& [name, queue] : queues_) {
    for (auto it = queue.in_flight.begin(); it != queue.in_flight.end();) {
      if (it->second.lease_deadline_ms <= now) {
        auto owner = sessions_.find(it->second.routing_id);
        if (owner != sessions_.end() && owner->second.in_flight > 0) --owner->second.in_flight;
        spdlog::info("queue {} item {}: ack lease expired after attempt {}; redelivering", name,
                     it->first, it->second.attempt);
        queue.redeliver.insert(it->first);
        it = queue.in_flight.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void Broker::ExcuseOwnStall() {
  if (last_read_end_ms_ == 0) return;  // no read phase yet
  const int64_t busy = SteadyNowMs() - last_read_end_ms_ - idle_since_read_ms_;
  const int64_t excess = busy - kOwnStallMs - stall_excused_ms_;
  if (excess <= 0) return;
  stall_excused_ms_ += excess;
  // Nothing sent since the last read was heard: moved by no more than the time since then.
  for (auto& [id, session] : sessions_) session.last_seen_ms += excess;
  size_t leases = 0;
  for (auto& [name, queue] : queues_) {
    for (auto& [sequence, item] : queue.in_flight) {
      item.lease_deadline_ms += excess;
      ++leases;
    }
  }
  spdlog::warn("the loop was busy {} ms without reading its socket (a slow commit?): {} "
               "sessions' silence and {} ack leases extended by {} ms",
               busy, sessions_.size(), leases, excess);
}

void Broker::DropSession(const std::string& routing_id, const char* why) {
  auto it = sessions_.find(routing_id);
  if (it == sessions_.end()) return;
  spdlog::info("session closed: {} ({})", it->second.DedupPrincipal(), why);
  for (const auto& name : it->second.queues) {
    auto queue_it = queues_.find(name);
    if (queue_it == queues_.end()) continue;
    QueueState& queue = queue_it->second;
    for (auto flight = queue.in_flight.begin(); flight != queue.in_flight.end();) {
      if (flight->second.routing_id == routing_id) {
        queue.redeliver.insert(flight->first);
        flight = queue.in_flight.erase(flight);
      } else {
        ++flight;
      }
    }
  }
  sessions_.erase(it);
}

}  // namespace aplus
