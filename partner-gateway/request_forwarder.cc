#include "partner-gateway/request_forwarder.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/retry_policy.h"
#include "common/wire.h"

namespace aplus {
namespace {

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

RequestForwarder::RequestForwarder(RocksDb& db, BrokerLink& link, PartnerInbox& inbox,
                                   const Clock& clock, std::string actor, int forward_timeout_ms,
                                   FailStop& fail_stop, const SpoolWriter* spool,
                                   std::function<bool()> may_send)
    : inbox_(inbox),
      clock_(clock),
      actor_(std::move(actor)),
      fail_stop_(fail_stop),
      spool_(spool),
      forwarder_(db, link, fail_stop,
                 DurableForwarder::Options{kBrokerTimeoutMs, forward_timeout_ms, kRetryBaseMs,
                                           Backoff::kDefaultCapMs,
                                           DurableForwarder::kDefaultWindow},
                 DurableForwarder::Hooks{
                     [this](const records::OutboxEntry& entry) { return Prepare(entry); },
                     [this](uint64_t, const records::OutboxEntry& entry,
                            const wire::Envelope& answer) { return OnFinal(entry, answer); },
                     [this](const records::OutboxEntry& entry) { return QueuedAnswer(entry); },
                     std::move(may_send),
                     /*set_aside=*/{},
                     /*set_aside_durable=*/{}}) {}

bool RequestForwarder::IsForwarded(const wire::Envelope& request) {
  return request.has_acknowledge_case() || request.has_reply_case() || request.has_ask_info() ||
         request.has_transfer_case();
}

void RequestForwarder::Enqueue(wire::Envelope request, std::string local_ref, ReplyFn reply,
                               rocksdb::WriteBatch* also) {
  records::OutboxEntry entry;
  *entry.mutable_request() = std::move(request);
  entry.set_local_ref(std::move(local_ref));
  entry.set_queued_at_ms(clock_.NowMs());
  auto sequence = forwarder_.Enqueue(entry, reply, also);
  if (!sequence.ok()) reply(MakeErrorEnvelope(0, sequence.status()));
}

Result<wire::Envelope> RequestForwarder::Prepare(const records::OutboxEntry& entry) const {
  if (!IsForwarded(entry.request())) {
    // Only this gateway writes the outbox, so this is a corrupt entry: set it aside loudly
    // rather than block every later request behind it.
    return Status(wire::INTERNAL, "corrupt outbox entry: holds " + BodyName(entry.request()) +
                                      ", not a partner request");
  }
  spdlog::debug("forwarding {} for {} ({})", BodyName(entry.request()),
                CaseIdOf(entry.request()), entry.local_ref());
  return entry.request();
}

wire::Envelope RequestForwarder::OnFinal(const records::OutboxEntry& entry,
                                         const wire::Envelope& answer) {
  const wire::Envelope& request = entry.request();
  if (answer.has_error()) {
    spdlog::warn("broker refused {} for {} ({}): {}", BodyName(request), CaseIdOf(request),
                 entry.local_ref(), StatusOf(answer).ToString());
    return answer;
  }
  if (!answer.has_case_updated()) {
    spdlog::error("broker answered {} for {} with {}", BodyName(request), CaseIdOf(request),
                  BodyName(answer));
    return MakeErrorEnvelope(
        0, Status(wire::INTERNAL, "unexpected answer " + BodyName(answer) + " from broker"));
  }
  ApplyToInbox(request, answer.case_updated());
  return answer;
}

wire::Envelope RequestForwarder::QueuedAnswer(const records::OutboxEntry& entry) const {
  wire::Envelope answer;
  auto* updated = answer.mutable_case_updated();
  const std::string& case_id = CaseIdOf(entry.request());
  updated->set_case_id(case_id);
  updated->set_queued_locally(true);
  auto found = inbox_.Find(case_id);
  if (found.ok() && found->has_value()) updated->set_state((*found)->summary().state());
  return answer;
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
    return fail_stop_.Trip("broker confirmed " + BodyName(request) + " for " + case_id +
                               " but the inbox cannot record it",
                           status);
  }
  spdlog::info("case {} is now {}", case_id, wire::CaseState_Name(updated.state()));
}

}  // namespace aplus
