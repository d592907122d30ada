// Request handlers. The table of requests (request_table.h) has already checked the session's
// role; each handler validates against the session's principal (never against ids in the
// payload), writes into the pending batch, and queues exactly one answer. Errors change
// nothing: every check happens before the first write.
#include <algorithm>
#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "common/personal_data.h"
#include "broker/request_support.h"
#include "broker/request_table.h"
#include "common/case_id.h"
#include "common/wire.h"

namespace aplus {
namespace {

constexpr size_t kMaxIdBytes = 128;
// A contact point at its ceiling of open cases waits for partners to answer: minutes, not ms.
constexpr int64_t kOpenCasesRetryAfterMs = 60 * 1000;

Status CheckText(const std::string& value, const char* field, bool required, size_t max_bytes) {
  if (required && value.empty()) {
    return Status(wire::INVALID_ARGUMENT, std::string(field) + " is required");
  }
  if (value.size() > max_bytes) {
    return Status(wire::INVALID_ARGUMENT,
                  std::string(field) + " exceeds " + std::to_string(max_bytes) + " bytes");
  }
  return Status::Ok();
}

}  // namespace

void Broker::OnHello(const std::string& routing_id, const wire::Envelope& request,
                     const KeyringEntry* key, int fd) {
  const wire::Hello& hello = request.hello();
  auto refuse = [&](const std::string& why) {
    AnswerError(routing_id, request.request_id(), Status(wire::BAD_CREDENTIAL, why));
  };
  Session session;
  session.routing_id = routing_id;
  session.last_seen_ms = SteadyNowMs();
  session.fd = fd;
  session.peer = PeerOf(fd);
  if (key) {
    // CURVE: the key says who this is. What Hello says may only agree with it; a gateway
    // started with another principal's key is a misconfiguration worth a clear refusal.
    bool agrees = (hello.role() == wire::ROLE_UNSPECIFIED || hello.role() == key->role) &&
                  (hello.principal().empty() || hello.principal() == key->principal) &&
                  (hello.territory().empty() || hello.territory() == key->territory);
    if (!agrees) {
      return refuse("this connection's key is " + DescribeEntry(*key) + ", not " +
                    RoleName(hello.role()) + " " + hello.principal() +
                    (hello.territory().empty() ? "" : "/" + hello.territory()));
    }
    session.Identify(key->role, key->principal, key->territory);
    session.public_key = key->public_key;
  } else {
    session.Identify(hello.role(), hello.principal(), hello.territory());
  }
  switch (session.role) {
    case wire::AGENT_GATEWAY: {
      const ContactPoint* contact_point = config_.FindContactPoint(session.principal);
      if (!contact_point) return refuse("unknown contact point '" + session.principal + "'");
      session.queues.push_back(MailboxQueueName(contact_point->id));
      break;
    }
    case wire::PARTNER_GATEWAY: {
      const Partner* partner = config_.FindPartner(session.principal);
      if (!partner) return refuse("unknown partner '" + session.principal + "'");
      if (!session.territory.empty() && !config_.FindTerritory(session.territory)) {
        return refuse("unknown territory '" + session.territory + "'");
      }
      session.queues = PartnerQueuesFor(config_, *partner, session.territory);
      break;
    }
    case wire::OPERATOR:
    case wire::ADMINISTRATOR: {
      const Operator* op = config_.FindOperator(session.principal);
      if (!op) return refuse("unknown operator '" + session.principal + "'");
      // (Under CURVE the ZAP handler already refused such a key: CheckEntryAgainstNetwork.)
      if (session.role == wire::ADMINISTRATOR && !op->administrator) {
        return refuse("operator '" + session.principal + "' is not an administrator");
      }
      break;
    }
    case wire::CONSOLE:
      // Any console id: the console holds no rights of its own (Broker::ActingIdentity).
      break;
    default:
      return refuse("Hello must name a role");
  }
  // A second Hello on the same connection starts over: what was in flight goes back.
  if (sessions_.count(routing_id)) DropSession(routing_id, "new Hello on the connection");
  spdlog::info("session opened: {} ({}{}{})", session.DedupPrincipal(), hello.software(),
               session.peer.empty() ? "" : " from ", session.peer);
  wire::Envelope answer = AnswerTo(request);
  auto* welcome = answer.mutable_welcome();
  welcome->set_broker_id(options_.broker_id);
  welcome->set_instance_id(instance_id_);
  welcome->set_acknowledging(CanAcknowledge());  // and in every Pong (common/broker_link.h)
  welcome->set_max_frame_bytes(options_.max_frame_bytes);
  for (const auto& queue : session.queues) welcome->add_queues(queue);
  welcome->set_role(session.role);
  welcome->set_principal(session.principal);
  welcome->set_territory(session.territory);
  sessions_[routing_id] = std::move(session);
  Answer(routing_id, std::move(answer), /*needs_commit=*/false);
}

Result<wire::CaseState> Broker::ApplyEvent(records::CaseRecord& record, CaseEvent event,
                                           const std::string& actor, const std::string& detail) {
  wire::CaseState before = record.summary().state();
  auto next = NextState(before, event);
  if (!next.ok()) return next.status();
  record.mutable_summary()->set_state(*next);
  wire::Event timeline_event;
  timeline_event.set_sequence(record.event_count());
  timeline_event.set_at_ms(clock_.NowMs());
  timeline_event.set_kind(wire::CaseState_Name(*next));
  timeline_event.set_actor(actor);
  timeline_event.set_detail(detail);
  timeline_event.set_state_after(*next);
  record.set_event_count(record.event_count() + 1);
  store_->PutEvent(record.summary().case_id(), timeline_event);
  store_->PutCase(record, before);
  // Counted where the transition happens, for the case's partner of the moment (a transition
  // happens once: acknowledging an acknowledged case is no transition).
  if (event == CaseEvent::kAcknowledge || event == CaseEvent::kReply) {
    if (auto* counters = metrics_.Partner(record.summary().partner())) {
      (event == CaseEvent::kReply ? counters->answered : counters->acknowledged)->Increment();
    }
  }
  return *next;
}

Result<bool> Broker::WithdrawUndelivered(const records::CaseRecord& record) {
  if (record.queue().empty()) return false;
  QueueState& queue = Queue(record.queue());
  uint64_t sequence = record.queue_sequence();
  // In flight: the partner may be storing it right now; its ack will find the case moved on.
  if (queue.in_flight.count(sequence)) return false;
  auto item = store_->GetQueueItem(record.queue(), sequence);
  if (!item.ok()) return item.status();
  if (!item->has_value()) return false;
  store_->DeleteQueueItem(record.queue(), sequence);
  queue.Removed(sequence);
  queue.redeliver.erase(sequence);
  if (queue.depth > 0) --queue.depth;
  return true;
}

void Broker::AppendToQueue(const std::string& queue_name, const records::QueueItem& item) {
  QueueState& queue = Queue(queue_name);
  uint64_t sequence = queue.next_sequence++;
  queue.depth += 1;
  queue.Enqueued(sequence, clock_.NowMs());
  store_->PutQueueItem(queue_name, sequence, item);
  store_->SetQueueNext(queue_name, queue.next_sequence);
}

void Broker::PostToMailbox(const records::CaseRecord& record, wire::MailItem::Kind kind,
                           const std::string& text) {
  records::QueueItem item;
  item.set_case_id(record.summary().case_id());
  auto* mail = item.mutable_mail();
  mail->set_case_id(record.summary().case_id());
  mail->set_kind(kind);
  mail->set_partner(record.summary().partner());
  mail->set_text(text);
  mail->set_at_ms(clock_.NowMs());
  mail->set_state(record.summary().state());
  AppendToQueue(MailboxQueueName(record.summary().contact_point()), item);
}

void Broker::OnSubmit(Session& session, const wire::Envelope& request) {
  const auto& submit = request.submit();
  const std::string& routing_id = session.routing_id;
  const ContactPoint* contact_point = config_.FindContactPoint(session.principal);
  const Partner* partner = config_.FindPartner(submit.partner());
  for (const Status& check :
       {CheckText(submit.agent(), "agent", true, kMaxIdBytes),
        CheckText(submit.partner(), "partner", true, kMaxIdBytes),
        CheckText(submit.category(), "category", true, kMaxIdBytes),
        CheckText(submit.subject(), "subject", true, 1024),
        CheckText(submit.body(), "body", false, kMaxTextBytes),
        CheckText(submit.citizen_name(), "citizen_name", false, 512),
        CheckText(submit.idempotency_key(), "idempotency_key", false, kMaxIdBytes),
        CheckText(submit.mandate_reference(), "mandate_reference", false, kMaxIdBytes)}) {
    if (!check.ok()) return AnswerError(routing_id, request.request_id(), check);
  }
  // RGPD: the agent acts for the citizen only under the citizen's mandate.
  if (submit.mandate_reference().empty() && !submit.citizen_consent()) {
    return AnswerError(routing_id, request.request_id(),
                       Status(wire::MANDATE_REQUIRED,
                              "a submission must record the citizen's mandate: give a "
                              "mandate_reference or set citizen_consent"));
  }
  if (!partner) {
    return AnswerError(routing_id, request.request_id(),
                       Status(wire::UNKNOWN_PARTNER, "no partner '" + submit.partner() + "'"));
  }
  if (!config_.FindAgent(*contact_point, submit.agent())) {
    return AnswerError(routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "no agent '" + submit.agent() + "' at " +
                                                          contact_point->id));
  }
  std::optional<std::string> dedup_key = IdempotencyScopeOf(request);
  if (dedup_key) {
    auto existing = store_->GetDedup(session.DedupPrincipal(), *dedup_key);
    if (!existing.ok()) return AnswerError(routing_id, request.request_id(), existing.status());
    if (existing->has_value()) {
      auto record = store_->GetCase((*existing)->case_id());
      wire::Envelope answer = AnswerTo(request);
      auto* accepted = answer.mutable_accepted();
      accepted->set_case_id((*existing)->case_id());
      accepted->set_duplicate(true);
      if (record.ok() && record->has_value()) {
        accepted->set_state((*record)->summary().state());
        accepted->set_deadline_ms((*record)->summary().deadline_ms());
      }
      // The first answer may still be in this very batch: answer only after the commit.
      return Answer(routing_id, std::move(answer));
    }
  }
  if (options_.max_open_cases > 0 && store_->open_cases(contact_point->id) >= options_.max_open_cases) {
    return AnswerError(routing_id, request.request_id(),
                       Status(wire::TOO_MANY_OPEN_CASES,
                              contact_point->id + " already has " +
                                  std::to_string(options_.max_open_cases) +
                                  " cases waiting for partners; close answered cases or wait")
                           .WithRetryAfterMs(kOpenCasesRetryAfterMs));
  }
  const Territory* territory = config_.FindTerritory(contact_point->territory);
  if (store_->case_counter() >= kCaseIdSpace) {
    return AnswerError(routing_id, request.request_id(),
                       Status(wire::UNAVAILABLE, "case id space exhausted"));
  }
  int64_t now = clock_.NowMs();
  records::CaseRecord record;
  auto* summary = record.mutable_summary();
  summary->set_contact_point(contact_point->id);
  summary->set_agent(submit.agent());
  summary->set_partner(partner->id);
  summary->set_territory(contact_point->territory);
  summary->set_category(submit.category());
  summary->set_subject(submit.subject());
  summary->set_submitted_at_ms(now);
  summary->set_mandate_reference(submit.mandate_reference());
  summary->set_citizen_consent(submit.citizen_consent());
  record.set_clock_started_ms(now);
  record.set_idempotency_key(submit.idempotency_key());
  std::string queue = PartnerQueueName(*partner, contact_point->territory);
  record.set_queue(queue);
  record.set_queue_sequence(Queue(queue).next_sequence);
  // Every check before the first write: a deadline that cannot be computed refuses the case
  // before a case number is taken.
  auto explanation = sla_clock_.Explain(record, now, /*write_lines=*/false);
  if (!explanation.ok()) return AnswerError(routing_id, request.request_id(), explanation.status());
  summary->set_case_id(FormatCaseId(territory ? territory->case_prefix : "APL",
                                    store_->NextCaseNumber()));
  summary->set_state(wire::SUBMITTED);  // the clock runs from submission
  Status scheduled = RescheduleSla(record, &*explanation);
  if (!scheduled.ok()) return AnswerError(routing_id, request.request_id(), scheduled);
  summary->set_state(wire::STATE_UNSPECIFIED);
  auto state = ApplyEvent(record, CaseEvent::kSubmit, contact_point->id,
                          "by " + submit.agent() + " to " + partner->id);
  if (!state.ok()) return AnswerError(routing_id, request.request_id(), state.status());
  records::CaseContent content;
  content.set_body(submit.body());
  content.set_citizen_name(submit.citizen_name());
  store_->PutContent(summary->case_id(), content);
  records::QueueItem item;
  item.set_case_id(summary->case_id());
  AppendToQueue(queue, item);
  store_->IndexCaseForContactPoint(contact_point->id, summary->case_id());
  records::DedupEntry dedup;
  dedup.set_case_id(summary->case_id());
  dedup.set_state(*state);
  dedup.set_deadline_ms(summary->deadline_ms());
  if (dedup_key) store_->PutDedup(session.DedupPrincipal(), *dedup_key, dedup);
  Audit(session, summary->case_id(), "submit", "to " + partner->id);
  wire::Envelope answer = AnswerTo(request);
  auto* accepted = answer.mutable_accepted();
  accepted->set_case_id(summary->case_id());
  accepted->set_state(*state);
  accepted->set_deadline_ms(summary->deadline_ms());
  Answer(routing_id, std::move(answer));
  // Counted and timed when this answer leaves after the commit (CommitAndFlush).
  answers_.back().submitted_to = metrics_.Partner(partner->id);
  answers_.back().received_ns = receipt_ns_;
}

Result<records::CaseContent> Broker::ContentOf(const records::CaseRecord& record) {
  records::CaseContent content;
  if (!record.body().empty() || !record.citizen_name().empty()) {
    content.set_body(record.body());
    content.set_citizen_name(record.citizen_name());
    return content;
  }
  auto stored = store_->GetContent(record.summary().case_id());
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) content = std::move(**stored);
  return content;
}

Result<records::CaseRecord> Broker::LoadCaseFor(const Session& session,
                                                const std::string& raw_case_id) {
  auto case_id = NormalizeCaseId(raw_case_id);
  if (!case_id) {
    return Status(wire::UNKNOWN_CASE, "'" + raw_case_id.substr(0, 64) + "' is not a case id");
  }
  auto record = store_->GetCase(*case_id);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return Status(wire::UNKNOWN_CASE, "no case " + *case_id);
  // A case outside the session's reach is refused as such (and the refusal is logged with the
  // principal by AnswerError): the parties of a case are not secret, its content is.
  const auto& summary = (*record)->summary();
  auto denied = [&](const std::string& why) {
    return Status(wire::PERMISSION_DENIED, "case " + *case_id + " " + why);
  };
  switch (session.role) {
    case wire::AGENT_GATEWAY:
      if (summary.contact_point() != session.principal) {
        return denied("belongs to another contact point");
      }
      break;
    case wire::PARTNER_GATEWAY: {
      if (summary.partner() != session.principal) {
        return denied(summary.transferred_from() == session.principal
                          ? "was transferred to another partner"
                          : "is not in this partner's queues");
      }
      const Partner* partner = config_.FindPartner(summary.partner());
      if (partner && partner->per_territory && !session.territory.empty() &&
          summary.territory() != session.territory) {
        return denied("is in another territory's queue");
      }
      break;
    }
    case wire::OPERATOR:
    case wire::ADMINISTRATOR:
      break;
    default:
      return denied("is out of this session's reach");
  }
  return std::move(**record);
}

void Broker::OnGetCase(Session& session, const wire::Envelope& request) {
  auto record = LoadCaseFor(session, request.get_case().case_id());
  if (!record.ok()) return AnswerError(session.routing_id, request.request_id(), record.status());
  auto events = store_->GetEvents(record->summary().case_id());
  if (!events.ok()) return AnswerError(session.routing_id, request.request_id(), events.status());
  wire::Envelope answer = AnswerTo(request);
  auto* view = answer.mutable_case_view();
  *view->mutable_summary() = record->summary();
  if (session.reads_personal_data()) {  // operators never see it: not even read for them
    auto content = ContentOf(*record);
    if (!content.ok()) return AnswerError(session.routing_id, request.request_id(), content.status());
    view->set_body(std::move(*content->mutable_body()));
    view->set_citizen_name(std::move(*content->mutable_citizen_name()));
  }
  view->set_reply_text(record->reply_text());
  for (auto& event : *events) *view->add_timeline() = std::move(event);
  *view->mutable_pauses() = record->pauses();
  view->set_question(record->question());
  // Operators see metadata and the timeline, not the citizen's data or the free text.
  if (!session.reads_personal_data()) WithholdPersonalData(*view);
  auto explanation = sla_clock_.Explain(*record, clock_.NowMs());
  if (explanation.ok()) {
    for (const auto& line : explanation->lines) view->add_deadline_explanation(line);
  }
  bool has_content =
      !view->body().empty() || !view->citizen_name().empty() || !view->reply_text().empty();
  // The answer leaves after the commit, so no read goes unrecorded.
  Audit(session, record->summary().case_id(), "read", has_content ? "content" : "metadata");
  Answer(session.routing_id, std::move(answer));
}

void Broker::OnListCases(Session& session, const wire::Envelope& request) {
  const auto& ask = request.list_cases();
  size_t limit = ask.limit() == 0 ? 100 : std::min(ask.limit(), 1000u);
  bool filtered = ask.state() != wire::STATE_UNSPECIFIED || !ask.partner().empty() ||
                  ask.agents_size() > 0;
  auto wanted = [&ask](const wire::CaseSummary& summary) {
    if (ask.state() != wire::STATE_UNSPECIFIED && summary.state() != ask.state()) return false;
    if (!ask.partner().empty() && summary.partner() != ask.partner()) return false;
    if (ask.agents_size() == 0) return true;
    return std::find(ask.agents().begin(), ask.agents().end(), summary.agent()) !=
           ask.agents().end();
  };
  // A filtered listing scans a bounded number of cases per request (see ListCases in
  // proto/aplus.proto), so that a rare filter cannot stall the broker's loop.
  const size_t max_scanned = filtered ? 10 * limit + 100 : limit;
  wire::Envelope answer = AnswerTo(request);
  auto* list = answer.mutable_case_list();
  std::string after = ask.after_case_id();
  size_t scanned = 0;
  bool more = true;
  while (more && static_cast<size_t>(list->cases_size()) < limit && scanned < max_scanned) {
    size_t chunk = std::min(limit, max_scanned - scanned);
    auto ids = store_->ListCaseIds(session.principal, after, chunk);
    if (!ids.ok()) return AnswerError(session.routing_id, request.request_id(), ids.status());
    more = ids->size() == chunk;
    for (const auto& id : *ids) {
      ++scanned;
      after = id;
      auto record = store_->GetCase(id);
      if (!record.ok()) {
        return AnswerError(session.routing_id, request.request_id(), record.status());
      }
      if (!record->has_value() || !wanted((*record)->summary())) continue;
      *list->add_cases() = (*record)->summary();
      if (static_cast<size_t>(list->cases_size()) == limit) {
        more = more || &id != &ids->back();
        break;
      }
    }
  }
  if (more) list->set_next_after_case_id(after);
  // A listing shows each case's subject, free text typed by the agent: it is a read. Audited
  // once every read succeeded, so that a failed listing records nothing.
  for (const auto& summary : list->cases()) Audit(session, summary.case_id(), "list", "summary");
  Answer(session.routing_id, std::move(answer));
}

void Broker::OnCloseOrCancel(Session& session, const wire::Envelope& request) {
  bool close = request.has_close_case();
  const std::string& raw_id = close ? request.close_case().case_id() : request.cancel_case().case_id();
  if (AnswerFromDedup(session, request)) return;
  auto record = LoadCaseFor(session, raw_id);
  if (!record.ok()) return AnswerError(session.routing_id, request.request_id(), record.status());
  std::string detail = close ? "closed by the contact point" : request.cancel_case().reason();
  if (!close && NextState(record->summary().state(), CaseEvent::kCancel).ok()) {
    ClearTimers(*record);  // cancelling stops the clock
    ClosePause(*record);
  }
  auto state = ApplyEvent(*record, close ? CaseEvent::kClose : CaseEvent::kCancel,
                          session.principal, detail);
  if (!state.ok()) return AnswerError(session.routing_id, request.request_id(), state.status());
  ScheduleRetention(*record);  // the personal data goes once the retention period is over
  Audit(session, record->summary().case_id(), close ? "close" : "cancel", wire::CaseState_Name(*state));
  // Cancelled before the partner received it: it leaves the partner's queue. (Unreadable: it
  // stays there, and the partner learns from the case that it was cancelled.)
  if (!close) {
    auto withdrawn = WithdrawUndelivered(*record);
    if (!withdrawn.ok()) {
      spdlog::error("case {}: cancelled, but its queue item was left: {}",
                    record->summary().case_id(), withdrawn.status().ToString());
    } else if (*withdrawn) {
      record->clear_queue();
      store_->PutCase(*record, *state);
    }
  }
  RememberOutcome(session, request, *record);
  AnswerCaseUpdated(session, request, *record);
}

void Broker::OnAcknowledgeOrReply(Session& session, const wire::Envelope& request) {
  bool reply = request.has_reply_case();
  const std::string& raw_id =
      reply ? request.reply_case().case_id() : request.acknowledge_case().case_id();
  if (reply) {
    Status check = CheckText(request.reply_case().text(), "text", true, kMaxTextBytes);
    if (!check.ok()) return AnswerError(session.routing_id, request.request_id(), check);
  }
  if (AnswerFromDedup(session, request)) return;
  auto record = LoadCaseFor(session, raw_id);
  if (!record.ok()) return AnswerError(session.routing_id, request.request_id(), record.status());
  wire::CaseState before = record->summary().state();
  if (reply && NextState(before, CaseEvent::kReply).ok()) {
    record->set_reply_text(request.reply_case().text());
    StopClockAtReply(*record);  // broker_sla.cc
  }
  std::string detail = reply ? "replied" : request.acknowledge_case().note();
  if (reply && record->summary().late_by_ms() > 0) {
    detail = "replied " + sla::FormatDuration(record->summary().late_by_ms()) + " after the deadline";
  }
  auto state = ApplyEvent(*record, reply ? CaseEvent::kReply : CaseEvent::kAcknowledge,
                          session.principal, detail);
  if (!state.ok()) return AnswerError(session.routing_id, request.request_id(), state.status());
  PostToMailbox(*record, reply ? wire::MailItem::REPLY : wire::MailItem::ACKNOWLEDGED,
                reply ? request.reply_case().text() : request.acknowledge_case().note());
  Audit(session, record->summary().case_id(), reply ? "reply" : "acknowledge",
        wire::CaseState_Name(*state));
  RememberOutcome(session, request, *record);
  AnswerCaseUpdated(session, request, *record);
}

bool Broker::AnswerFromDedup(Session& session, const wire::Envelope& request) {
  std::optional<std::string> key = IdempotencyScopeOf(request);
  if (!key) return false;
  auto existing = store_->GetDedup(session.DedupPrincipal(), *key);
  if (!existing.ok()) {
    // Unknown whether this is a retry: applying it again could refuse (or repeat) what already
    // succeeded. The error is transient (UNAVAILABLE/INTERNAL travel as read), the client asks
    // again.
    AnswerError(session.routing_id, request.request_id(),
                Status(wire::UNAVAILABLE, "cannot read the request's first outcome: " +
                                              existing.status().message()));
    return true;
  }
  if (!existing->has_value()) return false;
  wire::Envelope answer = AnswerTo(request);
  answer.mutable_case_updated()->set_case_id((*existing)->case_id());
  answer.mutable_case_updated()->set_state((*existing)->state());
  // The first answer may still be in this very batch: answer only after the commit.
  Answer(session.routing_id, std::move(answer));
  return true;
}

void Broker::RememberOutcome(Session& session, const wire::Envelope& request,
                             const records::CaseRecord& record) {
  std::optional<std::string> key = IdempotencyScopeOf(request);
  if (!key) return;
  records::DedupEntry dedup;
  dedup.set_case_id(record.summary().case_id());
  dedup.set_state(record.summary().state());
  store_->PutDedup(session.DedupPrincipal(), *key, dedup);
}

void Broker::AnswerCaseUpdated(Session& session, const wire::Envelope& request,
                               const records::CaseRecord& record) {
  wire::Envelope answer = AnswerTo(request);
  answer.mutable_case_updated()->set_case_id(record.summary().case_id());
  answer.mutable_case_updated()->set_state(record.summary().state());
  Answer(session.routing_id, std::move(answer));
}

void Broker::OnSubscribe(Session& session, const wire::Envelope& request) {
  uint32_t window = request.subscribe().window();
  if (window == 0 || window > 10000) {
    return AnswerError(session.routing_id, request.request_id(),
                       Status(wire::INVALID_ARGUMENT, "window must be between 1 and 10000"));
  }
  session.window = window;
  wire::Envelope answer = AnswerTo(request);
  for (const auto& queue : session.queues) {
    Queue(queue);  // known from now on, so stats list it even when empty
    answer.mutable_subscribed()->add_queues(queue);
  }
  Answer(session.routing_id, std::move(answer));
}

void Broker::OnGetStats(Session& session, const wire::Envelope& request) {
  wire::Envelope answer = AnswerTo(request);
  FillStats(*answer.mutable_stats());  // broker_http.cc: the same figures as /metrics
  Answer(session.routing_id, std::move(answer));
}

}  // namespace aplus
