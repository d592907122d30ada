// The agent gateway of one contact point: the contact point's software talks to it on a
// local ROUTER (the Envelope protocol, no Hello); it keeps a durable outbox of the requests it
// accepted and forwards them in order to the broker over a BrokerLink, answers from its local
// cache while the broker is unreachable, and stores the mail the broker delivers for the
// contact point before acknowledging it.
//
// Local requests served (see proto/aplus.proto): Submit, CloseCase, CancelCase, AnswerInfo
// (through the outbox, gateway/durable_forwarder.h: answered with the broker's answer if it
// comes within forward_timeout_ms, else with QUEUED_LOCALLY / queued_locally; a request the
// broker then refuses for good is set aside as FAILED_LOCALLY), RetryLocal / DiscardLocal
// (LocalEntry: a FAILED_LOCALLY entry back in line, or dropped), GetCase (case id or local
// ref; a submission still in the outbox shows as QUEUED_LOCALLY or FAILED_LOCALLY with its
// error), ListCases (first page: also the outbox's submissions, and its other entries in
// CaseList.local_entries), GetAudit (forwarded; the broker's answer, or UNREACHABLE: the audit
// log lives at the broker only), Ping.
//
// Answers always come: a forwarded read waits for the broker at most min(forward_timeout_ms,
// 3 s), below the command line's 5 s; then the client gets the gateway's own view marked
// from_local_cache (a CaseList body even when empty) or a typed error.
//
// Fail-stop (common/fail_stop.h): a failed write to the outbox, the cache or the mailbox
// stops the gateway without acknowledging anything more; main exits with status 75.
//
// Deliveries stored, then acknowledged: mail items (ACKNOWLEDGED, REPLY, INFO_REQUESTED with
// the partner's question, TRANSFERRED with the new partner, NOTICE) and SLA alerts (WARNING /
// BREACH about one of the contact point's cases). The local cache follows them, so GetCase
// answers from it while the broker is unreachable. Anything else stays unacknowledged.
//
// Retention: the cache's copies of ended cases lose their personal data the network's
// `[retention] personal_data_after` after the case was closed or cancelled, like the broker's
// (see local_case_cache.h). The gateway sweeps at start-up and then every
// RetentionSweepIntervalMs; after a sweep that erased something, a PurgeCompactor flushes and
// compacts the database (gateway/retention_sweeper.h, shared with the partner gateway) so that
// the overwritten values leave the files; the outbox family is compacted with them, for the
// submissions and answers it held. A compaction owed when the process stopped runs at the
// next start.
//
// Metrics: GET /metrics on the HTTP API listener (gateway/gateway_metrics.h: commits, outbox,
// HTTP requests), plus aplus_submit_durable_seconds: from a submission's receipt to its Accepted
// answer leaving after the group commit (the broker's, or QUEUED_LOCALLY after the forward
// timeout: both are durable accepts); refusals are not observed.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "agent-gateway/agent_gateway_options.h"
#include "agent-gateway/local_case_cache.h"
#include "aplus.pb.h"
#include "common/broker_link.h"
#include "common/clock.h"
#include "common/fail_stop.h"
#include "common/network_config.h"
#include "common/status.h"
#include "gateway/durable_forwarder.h"
#include "gateway/group_commit.h"
#include "gateway/retention_sweeper.h"
#include "gateway/event_feed.h"
#include "gateway/gateway_metrics.h"
#include "http/http_front_door.h"
#include "gateway/local_client.h"
#include "store/rocks_db.h"

namespace aplus {

// Thread rules: Open on any thread; Run on one thread, which then owns everything. The only
// thing another thread may touch is the stop flag given to Run.
class AgentGateway {
 public:
  // Opens the database in options.data_dir (which must exist), binds the local endpoint and
  // starts connecting to the broker. `config` supplies defaults (max frame size) and is not
  // kept. Returns UNAVAILABLE
  // when the database cannot be opened or the endpoint cannot be bound.
  static Result<std::unique_ptr<AgentGateway>> Open(AgentGatewayOptions options,
                                                    const NetworkConfig& config);
  ~AgentGateway();
  AgentGateway(const AgentGateway&) = delete;
  AgentGateway& operator=(const AgentGateway&) = delete;

  // The endpoint actually bound (the port filled in when the options said "*").
  const std::string& bound_endpoint() const { return bound_endpoint_; }
  // "http://127.0.0.1:7411" (https when TLS) when the HTTP API listens, else "".
  std::string http_url() const;

  // Serves until `stop` becomes true (checked at least every 100 ms) or a durable write fails
  // (see durability_lost()), then returns. Open requests still waiting are dropped
  // unanswered; the outbox keeps every accepted request.
  void Run(const std::atomic<bool>& stop);
  // Not OK once a write to the outbox, the cache or the mailbox failed (common/fail_stop.h):
  // nothing was acknowledged after it; main exits with kExitDurabilityLost.
  const Status& durability_lost() const { return fail_stop_.status(); }

 private:
  // Where to send an answer: the ROUTER, or the HTTP front door's callback.
  using Client = LocalClient;
  // Extra writes for the batch of an enqueued entry, given the entry's local ref.
  using AlsoWrite = std::function<void(rocksdb::WriteBatch& batch, const std::string& local_ref)>;
  AgentGateway(AgentGatewayOptions options, RetentionSettings retention);

  void DrainLocal();
  // After a fail-stop trip: answers what is queued and what still arrives, for
  // kFailStopDrainMs, so that no client is left without an answer when the process exits.
  void DrainAfterFailStop();
  void HandleLocal(Client client, wire::Envelope&& request);
  void HandleSubmit(Client client, wire::Submit&& submit, AlsoWrite also = nullptr);
  void HandleCaseMutation(Client client, wire::Envelope&& request);
  void Enqueue(Client client, wire::Envelope&& request, AlsoWrite also = nullptr);
  void HandleGetCase(Client client, const std::string& id);
  void HandleListCases(Client client, const wire::ListCases& list);
  void HandleGetAudit(Client client, const std::string& id);
  void HandleExplainDeadline(Client client, wire::ExplainDeadline&& explain);

  // The HTTP API (agent_http_routes.cc): the route table, one handler per operation of
  // docs/openapi.yaml served by the agent gateway. Each builds the wire request and hands it to
  // HandleLocal with a Client whose `answer` renders the answer Envelope as JSON.
  std::vector<HttpRoute> HttpRoutes();
  void HttpSubmit(HttpCall&& call);
  void HttpGetCase(HttpCall&& call);
  void HttpListCases(HttpCall&& call);
  void HttpCaseMutation(HttpCall&& call, wire::Envelope::BodyCase body);
  void HttpGetAudit(HttpCall&& call);
  void HttpEvents(HttpCall&& call);
  // Runs `next` when the call's token may see case `id` (at once for a token of every agent;
  // after a GetCase for an agent-restricted one), else answers 404 UNKNOWN_CASE.
  void IfVisible(HttpCall&& call, const std::string& id, std::function<void(HttpCall&&)> next);
  void HttpExplainDeadline(HttpCall&& call);
  // Whether `call`'s token may see the case of `agent` (an agent-restricted token: its agents).
  static bool MaySee(const HttpCall& call, const std::string& agent);
  // Answers a retried POST /v1/cases from the Idempotency-Key index: the case (201), the held
  // submission (202) or the refusal.
  void AnswerKnownSubmission(http::Responder responder, const std::string& local_ref);
  // RetryLocal / DiscardLocal of a FAILED_LOCALLY outbox entry: answered by LocalEntry.
  void HandleLocalEntry(Client client, wire::Envelope&& request);
  // Called with the broker's answer (or UNREACHABLE) to a forwarded read.
  void AnswerGetCase(const Client& client, const std::string& case_id, const std::string& local_ref,
                     const Result<wire::Envelope>& answer);
  void AnswerListCases(const Client& client, const wire::ListCases& list,
                       const Result<wire::Envelope>& answer);
  // Answers now, or after the turn's group commit inside a turn.
  void Reply(const Client& client, wire::Envelope answer);
  void SendReply(const Client& client, wire::Envelope answer);
  void ReplyError(const Client& client, const Status& status);
  // New feed events are in this turn's writes: wakes the long polls once they are durable.
  void EventsPublished();

  Result<wire::Envelope> PrepareForBroker(const records::OutboxEntry& entry);
  wire::Envelope OnFinalAnswer(uint64_t sequence, const records::OutboxEntry& entry,
                               const wire::Envelope& answer);
  wire::Envelope QueuedAnswer(const records::OutboxEntry& entry) const;
  // Outbox entries that are not submissions (close, cancel, answer), for CaseList.
  void AddLocalEntries(wire::CaseList& list) const;
  void FlushDeliveries();
  // The event feed's item for a new mailbox item, without "at" (nullopt: none, e.g. a NOTICE).
  // It carries "agent" for the filters of agent-restricted tokens; pages drop it.
  static std::optional<nlohmann::json> FeedEventOf(const wire::Delivery& delivery,
                                                   const wire::CaseView& view);
  int PollTimeoutMs() const;
  // How long a forwarded read waits for the broker: forward_timeout_ms, at most 3 s.
  int ReadTimeoutMs() const;
  std::string NewIdempotencyKey();
  // Retention (agent_gateway_retention.cc): StartRetention once the cache exists; then
  // SweepRetention every loop turn (it returns at once unless a sweep is due).
  Status StartRetention();
  void SweepRetention();

  wire::CaseView QueuedView(const records::OutboxEntry& entry) const;
  std::vector<wire::CaseSummary> QueuedSummaries() const;

  // Constant after construction.
  const AgentGatewayOptions options_;
  const RetentionSettings retention_;
  SystemClock clock_;
  FailStop fail_stop_;
  // GET /metrics (gateway/gateway_metrics.h) and aplus_submit_durable_seconds; before
  // everything that reports to it (the group commit, the front door), so destroyed after them.
  GatewayMetrics metrics_;
  prometheus::Histogram& submit_durable_seconds_;

  // Declaration order is destruction order in reverse: sockets before the context, the
  // forwarder (which uses the link and the database) before both.
  zmq::context_t context_;
  std::unique_ptr<RocksDb> db_;
  std::unique_ptr<GroupCommit> commit_;  // one fsync per loop turn
  std::unique_ptr<LocalCaseCache> cache_;
  std::unique_ptr<RetentionSweeper> retention_sweeper_;  // uses the database: destroyed before it
  std::unique_ptr<zmq::socket_t> local_;
  std::string bound_endpoint_;
  std::unique_ptr<BrokerLink> link_;
  std::unique_ptr<DurableForwarder> forwarder_;
  std::unique_ptr<EventFeed> feed_;      // GET /v1/events: the mailbox as a feed
  std::unique_ptr<HttpFrontDoor> http_;  // null when the HTTP API is off
  rocksdb::ColumnFamilyHandle* idempotency_family_ = nullptr;

  // Loop state.
  std::vector<wire::Delivery> pending_deliveries_;  // received this turn, not yet stored
  std::mt19937_64 random_;
};

}  // namespace aplus
