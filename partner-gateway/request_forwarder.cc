#include "partner-gateway/request_forwarder.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/wire.h"

namespace aplus {
namespace {

bool IsRetryable(wire::ErrorCode code) {
  return code == wire::UNREACHABLE || code == wire::UNAVAILABLE || code == wire::NOT_AUTHENTICATED;
}

const std::string& CaseIdOf(const wire::Envelope& request) {
  switch (request.body_case()) {
    case wire::Envelope::kReplyCase:
      return request.reply_case().case_id();
    case wire::Envelope::kAskInfo:
      return request.ask_info().case_id();
    case wire::Envelope::kTransferCase:
      return request.transfer_case().case_id();
    default:
      return request.acknowledge_case().case_id();
  }
}

}  // namespace

RequestForwarder::RequestForwarder(Outbox& outbox, BrokerLink& link, PartnerInbox& inbox,
                                   const Clock& clock, std::string actor, int forward_timeout_ms,
                                   const SpoolWriter* spool)
    : outbox_(outbox),
      link_(link),
      inbox_(inbox),
      clock_(clock),
      actor_(std::move(actor)),
      forward_timeout_ms_(forward_timeout_ms),
      spool_(spool) {}

bool RequestForwarder::IsForwarded(const wire::Envelope& request) {
  return request.has_acknowledge_case() || request.has_reply_case() || request.has_ask_info() ||
         request.has_transfer_case();
}

void RequestForwarder::Enqueue(wire::Envelope request, ReplyFn reply) {
  request.set_request_id(0);
  records::OutboxEntry entry;
  *entry.mutable_request() = request;
  entry.set_queued_at_ms(clock_.NowMs());
  auto sequence = outbox_.Append(entry);
  if (!sequence.ok()) {
    spdlog::error("cannot queue {} for {}: {}", BodyName(request), CaseIdOf(request),
                  sequence.status().ToString());
    reply(MakeErrorEnvelope(0, sequence.status()));
    return;
  }
  waiters_[*sequence] =
      Waiter{SteadyNowMs() + forward_timeout_ms_, CaseIdOf(request), std::move(reply)};
  Pump();
}

void RequestForwarder::OnLinkReady() {
  next_retry_ms_ = 0;
  Pump();
}

void RequestForwarder::Pump() {
  while (!in_flight_ && link_.ready() && SteadyNowMs() >= next_retry_ms_) {
    auto front = outbox_.Front();
    if (!front) return;
    uint64_t sequence = front->first;
    wire::Envelope request = std::move(*front->second.mutable_request());
    if (!IsForwarded(request)) {
      // Only this gateway writes the outbox, so this is a corrupt entry: drop it loudly
      // rather than block every later request behind it.
      spdlog::error("outbox entry {} holds {}, not a partner request; dropped", sequence,
                    BodyName(request));
      Finish(sequence, MakeErrorEnvelope(0, Status(wire::INTERNAL, "corrupt outbox entry")));
      continue;
    }
    in_flight_ = true;
    spdlog::debug("forwarding {} for {} (outbox {})", BodyName(request), CaseIdOf(request),
                  sequence);
    link_.Request(request, kBrokerTimeoutMs,
                  [this, sequence, request](Result<wire::Envelope> answer) {
                    OnBrokerAnswer(sequence, request, std::move(answer));
                  });
  }
}

void RequestForwarder::OnBrokerAnswer(uint64_t sequence, const wire::Envelope& request,
                                      Result<wire::Envelope> answer) {
  in_flight_ = false;
  if (!answer.ok()) {
    Retry(answer.status());
    return;
  }
  wire::Envelope& envelope = *answer;
  if (envelope.has_error()) {
    Status status = StatusOf(envelope);
    if (IsRetryable(status.code())) {
      Retry(status);
      return;
    }
    spdlog::warn("broker refused {} for {}: {}", BodyName(request), CaseIdOf(request),
                 status.ToString());
  } else if (envelope.has_case_updated()) {
    ApplyToInbox(request, envelope.case_updated());
  } else {
    spdlog::error("broker answered {} for {} with {}", BodyName(request), CaseIdOf(request),
                  BodyName(envelope));
    envelope = MakeErrorEnvelope(
        0, Status(wire::INTERNAL, "unexpected answer " + BodyName(envelope) + " from broker"));
  }
  failed_attempts_ = 0;
  Finish(sequence, envelope);
  Pump();
}

void RequestForwarder::Retry(const Status& why) {
  // Say it once per outage; every second of a long outage is not news.
  auto level = failed_attempts_++ == 0 ? spdlog::level::info : spdlog::level::debug;
  spdlog::log(level, "broker did not take the head of the outbox ({} queued): {}; retrying",
              outbox_.size(), why.ToString());
  next_retry_ms_ = SteadyNowMs() + kRetryEveryMs;
}

void RequestForwarder::Finish(uint64_t sequence, const wire::Envelope& answer) {
  Status removed = outbox_.Remove(sequence);
  if (!removed.ok()) {
    // The storage failed for good (RocksDb makes failures sticky): stop forwarding, or the
    // same head would be sent again forever.
    spdlog::critical("cannot remove outbox entry {}: {}", sequence, removed.ToString());
    next_retry_ms_ = INT64_MAX;
  }
  AnswerWaiter(sequence, answer);
}

void RequestForwarder::AnswerWaiter(uint64_t sequence, wire::Envelope answer) {
  auto it = waiters_.find(sequence);
  if (it == waiters_.end()) return;  // already answered queued_locally, or sent before a restart
  ReplyFn reply = std::move(it->second.reply);
  waiters_.erase(it);
  reply(std::move(answer));
}

void RequestForwarder::ApplyToInbox(const wire::Envelope& request,
                                    const wire::CaseUpdated& updated) {
  const std::string& case_id = CaseIdOf(request);
  const int64_t now = clock_.NowMs();
  Status status;
  if (request.has_ask_info()) {
    status = inbox_.RecordQuestion(case_id, updated.state(), request.ask_info().question(), actor_,
                                   now);
  } else if (request.has_transfer_case()) {
    status = inbox_.RecordTransfer(case_id, updated.state(), request.transfer_case().to_partner(),
                                   actor_, now);
    if (status.ok() && spool_ != nullptr) {
      Status removed = spool_->Remove(case_id);
      if (!removed.ok()) {
        spdlog::error("case {} was transferred but its spool file stays: {}", case_id,
                      removed.ToString());
      }
    }
  } else {
    std::optional<std::string> reply_text;
    if (request.has_reply_case()) reply_text = request.reply_case().text();
    status = inbox_.ApplyUpdate(case_id, updated.state(), reply_text, actor_, now);
  }
  if (!status.ok()) {
    spdlog::error("broker confirmed {} for {} but the inbox cannot record it: {}",
                  BodyName(request), case_id, status.ToString());
    return;
  }
  spdlog::info("case {} is now {}", case_id, wire::CaseState_Name(updated.state()));
}

void RequestForwarder::OnTick() {
  int64_t now = SteadyNowMs();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.deadline_ms > now) {
      ++it;
      continue;
    }
    wire::Envelope answer;
    auto* updated = answer.mutable_case_updated();
    updated->set_case_id(it->second.case_id);
    updated->set_queued_locally(true);
    auto found = inbox_.Find(it->second.case_id);
    if (found.ok() && found->has_value()) updated->set_state((*found)->summary().state());
    ReplyFn reply = std::move(it->second.reply);
    it = waiters_.erase(it);
    reply(std::move(answer));
  }
  Pump();
}

int RequestForwarder::NextWakeInMs() const {
  int64_t now = SteadyNowMs();
  int64_t wake = now + 100;
  for (const auto& [sequence, waiter] : waiters_) wake = std::min(wake, waiter.deadline_ms);
  if (!in_flight_ && outbox_.size() > 0 && next_retry_ms_ > now)
    wake = std::min(wake, next_retry_ms_);
  return static_cast<int>(std::max<int64_t>(0, wake - now));
}

}  // namespace aplus
