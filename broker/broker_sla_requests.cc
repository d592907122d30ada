// Requests that move the SLA clock (questions, answers, transfers) and the operators' view of
// it (alerts, acknowledgements, reports, deadline explanations).
#include <algorithm>
#include <span>

#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "broker/request_support.h"
#include "common/wire.h"
#include "sla/civil_time.h"
#include "store/cases_at_risk.h"

namespace aplus {
namespace {

// The `limit` cases with the soonest deadlines (ties: the smaller case id) among those offered:
// what a board keeps of each list, however many cases its read walks through (a max-heap of
// at most `limit`: its top is the latest kept, the one a sooner case replaces).
class SoonestCases {
 public:
  explicit SoonestCases(size_t limit) : limit_(limit) {}
  void Offer(const wire::CaseSummary& summary) {
    if (kept_.size() < limit_) {
      kept_.push_back(summary);
      std::push_heap(kept_.begin(), kept_.end(), Sooner);
    } else if (limit_ > 0 && Sooner(summary, kept_.front())) {
      std::pop_heap(kept_.begin(), kept_.end(), Sooner);
      kept_.back() = summary;
      std::push_heap(kept_.begin(), kept_.end(), Sooner);
    }
  }
  // Soonest first; leaves this empty.
  std::vector<wire::CaseSummary> TakeSorted() {
    std::sort_heap(kept_.begin(), kept_.end(), Sooner);
    return std::move(kept_);
  }

 private:
  static bool Sooner(const wire::CaseSummary& a, const wire::CaseSummary& b) {
    return a.deadline_ms() != b.deadline_ms() ? a.deadline_ms() < b.deadline_ms()
                                              : a.case_id() < b.case_id();
  }
  size_t limit_;
  std::vector<wire::CaseSummary> kept_;
};

double Percentile(std::vector<double>& values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(fraction * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// The upper bounds (inclusive) of the reply-time buckets, in the report's unit, ascending; a
// last bucket without bound follows (proto ReplyTimeBucket). Day units are whole counted days
// (0 = replied on the day of submission, under the first bound).
std::span<const double> ReplyTimeBounds(sla::ReplyUnit unit) {
  static constexpr double kDays[] = {0.5, 1, 2, 3, 4, 5, 8};
  static constexpr double kHours[] = {1, 2, 4, 8, 12, 24, 48};
  static constexpr double kMinutes[] = {5, 15, 30, 60, 120, 240, 480};
  static constexpr double kSeconds[] = {30, 60, 300, 900, 1800, 3600, 7200};
  switch (unit) {
    case sla::ReplyUnit::kHours: return kHours;
    case sla::ReplyUnit::kMinutes: return kMinutes;
    case sla::ReplyUnit::kSeconds: return kSeconds;
    default: return kDays;
  }
}

void FillReplyTimeBuckets(const std::vector<double>& reply_times, sla::ReplyUnit unit,
                          wire::PartnerReport& report) {
  std::span<const double> bounds = ReplyTimeBounds(unit);
  std::vector<uint64_t> counts(bounds.size() + 1, 0);
  for (double time : reply_times) {
    size_t at = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), time) - bounds.begin());
    ++counts[at];
  }
  for (size_t i = 0; i < counts.size(); ++i) {
    auto* bucket = report.add_reply_times();
    bucket->set_up_to(i < bounds.size() ? bounds[i] : 0);
    bucket->set_count(counts[i]);
  }
}

}  // namespace

void Broker::OnAskInfo(Session& session, const wire::Envelope& request) {
  const auto& ask = request.ask_info();
  if (ask.question().empty() || ask.question().size() > kMaxTextBytes) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "a question of 1 to 262144 bytes is required"));
  }
  if (AnswerFromDedup(session, request)) return;
  auto record = LoadCaseFor(session, ask.case_id());
  if (!record.ok()) return AnswerError(session.routing_id, request.request_id(), record.status());
  wire::CaseState before = record->summary().state();
  if (!NextState(before, CaseEvent::kAskInfo).ok()) {
    return AnswerError(session.routing_id, request.request_id(),
                       NextState(before, CaseEvent::kAskInfo).status());
  }
  OpenPause(*record);  // the clock stops while the contact point answers
  record->set_question(ask.question());
  record->set_state_before_question(before);
  auto state = ApplyEvent(*record, CaseEvent::kAskInfo, session.principal, ask.question());
  if (!state.ok()) return AnswerError(session.routing_id, request.request_id(), state.status());
  PostToMailbox(*record, wire::MailItem::INFO_REQUESTED, ask.question());
  Audit(session, record->summary().case_id(), "ask", wire::CaseState_Name(*state));
  RememberOutcome(session, request, *record);
  AnswerCaseUpdated(session, request, *record);
}

void Broker::OnAnswerInfo(Session& session, const wire::Envelope& request) {
  const auto& answer_info = request.answer_info();
  if (answer_info.text().empty() || answer_info.text().size() > kMaxTextBytes) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "an answer of 1 to 262144 bytes is required"));
  }
  if (AnswerFromDedup(session, request)) return;
  auto record = LoadCaseFor(session, answer_info.case_id());
  if (!record.ok()) return AnswerError(session.routing_id, request.request_id(), record.status());
  if (!NextState(record->summary().state(), CaseEvent::kAnswerInfo).ok()) {
    return AnswerError(session.routing_id, request.request_id(),
                       NextState(record->summary().state(), CaseEvent::kAnswerInfo).status());
  }
  ClosePause(*record);
  record->set_question("");
  auto state = ApplyEvent(*record, CaseEvent::kAnswerInfo, session.principal, answer_info.text());
  if (!state.ok()) return AnswerError(session.routing_id, request.request_id(), state.status());
  // The deadline moves by the paused time; timers of the old deadline become stale.
  Status scheduled = RescheduleSla(*record);
  if (!scheduled.ok()) spdlog::error("case {}: {}", record->summary().case_id(), scheduled.ToString());
  store_->PutCase(*record, *state);
  // The partner reads the answer in the case (GetCase) and as a notice in its queue.
  records::QueueItem item;
  item.set_case_id(record->summary().case_id());
  auto* mail = item.mutable_mail();
  mail->set_case_id(record->summary().case_id());
  mail->set_kind(wire::MailItem::NOTICE);
  mail->set_partner(record->summary().partner());
  mail->set_text(answer_info.text());
  mail->set_at_ms(clock_.NowMs());
  mail->set_state(*state);
  if (const Partner* partner = config_.FindPartner(record->summary().partner())) {
    AppendToQueue(PartnerQueueName(*partner, record->summary().territory()), item);
  }
  Audit(session, record->summary().case_id(), "answer", wire::CaseState_Name(*state));
  RememberOutcome(session, request, *record);
  AnswerCaseUpdated(session, request, *record);
}

void Broker::OnTransfer(Session& session, const wire::Envelope& request) {
  const auto& transfer = request.transfer_case();
  const Partner* to = config_.FindPartner(transfer.to_partner());
  if (!to) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::UNKNOWN_PARTNER, "no partner '" + transfer.to_partner().substr(0, 128) + "'"));
  }
  if (transfer.reason().empty() || transfer.reason().size() > kMaxTextBytes) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "a transfer needs a reason"));
  }
  if (to->id == session.principal) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "a partner cannot transfer a case to itself"));
  }
  if (AnswerFromDedup(session, request)) return;
  auto record = LoadCaseFor(session, transfer.case_id());
  if (!record.ok()) return AnswerError(session.routing_id, request.request_id(), record.status());
  if (!NextState(record->summary().state(), CaseEvent::kTransfer).ok()) {
    return AnswerError(session.routing_id, request.request_id(),
                       NextState(record->summary().state(), CaseEvent::kTransfer).status());
  }
  std::string from = record->summary().partner();
  int64_t old_deadline = record->summary().deadline_ms();
  // Kept, the deadline is the current window's before pauses (read under the old partner):
  // its pauses, already in old_deadline, must not count twice.
  int64_t kept_base_deadline = old_deadline;
  if (config_.sla.transfer_keeps_deadline) {
    auto kept = sla_clock_.Explain(*record, clock_.NowMs(), /*write_lines=*/false);
    if (kept.ok()) kept_base_deadline = kept->base_deadline_ms;
  }
  // Leaves the old partner's queue if it never reached it. The first write of the transfer:
  // a read error here still changes nothing.
  auto withdrawn = WithdrawUndelivered(*record);
  if (!withdrawn.ok()) {
    return AnswerError(session.routing_id, request.request_id(), withdrawn.status());
  }
  ClearTimers(*record);
  ClosePause(*record);
  record->set_question("");
  auto* summary = record->mutable_summary();
  summary->set_partner(to->id);
  summary->set_transferred_from(from);
  summary->set_warned(false);
  summary->set_breached(false);
  if (config_.sla.transfer_keeps_deadline) {
    record->set_inherited_deadline_ms(kept_base_deadline);
  } else {
    record->set_clock_started_ms(clock_.NowMs());
    record->clear_pauses();
    record->set_inherited_deadline_ms(0);
  }
  std::string queue = PartnerQueueName(*to, summary->territory());
  record->set_queue(queue);
  record->set_queue_sequence(Queue(queue).next_sequence);
  auto state = ApplyEvent(*record, CaseEvent::kTransfer, session.principal,
                          "to " + to->id + ": " + transfer.reason());
  if (!state.ok()) return AnswerError(session.routing_id, request.request_id(), state.status());
  Status scheduled = RescheduleSla(*record);
  if (!scheduled.ok()) spdlog::error("case {}: {}", summary->case_id(), scheduled.ToString());
  // Both deadlines stay in the timeline.
  wire::Event deadline_event;
  deadline_event.set_sequence(record->event_count());
  deadline_event.set_at_ms(clock_.NowMs());
  deadline_event.set_kind("DEADLINE_CHANGED");
  deadline_event.set_actor("broker");
  auto zone = sla::TimeZone::FromName(sla::ZoneForDepartement(
      config_.FindContactPoint(summary->contact_point())
          ? config_.FindContactPoint(summary->contact_point())->departement
          : ""));
  auto show = [&](int64_t ms) { return zone.ok() ? zone->Format(ms) : std::to_string(ms) + " ms"; };
  deadline_event.set_detail("deadline with " + from + ": " + show(old_deadline) + "; with " +
                            to->id + ": " + show(summary->deadline_ms()));
  deadline_event.set_state_after(*state);
  record->set_event_count(record->event_count() + 1);
  store_->PutEvent(summary->case_id(), deadline_event);
  store_->PutCase(*record, *state);
  records::QueueItem item;
  item.set_case_id(summary->case_id());
  AppendToQueue(queue, item);
  PostToMailbox(*record, wire::MailItem::TRANSFERRED, transfer.reason());
  // One entry names both partners: the old one loses access, the new one gains it.
  Audit(session, summary->case_id(), "transfer", "from " + from + " to " + to->id);
  RememberOutcome(session, request, *record);
  AnswerCaseUpdated(session, request, *record);
}

void Broker::OnListAlerts(Session& session, const wire::Envelope& request) {
  const auto& filter = request.list_alerts();
  size_t limit = filter.limit() == 0 ? 100 : std::min<size_t>(filter.limit(), 10000);
  wire::Envelope answer = AnswerTo(request);
  auto* list = answer.mutable_alert_list();
  if (filter.after_sequence() > 0) {
    // A follower's catch-up: everything raised since, acknowledged or not, in order. Reads the
    // sequence index in pages until `limit` alerts pass the filters.
    uint64_t after = filter.after_sequence();
    constexpr size_t kPage = 1000;
    while (static_cast<size_t>(list->alerts_size()) < limit) {
      auto page = store_->AlertsAfter(after, kPage);
      if (!page.ok()) return AnswerError(session.routing_id, request.request_id(), page.status());
      for (auto& alert : *page) {
        after = alert.sequence();
        list->set_scanned_to_sequence(after);
        if (!filter.partner().empty() && alert.partner() != filter.partner()) continue;
        if (!filter.territory().empty() && alert.territory() != filter.territory()) continue;
        if (filter.kind() != wire::Alert::KIND_UNSPECIFIED && alert.kind() != filter.kind()) continue;
        *list->add_alerts() = std::move(alert);
        if (static_cast<size_t>(list->alerts_size()) >= limit) break;
      }
      if (page->size() < kPage) break;
    }
    return Answer(session.routing_id, std::move(answer));
  }
  // Read before the listing: alerts committed by then are all in it (open ones at least).
  uint64_t covered = store_->committed_alert_sequence();
  auto listed = store_->ListAlerts(filter.include_acked(), 1000000);
  if (!listed.ok()) return AnswerError(session.routing_id, request.request_id(), listed.status());
  std::vector<wire::Alert>& alerts = *listed;
  std::sort(alerts.begin(), alerts.end(),
            [](const wire::Alert& a, const wire::Alert& b) { return a.sequence() < b.sequence(); });
  for (auto& alert : alerts) {
    if (!filter.partner().empty() && alert.partner() != filter.partner()) continue;
    if (!filter.territory().empty() && alert.territory() != filter.territory()) continue;
    if (filter.kind() != wire::Alert::KIND_UNSPECIFIED && alert.kind() != filter.kind()) continue;
    *list->add_alerts() = std::move(alert);
    if (static_cast<size_t>(list->alerts_size()) >= limit) {
      covered = std::min(covered, list->alerts(list->alerts_size() - 1).sequence());
      break;
    }
  }
  // A follower starts its catch-ups from here: nothing up to it is left to show (what is not
  // listed is acknowledged, or filtered out).
  list->set_scanned_to_sequence(covered);
  Answer(session.routing_id, std::move(answer));
}

void Broker::OnAckAlert(Session& session, const wire::Envelope& request) {
  const auto& ack = request.ack_alert();
  // Through the console the person signed in acknowledges, whatever a form typed in `by`.
  std::string by = ack.by().empty() || !session.console.empty() ? session.principal : ack.by();
  if (by.size() > 256) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "the name is too long"));
  }
  auto alert = store_->GetAlert(ack.alert_id());
  if (!alert.ok()) return AnswerError(session.routing_id, request.request_id(), alert.status());
  if (!alert->has_value()) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::UNKNOWN_CASE, "no alert '" + ack.alert_id().substr(0, 128) + "'"));
  }
  wire::Alert updated = std::move(**alert);
  if (updated.acked_by().empty()) {
    updated.set_acked_by(by);
    updated.set_acked_at_ms(clock_.NowMs());
    store_->PutAlert(updated, /*open=*/false);
  }
  wire::Envelope answer = AnswerTo(request);
  *answer.mutable_alert_acked()->mutable_alert() = std::move(updated);
  Answer(session.routing_id, std::move(answer));
}

void Broker::OnGetReport(Session& session, const wire::Envelope& request) {
  const auto& filter = request.get_report();
  int64_t to_ms = filter.to_ms() == 0 ? INT64_MAX : filter.to_ms();
  const bool by_contact_point = filter.group_by() == wire::GetReport::CONTACT_POINT;
  struct Figures {
    wire::PartnerReport report;
    sla::ReplyUnit unit = sla::ReplyUnit::kWorkingDays;
    std::vector<double> reply_times;
  };
  // One row per partner, or per contact point. A contact point's cases go to partners of
  // different units: its rows speak working days (jours ouvrés, the default policy's unit), the
  // one unit every case can be counted in.
  // Shared by the read of the cases, on the scanner's thread, and the answer built after it on
  // the loop (store/case_scanner.h): one after the other, never at once.
  auto by_partner = std::make_shared<std::map<std::string, Figures>>();
  if (by_contact_point) {
    for (const auto& contact_point : config_.contact_points) {
      auto& figures = (*by_partner)[contact_point.id];
      figures.report.set_contact_point(contact_point.id);
      figures.report.set_reply_unit(std::string(sla::ReplyUnitConfigName(figures.unit)));
    }
  } else {
    for (const auto& partner : config_.partners) {
      if (!filter.partner().empty() && partner.id != filter.partner()) continue;
      auto& figures = (*by_partner)[partner.id];
      figures.report.set_partner(partner.id);
      figures.unit = partner.reply_policy.unit;
      figures.report.set_reply_unit(std::string(sla::ReplyUnitConfigName(figures.unit)));
    }
  }
  // A report reads every case once: about a second per million cases, off the loop.
  auto visit = [this, by_partner, filter, to_ms, by_contact_point](const records::CaseRecord& record) {
    const auto& summary = record.summary();
    if (summary.submitted_at_ms() < filter.from_ms() || summary.submitted_at_ms() >= to_ms) return true;
    if (!filter.territory().empty() && summary.territory() != filter.territory()) return true;
    if (!filter.partner().empty() && summary.partner() != filter.partner()) return true;
    auto it = by_partner->find(by_contact_point ? summary.contact_point() : summary.partner());
    if (it == by_partner->end()) return true;
    auto& report = it->second.report;
    report.set_received(report.received() + 1);
    bool answered = summary.answered_at_ms() > 0;
    if (answered) {
      report.set_answered(report.answered() + 1);
      if (summary.late_by_ms() == 0) report.set_answered_on_time(report.answered_on_time() + 1);
      // sla_clock_ and config_ are immutable: safe from the scanner's thread.
      it->second.reply_times.push_back(sla_clock_.ReplyTimeInUnit(
          record, summary.answered_at_ms(),
          by_contact_point ? std::optional(it->second.unit) : std::nullopt));
    } else if (summary.state() != wire::CANCELLED && summary.state() != wire::CLOSED) {
      report.set_open(report.open() + 1);
    }
    if (IsAtRisk(summary)) report.set_at_risk(report.at_risk() + 1);
    if (summary.breached()) report.set_breached(report.breached() + 1);
    return true;
  };
  // The figures from the reply times (sorts: n log n in the answered cases), on the scanner's
  // thread too.
  auto after_walk = [by_partner] {
    for (auto& [id, figures] : *by_partner) {
      auto& report = figures.report;
      if (report.answered() > 0) {
        report.set_on_time_percent(100.0 * static_cast<double>(report.answered_on_time()) /
                                   static_cast<double>(report.answered()));
      }
      report.set_median_reply(Percentile(figures.reply_times, 0.5));
      report.set_p90_reply(Percentile(figures.reply_times, 0.9));
      FillReplyTimeBuckets(figures.reply_times, figures.unit, report);
      figures.reply_times = {};
    }
  };
  auto finish = [by_partner, filter, by_contact_point](wire::Envelope& answer) {
    answer.mutable_report();  // an empty report is still a report
    for (auto& [id, figures] : *by_partner) {
      auto& report = figures.report;
      // Rows that received nothing in the period are left out, unless a partner asked for by name.
      if (report.received() == 0 && (filter.partner().empty() || by_contact_point)) continue;
      *answer.mutable_report()->add_partners() = std::move(report);
    }
    return Status::Ok();
  };
  ScanCases(session, request, std::move(visit), std::move(finish), std::move(after_walk));
}

void Broker::ScanCases(const Session& session, const wire::Envelope& request,
                       std::function<bool(const records::CaseRecord&)> visit,
                       std::function<Status(wire::Envelope& answer)> finish,
                       std::function<void()> after_walk) {
  const bool needs_commit = current_rule_ == nullptr || current_rule_->after_commit;
  auto done = [this, routing_id = session.routing_id, key = session.public_key,
               request_id = request.request_id(), answer = AnswerTo(request),
               finish = std::move(finish), needs_commit](const Status& read) mutable {
    // The connection may have gone, and its routing id be another's since: answered only to
    // the session that asked.
    auto asker = sessions_.find(routing_id);
    if (asker == sessions_.end() || asker->second.public_key != key) {
      spdlog::info("read of every case for request {}: its session has gone, not answered",
                   request_id);
      return;
    }
    if (asker->second.reads_waiting > 0) --asker->second.reads_waiting;
    asker->second.last_seen_ms = std::max(asker->second.last_seen_ms, SteadyNowMs());
    if (!read.ok()) return AnswerError(routing_id, request_id, read);
    // Stopping (leadership lost, a failed write): that reason, not a standby's absence.
    if (durability_failure_) return AnswerError(routing_id, request_id, *durability_failure_);
    if (!CanAcknowledge()) return AnswerError(routing_id, request_id, NoStandbyCopy());
    Status built = finish(answer);
    if (!built.ok()) return AnswerError(routing_id, request_id, built);
    Answer(routing_id, std::move(answer), needs_commit);
  };
  Status started = case_scanner_->Start(
      CaseScanner::Read{std::move(visit), std::move(done), std::move(after_walk)});
  if (!started.ok()) return AnswerError(session.routing_id, request.request_id(), started);
  if (auto asker = sessions_.find(session.routing_id); asker != sessions_.end()) {
    ++asker->second.reads_waiting;
  }
}

void Broker::OnGetSlaBoard(Session& session, const wire::Envelope& request) {
  const auto& ask = request.get_sla_board();
  if (ask.horizon_ms() < 0) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "horizon_ms must be 0 (one working day) or more"));
  }
  if (!ask.partner().empty() && !config_.FindPartner(ask.partner())) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::UNKNOWN_PARTNER, "no partner '" + ask.partner().substr(0, 128) + "'"));
  }
  constexpr uint32_t kDefaultLimit = 100, kMaxLimit = 1000;
  size_t limit = ask.limit() == 0 ? kDefaultLimit : std::min(ask.limit(), kMaxLimit);
  int64_t now = clock_.NowMs();
  struct Board {
    explicit Board(size_t limit) : due_soon(limit), at_risk(limit), breached(limit) {}
    SoonestCases due_soon, at_risk, breached;
    // The default horizon depends on the case's partner (closures) and contact point
    // (holidays, zone): computed once per pair.
    std::map<std::pair<std::string, std::string>, int64_t> horizon_end;
    Status failed = Status::Ok();
  };
  // Shared by the read on the scanner's thread and the answer on the loop, one after the other.
  auto board = std::make_shared<Board>(limit);
  // sla_clock_ and config_ are immutable: safe from the scanner's thread.
  auto due_by = [this, board, ask, now](const wire::CaseSummary& summary) -> Result<int64_t> {
    if (ask.horizon_ms() > 0) {
      return ask.horizon_ms() > INT64_MAX - now ? INT64_MAX : now + ask.horizon_ms();
    }
    auto key = std::make_pair(summary.partner(), summary.contact_point());
    if (auto it = board->horizon_end.find(key); it != board->horizon_end.end()) return it->second;
    const Partner* partner = config_.FindPartner(summary.partner());
    const ContactPoint* contact_point = config_.FindContactPoint(summary.contact_point());
    if (!partner || !contact_point) {
      return Status(wire::INTERNAL, "case " + summary.case_id() + " names a partner or contact " +
                                        "point that is no longer in the network config");
    }
    auto end = sla_clock_.EndOfNextWorkingDay(*partner, *contact_point, now);
    if (!end.ok()) return end.status();
    return board->horizon_end[key] = *end;
  };
  // A board reads every case once, like a report: a few hundred ms per million cases, off the
  // loop (store/case_scanner.h).
  auto visit = [board, ask, due_by](const records::CaseRecord& record) {
    const auto& summary = record.summary();
    // Open for the SLA: the partner has not replied and the case has not ended.
    switch (summary.state()) {
      case wire::ANSWERED:
      case wire::CLOSED:
      case wire::CANCELLED:
      case wire::QUEUED_LOCALLY:
      case wire::FAILED_LOCALLY:
      case wire::STATE_UNSPECIFIED:
        return true;
      default:
        break;
    }
    if (summary.answered_at_ms() > 0 || summary.deadline_ms() <= 0) return true;
    if (!ask.partner().empty() && summary.partner() != ask.partner()) return true;
    if (!ask.territory().empty() && summary.territory() != ask.territory()) return true;
    SoonestCases* list = nullptr;
    if (summary.breached()) {
      list = &board->breached;
    } else if (summary.warned()) {
      list = &board->at_risk;
    } else if (summary.state() != wire::INFO_REQUESTED) {
      // (A paused case is not due: its clock stands still until the contact point answers.)
      auto by = due_by(summary);
      if (!by.ok()) {
        board->failed = by.status();
        return false;
      }
      if (summary.deadline_ms() <= *by) list = &board->due_soon;
    }
    if (list) list->Offer(summary);
    return true;
  };
  auto finish = [board, now](wire::Envelope& answer) {
    if (!board->failed.ok()) return board->failed;
    auto* out = answer.mutable_sla_board();
    out->set_now_ms(now);
    auto fill = [&](SoonestCases& list, google::protobuf::RepeatedPtrField<wire::CaseSummary>* rows) {
      for (auto& kept : list.TakeSorted()) {
        wire::CaseSummary* summary = rows->Add();
        *summary = std::move(kept);
        // Metadata only, as GetCase shows operators (common/personal_data.h): the subject is
        // free text typed by the agent.
        summary->clear_subject();
      }
    };
    fill(board->due_soon, out->mutable_due_soon());
    fill(board->at_risk, out->mutable_at_risk());
    fill(board->breached, out->mutable_breached());
    return Status::Ok();
  };
  ScanCases(session, request, std::move(visit), std::move(finish));
}

void Broker::OnExplainDeadline(Session& session, const wire::Envelope& request) {
  const auto& ask = request.explain_deadline();
  const Partner* partner = config_.FindPartner(ask.partner());
  if (!partner) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::UNKNOWN_PARTNER, "no partner '" + ask.partner().substr(0, 128) + "'"));
  }
  std::string contact_point_id =
      session.role == wire::AGENT_GATEWAY ? session.principal : ask.contact_point();
  const ContactPoint* contact_point = config_.FindContactPoint(contact_point_id);
  if (!contact_point) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::UNKNOWN_CONTACT_POINT,
                              "no contact point '" + contact_point_id.substr(0, 128) + "'"));
  }
  auto explanation = sla_clock_.ExplainAt(*partner, *contact_point, ask.category(),
                                          ask.at_ms() == 0 ? clock_.NowMs() : ask.at_ms());
  if (!explanation.ok()) return AnswerError(session.routing_id, request.request_id(), explanation.status());
  wire::Envelope answer = AnswerTo(request);
  auto* out = answer.mutable_deadline_explanation();
  out->set_deadline_ms(explanation->deadline_ms);
  out->set_warning_at_ms(sla_clock_.WarningAt(*explanation));
  out->set_reply_policy(sla::FormatReplyPolicy(explanation->policy));
  for (const auto& line : explanation->lines) out->add_lines(line);
  Answer(session.routing_id, std::move(answer));
}

}  // namespace aplus
