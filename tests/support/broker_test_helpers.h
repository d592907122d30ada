// Test support for the broker's system tests: restarting the real broker and knowing when it is
// really serving again, the requests a fake gateway sends, waiting for deliveries, and checking
// that a case's timeline tells a legal story.
//
// Thread rules: free functions; a SyncClient passed in must be used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker/case_lifecycle.h"
#include "common/clock.h"
#include "common/sync_client.h"
#include "tests/support/network.h"

namespace aplus::testing {

inline size_t CountOccurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// For tests that drive thousands of requests as fast as they can from one principal: the
// abuse limit has its own test (abuse_limits_system_test.cc).
inline const std::vector<std::string> kNoRateLimit = {"--rate-limit", "0"};

// Kills the broker with SIGKILL if it runs, starts it again on the same endpoint and data
// directory, and returns once the new process printed its ready line (each start has its own
// log). A start that fails with "Address already in use" (the port was briefly taken while
// the broker was down) is retried for a while; any other failure is returned.
inline bool RestartBroker(TestNetwork& network, std::vector<std::string> extra = {},
                          int timeout_ms = 20000) {
  network.broker().Kill();
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (SteadyNowMs() < deadline) {
    if (network.StartBroker(extra)) return true;
    if (network.broker().Log().find("Address already in use") == std::string::npos) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// A TestNetwork whose broker is serving. A first start that fails because the free port was
// taken meanwhile is retried on fresh ports; nullptr (with the broker log on stdout) otherwise.
inline std::unique_ptr<TestNetwork> StartNetwork(const std::string& label,
                                                 std::vector<std::string> extra = {}) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto network = std::make_unique<TestNetwork>(label);
    if (network->StartBroker(extra)) return network;
    std::string log = network->broker().Log();
    if (log.find("Address already in use") == std::string::npos) {
      std::printf("broker failed to start:\n%s\n", log.c_str());
      return nullptr;
    }
  }
  std::printf("broker failed to start: no free port found\n");
  return nullptr;
}

// Polls `condition` every `poll_ms` until it holds or `timeout_ms` passed.
inline bool WaitUntil(const std::function<bool()>& condition, int timeout_ms, int poll_ms = 20) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (true) {
    if (condition()) return true;
    if (SteadyNowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

// `request` as the operator console sends it: acting for `person` (an [[operators]] id).
inline wire::Envelope OnBehalfOf(const std::string& person, wire::Envelope request) {
  request.set_on_behalf_of(person);
  return request;
}

inline wire::Envelope SubscribeRequest(uint32_t window) {
  wire::Envelope envelope;
  envelope.mutable_subscribe()->set_window(window);
  return envelope;
}

inline wire::Envelope PingRequest() {
  wire::Envelope envelope;
  envelope.mutable_ping();
  return envelope;
}

inline wire::Envelope StatsRequest() {
  wire::Envelope envelope;
  envelope.mutable_get_stats();
  return envelope;
}

inline wire::Envelope AcknowledgeRequest(const std::string& case_id, const std::string& note,
                                         const std::string& key = "") {
  wire::Envelope envelope;
  envelope.mutable_acknowledge_case()->set_case_id(case_id);
  envelope.mutable_acknowledge_case()->set_note(note);
  envelope.mutable_acknowledge_case()->set_idempotency_key(key);
  return envelope;
}

inline wire::Envelope ReplyRequest(const std::string& case_id, const std::string& text,
                                   const std::string& key = "") {
  wire::Envelope envelope;
  envelope.mutable_reply_case()->set_case_id(case_id);
  envelope.mutable_reply_case()->set_text(text);
  envelope.mutable_reply_case()->set_idempotency_key(key);
  return envelope;
}

// The next Delivery pushed to `client` within `timeout_ms` (other unsolicited bodies are
// skipped), or nullopt.
inline std::optional<wire::Delivery> NextDelivery(SyncClient& client, int timeout_ms = 5000) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (true) {
    int64_t left = deadline - SteadyNowMs();
    if (left < 0) return std::nullopt;
    auto envelope = client.Receive(static_cast<int>(left));
    if (!envelope) return std::nullopt;
    if (envelope->has_delivery()) return envelope->delivery();
  }
}

// Acknowledges deliveries (no answer comes back on success).
inline Status AckDeliveries(SyncClient& client, const std::string& queue,
                            const std::vector<uint64_t>& delivery_ids) {
  wire::Envelope envelope;
  envelope.mutable_delivery_ack()->set_queue(queue);
  for (uint64_t id : delivery_ids) envelope.mutable_delivery_ack()->add_delivery_ids(id);
  return client.Send(envelope);
}

inline Status AckDelivery(SyncClient& client, const wire::Delivery& delivery) {
  return AckDeliveries(client, delivery.queue(), {delivery.delivery_id()});
}

// The broker's statistics as the default operator, or the error.
inline Result<wire::Stats> OperatorStats(SyncClient& operator_client, int timeout_ms = 5000) {
  auto answer = operator_client.CallOk(StatsRequest(), timeout_ms);
  if (!answer.ok()) return answer.status();
  if (!answer->has_stats()) return Status(wire::INTERNAL, "GetStats answered " + BodyName(*answer));
  return answer->stats();
}

// The statistics of one queue (all zero when the broker does not list it).
inline wire::QueueStats QueueStatsOf(const wire::Stats& stats, const std::string& queue) {
  for (const auto& q : stats.queues()) {
    if (q.queue() == queue) return q;
  }
  wire::QueueStats none;
  none.set_queue(queue);
  return none;
}

// The case as `client`'s principal sees it, or the error.
inline Result<wire::CaseView> GetCaseView(SyncClient& client, const std::string& case_id,
                                          int timeout_ms = 5000) {
  auto answer = client.CallOk(GetCaseRequest(case_id), timeout_ms);
  if (!answer.ok()) return answer.status();
  if (!answer->has_case_view()) {
    return Status(wire::INTERNAL, "GetCase answered " + BodyName(*answer));
  }
  return answer->case_view();
}

// Every case id of the contact point of `agent_client`'s session, by paging ListCases.
inline Result<std::set<std::string>> ListAllCaseIds(SyncClient& agent_client) {
  std::set<std::string> ids;
  std::string after;
  while (true) {
    wire::Envelope request;
    request.mutable_list_cases()->set_limit(1000);
    request.mutable_list_cases()->set_after_case_id(after);
    auto answer = agent_client.CallOk(request, 10000);
    if (!answer.ok()) return answer.status();
    const auto& cases = answer->case_list().cases();
    if (cases.empty()) return ids;
    for (const auto& summary : cases) {
      if (!ids.insert(summary.case_id()).second) {
        return Status(wire::INTERNAL, "ListCases returned " + summary.case_id() + " twice");
      }
    }
    after = cases[cases.size() - 1].case_id();
  }
}

// Empty when the timeline is a legal story consistent with the summary; otherwise what is
// wrong. Legal: numbered 0, 1, 2...; starts with SUBMITTED; each lifecycle event is a transition
// the lifecycle table allows; DEAD_LETTERED (until a REQUEUED) keeps the state and matches
// summary.dead_lettered;
// the last state_after is the summary's state.
inline std::string TimelineProblem(const wire::CaseView& view) {
  const auto& timeline = view.timeline();
  const auto& summary = view.summary();
  std::string id = summary.case_id() + ": ";
  if (timeline.empty()) return id + "empty timeline";
  if (timeline[0].kind() != "SUBMITTED" || timeline[0].state_after() != wire::SUBMITTED) {
    return id + "timeline starts with " + timeline[0].kind();
  }
  wire::CaseState state = wire::SUBMITTED;
  bool dead_lettered = false;
  for (int i = 0; i < timeline.size(); ++i) {
    const auto& event = timeline[i];
    if (event.sequence() != static_cast<uint32_t>(i)) {
      return id + "event " + std::to_string(i) + " has sequence " + std::to_string(event.sequence());
    }
    if (i == 0) continue;
    wire::CaseState named_state = wire::STATE_UNSPECIFIED;
    bool names_a_state = wire::CaseState_Parse(event.kind(), &named_state);
    if (!names_a_state) {
      // A note that changes no state (DEAD_LETTERED, and whatever the SLA engine records).
      if (event.kind() == "DEAD_LETTERED") dead_lettered = true;
      if (event.kind() == "REQUEUED") dead_lettered = false;  // an operator put it back
      if (event.state_after() != state) return id + event.kind() + " changed the state";
      continue;
    }
    std::optional<CaseEvent> lifecycle_event;
    if (event.kind() == "DELIVERED") lifecycle_event = CaseEvent::kDeliver;
    if (event.kind() == "ACKNOWLEDGED") lifecycle_event = CaseEvent::kAcknowledge;
    if (event.kind() == "ANSWERED") lifecycle_event = CaseEvent::kReply;
    if (event.kind() == "CLOSED") lifecycle_event = CaseEvent::kClose;
    if (event.kind() == "CANCELLED") lifecycle_event = CaseEvent::kCancel;
    if (!lifecycle_event) {
      // A state this helper does not model (INFO_REQUESTED, TRANSFERRED...): at least the
      // event must say where it led.
      if (event.state_after() != named_state) return id + event.kind() + " led elsewhere";
      state = named_state;
      continue;
    }
    auto next = NextState(state, *lifecycle_event);
    // ACKNOWLEDGED also ends a question (ANSWER_INFO leads there from INFO_REQUESTED).
    if (event.kind() == "ACKNOWLEDGED" && !next.ok()) next = NextState(state, CaseEvent::kAnswerInfo);
    if (!next.ok() || *next != event.state_after()) {
      return id + "illegal transition " + wire::CaseState_Name(state) + " --" + event.kind() +
             "--> " + wire::CaseState_Name(event.state_after());
    }
    state = *next;
  }
  if (state != summary.state()) {
    return id + "timeline ends in " + wire::CaseState_Name(state) + " but the summary says " +
           wire::CaseState_Name(summary.state());
  }
  if (dead_lettered != summary.dead_lettered()) {
    return id + "summary.dead_lettered disagrees with the timeline";
  }
  return "";
}

}  // namespace aplus::testing
