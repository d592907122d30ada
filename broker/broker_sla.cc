// SLA timers and alerts. Timers live in the `due` family ordered by due time; memory holds
// only the earliest due time. Firing a timer, storing its alert, appending the timeline event
// and queueing the deliveries to both parties are one batch, and alert ids are deterministic,
// so a crash or a replay can neither lose nor duplicate an alert.
#include <optional>

#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "common/wire.h"
#include "store/key_layout.h"

namespace aplus {
namespace {

std::string AlertId(const std::string& case_id, wire::Alert::Kind kind, uint32_t generation) {
  return case_id + "/" + wire::Alert::Kind_Name(kind) + "/" + std::to_string(generation);
}

// A reply at the deadline instant is on time (sla/deadline_calculator.h): the window has
// lapsed only from the next millisecond.
int64_t BreachDueMs(int64_t deadline_ms) { return deadline_ms + 1; }

// How long a timer whose case record cannot be read waits before it is tried again.
constexpr int64_t kUnreadableCaseRetryMs = 60'000;

struct SlaTimer {
  int64_t due_ms;
  char kind;  // keys::kTimerWarning or kTimerBreach
};

// A case has one live SLA timer at a time: the warning's until it is raised, then the
// breach's (put in the warning's batch), none once the breach is raised. A submission writes
// one key to `due`, not two, and the family grows at its end in due order instead of taking
// two interleaved streams (a warning's due time and a breach's a day later), which made its
// flushed files overlap and compaction rewrite them. None either while the instant it would
// fire at is unset (0: a case whose deadline was never computed).
std::optional<SlaTimer> LiveSlaTimer(const wire::CaseSummary& summary) {
  if (!summary.warned()) {
    if (summary.warning_at_ms() <= 0) return std::nullopt;
    return SlaTimer{summary.warning_at_ms(), keys::kTimerWarning};
  }
  if (summary.breached() || summary.deadline_ms() <= 0) return std::nullopt;
  return SlaTimer{BreachDueMs(summary.deadline_ms()), keys::kTimerBreach};
}

}  // namespace

void Broker::ClearTimers(const records::CaseRecord& record) {
  // Deleting a timer that already fired (or never existed) is harmless; a breach timer stored
  // beside the warning's by an earlier version is left to be dropped when met (its generation
  // is stale or its clock stopped).
  auto live = LiveSlaTimer(record.summary());
  if (live) store_->DeleteTimer(live->due_ms, record.summary().case_id(), live->kind);
}

Status Broker::RescheduleSla(records::CaseRecord& record,
                             const sla::DeadlineExplanation* computed) {
  ClearTimers(record);
  Result<sla::DeadlineExplanation> explanation =
      computed ? Result<sla::DeadlineExplanation>(*computed)
               : sla_clock_.Explain(record, clock_.NowMs(), /*write_lines=*/false);
  if (!explanation.ok()) return explanation.status();
  auto* summary = record.mutable_summary();
  summary->set_deadline_ms(explanation->deadline_ms);
  summary->set_warning_at_ms(sla_clock_.WarningAt(*explanation));
  summary->set_reply_policy(sla::FormatReplyPolicy(explanation->policy));
  summary->set_paused_ms(explanation->paused_ms);
  record.set_deadline_generation(record.deadline_generation() + 1);
  if (!ClockRuns(summary->state())) return Status::Ok();
  PutNextSlaTimer(record);
  return Status::Ok();
}

void Broker::PutNextSlaTimer(const records::CaseRecord& record) {
  auto live = LiveSlaTimer(record.summary());
  if (!live) return;
  PutTimer({live->due_ms, record.summary().case_id(), live->kind, record.deadline_generation(), {}});
}

void Broker::PutTimer(const BrokerStore::Timer& timer) {
  store_->PutTimer(timer);
  if (!next_due_ms_ || timer.due_ms < *next_due_ms_) next_due_ms_ = timer.due_ms;
}

void Broker::StopClockAtReply(records::CaseRecord& record) {
  int64_t now = clock_.NowMs();
  ClearTimers(record);  // under the deadline they were set for
  ClosePause(record);
  // A reply to a case in INFO_REQUESTED: the pause ran up to now, so the deadline it is judged
  // against is the one moved by that pause, not the one from before the question.
  auto explanation = sla_clock_.Explain(record, now, /*write_lines=*/false);
  auto* summary = record.mutable_summary();
  if (explanation.ok()) {
    summary->set_deadline_ms(explanation->deadline_ms);
    summary->set_paused_ms(explanation->paused_ms);
  } else {
    spdlog::error("case {}: {}", summary->case_id(), explanation.status().ToString());
  }
  record.set_question("");
  summary->set_answered_at_ms(now);
  summary->set_late_by_ms(std::max<int64_t>(0, now - summary->deadline_ms()));
}

void Broker::OpenPause(records::CaseRecord& record) {
  ClearTimers(record);
  auto* pause = record.add_pauses();
  pause->set_start_ms(clock_.NowMs());
}

void Broker::ClosePause(records::CaseRecord& record) {
  int n = record.pauses_size();
  if (n > 0 && record.pauses(n - 1).end_ms() == 0) {
    record.mutable_pauses(n - 1)->set_end_ms(std::max(clock_.NowMs(), record.pauses(n - 1).start_ms()));
  }
}

void Broker::FireDueTimers() {
  // The counts of a catch-up (below), and its last line once nothing more is due.
  auto catch_up_counts = [this] {
    return std::to_string(catch_up_timers_) + " overdue timers handled, " +
           std::to_string(catch_up_alerts_) + " alerts raised";
  };
  auto finish_catch_up = [&] {
    if (!sla_catch_up_.running()) return;
    if (!sla_catch_up_.Finish(catch_up_counts()) && catch_up_alerts_ > 0) {
      spdlog::info("SLA: {} alert(s) raised ({} timers due)", catch_up_alerts_, catch_up_timers_);
    }
  };
  if (durability_failure_) return;
  int64_t now = clock_.NowMs();
  if (!next_due_ms_ || *next_due_ms_ > now) {
    finish_catch_up();  // the last full batch emptied the overdue timers
    return;
  }
  auto found = store_->DueTimers(*next_due_ms_, now, options_.max_alerts_per_turn);
  if (!found.ok()) {
    // Skip the turn: the timers stay stored and are looked for again at the next one.
    spdlog::error("SLA timers unreadable, retried at the next turn: {}", found.status().ToString());
    return;
  }
  const auto& timers = found->timers;
  // The earliest timer left once these are gone, lowered below by any breach timer a warning
  // puts (PutNextSlaTimer; in a catch-up it may be due already: it fires at the next turn).
  next_due_ms_ = found->next_due_ms;
  size_t raised = alerts_to_publish_.size();
  size_t purged = 0;
  // Every found timer is deleted before any is handled: a breach timer a warning puts below
  // must outlive a stale timer of the same key found later in this batch (a store of an
  // earlier layout), since the batch keeps a key's last write.
  for (const auto& timer : timers) store_->DeleteFoundTimer(timer);
  for (const auto& timer : timers) {
    auto loaded = store_->GetCase(timer.case_id);
    if (!loaded.ok()) {
      // Deleted above: put back a minute later, so that a record that cannot be read delays
      // its alert (or its purge) instead of losing it, and is named in the log until fixed.
      const int64_t retry_ms = now + kUnreadableCaseRetryMs;
      spdlog::error("case {}: its record cannot be read ({}); its timer ({}) is tried again in {} s",
                    timer.case_id, loaded.status().ToString(), timer.kind,
                    kUnreadableCaseRetryMs / 1000);
      PutTimer({retry_ms, timer.case_id, timer.kind, timer.generation, {}});
      metrics_.CountTimerPostponed();
      continue;
    }
    if (!loaded->has_value()) continue;  // the case is gone
    records::CaseRecord record = std::move(**loaded);
    if (timer.kind == keys::kTimerPurge) {
      purged += PurgePersonalData(record) ? 1 : 0;  // broker_retention.cc
      continue;
    }
    // A timer of an older deadline (moved by a pause or a transfer) or of a case whose clock
    // stopped is stale: it goes without a word.
    if (timer.generation != record.deadline_generation() || !ClockRuns(record.summary().state())) {
      continue;
    }
    wire::Alert::Kind kind = timer.kind == keys::kTimerWarning ? wire::Alert::WARNING
                                                                 : wire::Alert::BREACH;
    if (kind == wire::Alert::WARNING) {
      if (!record.summary().warned()) RaiseAlert(record, kind);
      // The breach's timer follows the warning's, in the same batch (a store written by an
      // earlier version holds it already: the same key, rewritten).
      PutNextSlaTimer(record);
      continue;
    }
    if (record.summary().breached()) continue;
    RaiseAlert(record, kind);
  }
  raised = alerts_to_publish_.size() - raised;
  // A full batch means more timers are already due: a catch-up after downtime, which can take
  // many turns; its progress is logged when it is slow (common/progress_log.h).
  bool more_due = timers.size() >= options_.max_alerts_per_turn;
  if (more_due && !sla_catch_up_.running()) {
    sla_catch_up_.Begin();
    catch_up_timers_ = catch_up_alerts_ = 0;
  }
  if (!sla_catch_up_.running() && raised > 0) {
    spdlog::info("SLA: {} alert(s) raised ({} timers due)", raised, timers.size());
  }
  CommitAndFlush();
  FinishPurgePass(purged);
  if (sla_catch_up_.running()) {
    catch_up_timers_ += timers.size();
    catch_up_alerts_ += raised;
    if (more_due) {
      sla_catch_up_.Update(catch_up_counts());
    } else {
      finish_catch_up();
    }
  }
}

void Broker::RaiseAlert(records::CaseRecord& record, wire::Alert::Kind kind) {
  auto* summary = record.mutable_summary();
  // Never twice: the warned/breached flag is written in the same batch as the alert, and
  // checked before we get here; the id is deterministic besides.
  std::string alert_id = AlertId(summary->case_id(), kind, record.deadline_generation());
  int64_t now = clock_.NowMs();
  wire::Alert alert;
  alert.set_alert_id(alert_id);
  alert.set_kind(kind);
  alert.set_case_id(summary->case_id());
  alert.set_partner(summary->partner());
  alert.set_territory(summary->territory());
  alert.set_contact_point(summary->contact_point());
  alert.set_deadline_ms(summary->deadline_ms());
  alert.set_raised_at_ms(now);
  alert.set_sequence(store_->NextAlertSequence());
  if (kind == wire::Alert::WARNING) {
    summary->set_warned(true);
    alert.set_text("case " + summary->case_id() + " (" + summary->partner() +
                   "): the reply window is about to lapse");
  } else {
    summary->set_breached(true);
    alert.set_text("case " + summary->case_id() + " (" + summary->partner() +
                   "): the reply window has lapsed without an answer");
  }
  store_->PutAlert(alert, /*open=*/true);
  if (auto* counters = metrics_.Partner(summary->partner())) {
    (kind == wire::Alert::WARNING ? counters->warnings : counters->breaches)->Increment();
  }
  wire::Event event;
  event.set_sequence(record.event_count());
  event.set_at_ms(now);
  event.set_kind(kind == wire::Alert::WARNING ? "SLA_WARNING" : "SLA_BREACH");
  event.set_actor("broker");
  event.set_detail(alert.text());
  event.set_state_after(summary->state());
  record.set_event_count(record.event_count() + 1);
  store_->PutEvent(summary->case_id(), event);
  store_->PutCase(record, summary->state());
  // The contact point learns it (to tell the citizen); the partner gets a reminder.
  records::QueueItem item;
  item.set_case_id(summary->case_id());
  *item.mutable_alert() = alert;
  AppendToQueue(MailboxQueueName(summary->contact_point()), item);
  if (const Partner* partner = config_.FindPartner(summary->partner())) {
    AppendToQueue(PartnerQueueName(*partner, summary->territory()), item);
  }
  alerts_to_publish_.push_back(std::move(alert));
  spdlog::debug("SLA {}: {}", wire::Alert::Kind_Name(kind), alerts_to_publish_.back().text());
}

void Broker::PublishAlerts() {
  for (const auto& alert : alerts_to_publish_) {
    std::string topic = "alert." + wire::Alert::Kind_Name(alert.kind()) + "." + alert.partner() +
                        "." + alert.territory();
    try {
      alerts_socket_.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      std::string payload = alert.SerializeAsString();
      alerts_socket_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      // Subscribers that miss a publication still find the alert with `aplus alerts`.
      spdlog::warn("alert publication failed: {}", e.what());
    }
  }
  alerts_to_publish_.clear();
}

}  // namespace aplus
