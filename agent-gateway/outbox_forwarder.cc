#include "agent-gateway/outbox_forwarder.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/clock.h"
#include "common/wire.h"

namespace aplus {

bool IsRetriableError(ErrorCode code) {
  return code == wire::UNREACHABLE || code == wire::UNAVAILABLE || code == wire::NOT_AUTHENTICATED;
}

OutboxForwarder::OutboxForwarder(RocksDb& db, BrokerLink& link, int request_timeout_ms,
                                 int retry_ms, Preparer prepare, FinalHandler on_final)
    : outbox_(db),
      link_(link),
      request_timeout_ms_(request_timeout_ms),
      retry_ms_(retry_ms),
      prepare_(std::move(prepare)),
      on_final_(std::move(on_final)) {
  for (auto& entry : outbox_.All()) queued_.push_back(std::move(entry));
  if (!queued_.empty()) spdlog::info("outbox holds {} request(s) from before", queued_.size());
}

Result<uint64_t> OutboxForwarder::Append(const records::OutboxEntry& entry) {
  auto sequence = outbox_.Append(entry);
  if (!sequence.ok()) return sequence;
  queued_.emplace_back(*sequence, entry);
  return sequence;
}

const records::OutboxEntry* OutboxForwarder::FindByLocalRef(const std::string& local_ref) const {
  for (const auto& [sequence, entry] : queued_) {
    if (entry.local_ref() == local_ref) return &entry;
  }
  return nullptr;
}

void OutboxForwarder::Pump() {
  while (!in_flight_ && !queued_.empty() && link_.ready() && SteadyNowMs() >= next_attempt_ms_) {
    const auto& [sequence, entry] = queued_.front();
    auto request = prepare_(entry);
    if (!request.ok()) {
      Finish(MakeErrorEnvelope(0, request.status()));
      continue;
    }
    in_flight_ = true;
    uint64_t sent_sequence = sequence;
    // The handler may run before Request returns (link down): in_flight_ is already set.
    link_.Request(std::move(request).value(), request_timeout_ms_,
                  [this, sent_sequence](Result<wire::Envelope> answer) {
                    OnAnswer(sent_sequence, std::move(answer));
                  });
  }
}

void OutboxForwarder::OnAnswer(uint64_t sequence, Result<wire::Envelope> answer) {
  in_flight_ = false;
  if (queued_.empty() || queued_.front().first != sequence) return;  // cannot happen; be safe
  Status status = answer.ok() ? StatusOf(*answer) : answer.status();
  if (!status.ok() && IsRetriableError(status.code())) {
    spdlog::debug("outbox entry {} not taken yet ({}); will retry",
                  queued_.front().second.local_ref(), status.ToString());
    next_attempt_ms_ = SteadyNowMs() + retry_ms_;
    return;
  }
  Finish(*answer);
}

void OutboxForwarder::Finish(const wire::Envelope& answer) {
  auto [sequence, entry] = std::move(queued_.front());
  queued_.pop_front();
  next_attempt_ms_ = 0;
  on_final_(sequence, entry, answer);
  Status removed = outbox_.Remove(sequence);
  if (!removed.ok()) {
    // The answer is recorded; after a restart the entry is sent again with the same
    // idempotency key and the broker returns the same answer.
    spdlog::critical("cannot remove answered outbox entry {}: {}", entry.local_ref(),
                     removed.ToString());
  }
}

int OutboxForwarder::NextWakeInMs() const {
  if (in_flight_ || queued_.empty() || !link_.ready()) return 1000;
  int64_t wait = next_attempt_ms_ - SteadyNowMs();
  return static_cast<int>(std::clamp<int64_t>(wait, 0, 1000));
}

}  // namespace aplus
