#include "gateway/durable_forwarder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "common/clock.h"
#include "common/wire.h"

namespace aplus {
namespace {

// The case a forwarded request is about ("" for a submission).
std::string CaseIdOf(const wire::Envelope& request) {
  switch (request.body_case()) {
    case wire::Envelope::kCloseCase: return request.close_case().case_id();
    case wire::Envelope::kCancelCase: return request.cancel_case().case_id();
    case wire::Envelope::kAnswerInfo: return request.answer_info().case_id();
    case wire::Envelope::kAcknowledgeCase: return request.acknowledge_case().case_id();
    case wire::Envelope::kReplyCase: return request.reply_case().case_id();
    case wire::Envelope::kAskInfo: return request.ask_info().case_id();
    case wire::Envelope::kTransferCase: return request.transfer_case().case_id();
    default: return "";
  }
}

// What a request asks, as LocalEntry.request says it: its message name ("CloseCase").
std::string RequestName(const wire::Envelope& request) {
  const auto* field = wire::Envelope::descriptor()->FindFieldByNumber(request.body_case());
  if (field == nullptr || field->message_type() == nullptr) return "nothing";
  return field->message_type()->name();
}

}  // namespace

DurableForwarder::DurableForwarder(RocksDb& db, BrokerLink& link, FailStop& fail_stop,
                                   Options options, Hooks hooks)
    : outbox_(db),
      link_(link),
      fail_stop_(fail_stop),
      options_(options),
      hooks_(std::move(hooks)),
      backoff_(options.backoff_base_ms, options.backoff_cap_ms) {
  // An owner that holds sends for its group commit tells which appends are durable.
  durability_tracked_ = static_cast<bool>(hooks_.may_send);
  size_t failed = 0;
  auto stored = outbox_.All();
  if (!stored.ok()) {
    // Serving without knowing what was accepted could lose or overwrite it: stop (exit 75)
    // before the first request, and let an operator look at the store.
    fail_stop_.Trip("cannot read the outbox at start-up", stored.status());
    return;
  }
  for (auto& [sequence, entry] : *stored) {
    if (entry.failed()) ++failed;
    // Entries written before outbox entries had refs (the partner gateway's) get one, so that
    // `aplus partner retry/discard` can name them; it is stored with their next rewrite.
    if (entry.local_ref().empty()) entry.set_local_ref("OUTBOX-" + std::to_string(sequence));
    entries_.push_back(Item{sequence, std::move(entry), 0, false, {}});
  }
  if (!entries_.empty()) {
    spdlog::info("outbox holds {} request(s) from before ({} set aside as FAILED_LOCALLY)",
                 entries_.size(), failed);
  }
}

Result<uint64_t> DurableForwarder::Enqueue(records::OutboxEntry entry, ReplyFn reply,
                                           rocksdb::WriteBatch* also) {
  entry.mutable_request()->set_request_id(0);
  auto sequence = outbox_.Append(entry, also);
  if (!sequence.ok()) {
    fail_stop_.Trip("cannot append to the outbox", sequence.status());
    return sequence;
  }
  entries_.push_back(Item{*sequence, std::move(entry), 0, false, {}});
  last_sequence_ = *sequence;
  if (reply) {
    waiters_[*sequence] = Waiter{SteadyNowMs() + options_.forward_timeout_ms, std::move(reply)};
  }
  Pump();
  return sequence;
}

DurableForwarder::Item* DurableForwarder::Find(uint64_t sequence) {
  for (auto& item : entries_) {
    if (item.sequence == sequence) return &item;
  }
  return nullptr;
}

DurableForwarder::Item* DurableForwarder::FindRef(const std::string& local_ref) {
  if (local_ref.empty()) return nullptr;
  for (auto& item : entries_) {
    if (item.entry.local_ref() == local_ref) return &item;
  }
  return nullptr;
}

const records::OutboxEntry* DurableForwarder::FindByLocalRef(const std::string& local_ref) const {
  auto* item = const_cast<DurableForwarder*>(this)->FindRef(local_ref);
  return item == nullptr ? nullptr : &item->entry;
}

wire::LocalEntry DurableForwarder::Describe(const records::OutboxEntry& entry) {
  wire::LocalEntry local;
  local.set_local_ref(entry.local_ref());
  local.set_request(RequestName(entry.request()));
  local.set_case_id(CaseIdOf(entry.request()));
  local.set_state(entry.failed() ? wire::FAILED_LOCALLY : wire::QUEUED_LOCALLY);
  if (entry.failed()) *local.mutable_error() = entry.error();
  local.set_queued_at_ms(entry.queued_at_ms());
  local.set_attempts(entry.attempts());
  return local;
}

std::vector<wire::LocalEntry> DurableForwarder::LocalEntries() const {
  std::vector<wire::LocalEntry> all;
  for (const auto& item : entries_) all.push_back(Describe(item.entry));
  return all;
}

Result<wire::LocalEntry> DurableForwarder::Retry(const std::string& local_ref) {
  Item* item = FindRef(local_ref);
  if (item == nullptr) return Status(wire::UNKNOWN_CASE, "no outbox entry " + local_ref);
  if (!item->entry.failed()) return Describe(item->entry);
  records::OutboxEntry updated = item->entry;
  updated.set_failed(false);
  updated.clear_error();
  Status stored = outbox_.Put(item->sequence, updated);
  if (!stored.ok()) {
    fail_stop_.Trip("cannot put outbox entry " + local_ref + " back in line", stored);
    return stored;
  }
  item->entry = std::move(updated);
  spdlog::info("outbox entry {} put back in line", local_ref);
  wire::LocalEntry answer = Describe(item->entry);
  next_attempt_ms_ = 0;
  backoff_.Reset();
  Pump();
  return answer;
}

Result<wire::LocalEntry> DurableForwarder::Discard(const std::string& local_ref) {
  Item* item = FindRef(local_ref);
  if (item == nullptr) return Status(wire::UNKNOWN_CASE, "no outbox entry " + local_ref);
  if (!item->entry.failed()) {
    return Status(wire::INVALID_ARGUMENT,
                  local_ref + " is still waiting for the broker; only a FAILED_LOCALLY entry "
                              "can be discarded");
  }
  wire::LocalEntry answer = Describe(item->entry);
  answer.set_state(wire::STATE_UNSPECIFIED);
  size_t index = 0;
  while (&entries_[index] != item) ++index;
  wire::Envelope error;
  *error.mutable_error() = item->entry.error();
  Remove(index, error);
  if (fail_stop_.tripped()) return fail_stop_.status();
  spdlog::info("outbox entry {} discarded", local_ref);
  return answer;
}

void DurableForwarder::OnLinkReady() {
  next_attempt_ms_ = 0;
  backoff_.Reset();
  Pump();
}

bool DurableForwarder::MaySend() const {
  return !fail_stop_.tripped() && link_.ready() && SteadyNowMs() >= next_attempt_ms_ &&
         (!hooks_.may_send || hooks_.may_send());
}

void DurableForwarder::Pump() {
  // A handler run from inside (an answer given at once by a link that went down, a FinalHandler)
  // may ask for another pump: it runs after this one, never nested, so that no index is held
  // across a change of entries_.
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    while (in_flight_ < std::max(1, options_.window) && MaySend() && SendNext()) {
    }
  } while (pump_again_);
  pumping_ = false;
}

bool DurableForwarder::SendNext() {
  int64_t now = SteadyNowMs();
  // What the entries before the candidate hold back, gathered in one pass in outbox order.
  // Set-aside entries hold back nothing: they never block the others.
  std::unordered_set<std::string> busy_cases;  // case ids of earlier entries still in line
  std::unordered_set<std::string> busy_refs;   // local refs of earlier submissions in line
  bool submissions_held = false;  // a held submission: the later ones keep their order behind it
  for (size_t index = 0; index < entries_.size(); ++index) {
    Item& item = entries_[index];
    const auto& entry = item.entry;
    if (entry.failed()) continue;
    bool submission = entry.request().has_submit();
    std::string case_id = CaseIdOf(entry.request());
    bool blocked = item.in_flight;
    if (!blocked && submission && (submissions_held || item.held_until_ms > now)) {
      // A submission held at the contact point's ceiling of open cases: what can lower the
      // count (an answer to a question, a cancel, a close) must not wait behind it, or the
      // ceiling would never drop. Submissions keep their order behind the held one.
      submissions_held = true;
      blocked = true;
    }
    if (!blocked && !case_id.empty() &&
        (busy_cases.count(case_id) > 0 || busy_refs.count(case_id) > 0)) {
      blocked = true;  // an earlier request about the same case (or its submission) first
    }
    Result<wire::Envelope> request = Status::Ok();
    if (!blocked) {
      request = hooks_.prepare(entry);
      if (request.ok()) {
        // A local ref resolved to its case id: the same case as an earlier entry in flight?
        std::string prepared = CaseIdOf(*request);
        if (!prepared.empty() && prepared != case_id && busy_cases.count(prepared) > 0) {
          blocked = true;
        }
      }
    }
    if (blocked) {
      if (!case_id.empty()) busy_cases.insert(case_id);
      if (!item.sent_case_id.empty()) busy_cases.insert(item.sent_case_id);
      if (submission) busy_refs.insert(entry.local_ref());
      continue;
    }
    if (!request.ok()) {
      if (IsTransient(request.status())) {
        // The gateway's own store could not answer (e.g. UNAVAILABLE): not a refusal of the
        // entry, which stays where it is.
        next_attempt_ms_ = now + backoff_.NextDelayMs(request.status());
        return false;
      }
      Settle(index, MakeErrorEnvelope(0, request.status()));
      return true;  // entries_ changed: look again from the start
    }
    item.in_flight = true;
    item.sent_case_id = CaseIdOf(*request);
    ++in_flight_;
    uint64_t sequence = item.sequence;
    item.entry.set_attempts(item.entry.attempts() + 1);
    // The handler may run before Request returns (link down): the entry is already marked.
    link_.Request(std::move(request).value(), options_.request_timeout_ms,
                  [this, sequence](Result<wire::Envelope> answer) {
                    OnAnswer(sequence, std::move(answer));
                  });
    return true;
  }
  return false;
}

void DurableForwarder::OnAnswer(uint64_t sequence, Result<wire::Envelope> answer) {
  size_t index = 0;
  while (index < entries_.size() && entries_[index].sequence != sequence) ++index;
  if (index == entries_.size()) return;  // discarded meanwhile (cannot happen: not failed)
  if (entries_[index].in_flight) {
    entries_[index].in_flight = false;
    --in_flight_;
  }
  if (fail_stop_.tripped()) return;
  Status status = answer.ok() ? StatusOf(*answer) : answer.status();
  if (IsTransient(status)) {
    int64_t delay = backoff_.NextDelayMs(status);
    // Say it once per outage; every attempt of a long outage is not news.
    auto level = failed_attempts_++ == 0 ? spdlog::level::info : spdlog::level::debug;
    spdlog::log(level, "broker did not take outbox entry {} ({} queued): {}; retrying in {} ms",
                entries_[index].entry.local_ref(), entries_.size(), status.ToString(), delay);
    if (status.code() == wire::TOO_MANY_OPEN_CASES && entries_[index].entry.request().has_submit()) {
      entries_[index].held_until_ms = SteadyNowMs() + delay;  // the others go on meanwhile
      Pump();
      return;
    }
    // Nothing new goes out before the backoff ends; what is in flight gets its answers.
    next_attempt_ms_ = std::max(next_attempt_ms_, SteadyNowMs() + delay);
    return;
  }
  entries_[index].held_until_ms = 0;
  failed_attempts_ = 0;
  backoff_.Reset();
  Settle(index, answer.ok() ? *answer : MakeErrorEnvelope(0, answer.status()));
  Pump();
}

void DurableForwarder::Settle(size_t index, const wire::Envelope& answer) {
  Item& item = entries_[index];
  bool refused = answer.has_error();
  if (!refused || waiters_.count(item.sequence) > 0) return Remove(index, answer);
  // A permanent refusal and nobody waits for it: set aside, visible until someone acts.
  records::OutboxEntry updated = item.entry;
  updated.set_failed(true);
  *updated.mutable_error() = answer.error();
  rocksdb::WriteBatch also;
  if (hooks_.set_aside) hooks_.set_aside(also, updated);
  Status stored = outbox_.Put(item.sequence, updated, &also);
  if (!stored.ok()) {
    return fail_stop_.Trip("cannot set outbox entry " + item.entry.local_ref() + " aside", stored);
  }
  if (hooks_.set_aside_durable) hooks_.set_aside_durable();
  item.entry = std::move(updated);
  spdlog::warn("outbox entry {} ({}) refused by the broker: {}; set aside as FAILED_LOCALLY "
               "(retry or discard it)",
               item.entry.local_ref(), BodyName(item.entry.request()),
               StatusOf(answer).ToString());
}

void DurableForwarder::Remove(size_t index, const wire::Envelope& answer) {
  Item item = entries_[index];
  wire::Envelope reply = hooks_.on_final(item.sequence, item.entry, answer);
  if (fail_stop_.tripped()) return;  // what the answer needed is not stored: keep the entry
  Status removed = outbox_.Remove(item.sequence);
  if (!removed.ok()) {
    return fail_stop_.Trip("cannot remove answered outbox entry " + item.entry.local_ref(),
                           removed);
  }
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index));
  auto waiter = waiters_.find(item.sequence);
  if (waiter == waiters_.end()) return;
  ReplyFn respond = std::move(waiter->second.reply);
  waiters_.erase(waiter);
  respond(std::move(reply));
}

void DurableForwarder::AnswerAllWaitersQueued() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& [sequence, waiter] : waiters) {
    Item* item = Find(sequence);
    if (item == nullptr) continue;
    if (durability_tracked_ && sequence > durable_sequence_) {
      // Appended but never made durable: the client must not be told it is held here.
      Status lost = fail_stop_.tripped() ? fail_stop_.status()
                                         : Status(wire::UNAVAILABLE, "durability lost");
      waiter.reply(MakeErrorEnvelope(0, lost));
      continue;
    }
    waiter.reply(hooks_.queued_answer(item->entry));
  }
}

void DurableForwarder::OnTick() {
  // After a failed commit nothing may be answered as queued from here: the entry may not be
  // on disk (AnswerAllWaitersQueued answers only the durable ones, at the drain).
  if (fail_stop_.tripped()) return;
  int64_t now = SteadyNowMs();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.deadline_ms > now) {
      ++it;
      continue;
    }
    // The request stays in the outbox; the client learns it is held locally.
    Item* item = Find(it->first);
    ReplyFn respond = std::move(it->second.reply);
    it = waiters_.erase(it);
    if (item != nullptr) respond(hooks_.queued_answer(item->entry));
  }
  Pump();
}

int DurableForwarder::NextWakeInMs() const {
  int64_t now = SteadyNowMs();
  int64_t wake = now + 100;
  for (const auto& [sequence, waiter] : waiters_) wake = std::min(wake, waiter.deadline_ms);
  if (next_attempt_ms_ > now) wake = std::min(wake, next_attempt_ms_);
  for (const auto& item : entries_) {
    if (item.held_until_ms > now) wake = std::min(wake, item.held_until_ms);
  }
  return static_cast<int>(std::max<int64_t>(0, wake - now));
}

}  // namespace aplus
