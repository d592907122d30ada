// The partner gateway: runs at a partner (e.g. France Travail), takes the escalations the
// broker delivers to the partner's queues, stores them durably (and spools them as JSON files
// when asked) BEFORE acknowledging them, serves them to the partner's systems on a local
// endpoint, and forwards the partner's acknowledgements, replies, questions and transfers to
// the broker in order.
//
// Deliveries understood (stored durably, then acknowledged; a redelivery is acknowledged
// again without being applied twice): escalations; SLA alerts (WARNING / BREACH reminders:
// summary.warned / breached and an event on the case, plus <case>.alert-<kind>.json in the
// spool); NOTICE mail items (the contact point's answer to a question: the case leaves
// INFO_REQUESTED, the answer is an INFO_ANSWERED event). Anything else is logged and left
// unacknowledged, so that the broker dead-letters it rather than lose it.
//
// Local endpoint (ROUTER, the same Envelope as everywhere, no Hello: it is the partner's own
// machine):
//   GetInbox{limit}      -> Inbox: the last `limit` stored escalations, newest last, with the
//                           gateway's state of each (limit 0 = 100; at most 1000)
//   GetCase{case_id}     -> CaseView of a stored escalation, or Error UNKNOWN_CASE
//   AcknowledgeCase      -> CaseUpdated (the broker's answer) or Error; CaseUpdated{queued_locally}
//   ReplyCase               when the broker has not answered within the forward timeout.
//   AskInfo                 UNKNOWN_CASE when the case is not in the inbox (or was transferred
//   TransferCase            away), INVALID_ARGUMENT for an empty reply, question, reason or
//                           target partner (or a transfer to itself); neither reaches the
//                           broker. A confirmed transfer erases the case's content here.
//   RetryLocal{ref}      -> LocalEntry: a FAILED_LOCALLY outbox entry goes back in line
//   DiscardLocal{ref}       (retry) or is dropped for good (discard); UNKNOWN_CASE for an
//                           unknown ref. GetInbox's Inbox.outbox lists the outbox entries.
//   ListWebhooks         -> WebhookList: the webhooks and every attempt (UNAVAILABLE without
//                           --webhook-url)
//   RedeliverWebhooks    -> WebhooksRedelivered: one webhook, or every failed one, back in line
//   Ping                 -> Pong
//   anything else        -> Error UNKNOWN_MESSAGE; an undecodable frame -> Error MALFORMED
//                           (or TOO_LARGE)
//
// Outbox: gateway/durable_forwarder.h (transient refusals retried with backoff, permanent ones
// set aside as FAILED_LOCALLY once the client left). Fail-stop (common/fail_stop.h): a failed
// write to the outbox or the inbox (deliveries, notices, answers, erasures) stops the gateway
// without acknowledging anything more; main exits with status 75.
//
// Retention (partner_gateway_retention.cc): the inbox copy of a case loses its personal data
// `options.retention.personal_data_after` after the partner's reply was accepted by the broker
// (see partner_inbox.h: the gateway never learns when the contact point closes the case), and
// the case's spool files still there (<case id>.json, <case id>.alert-*.json) are removed at
// the same time. The gateway sweeps at start-up and then every RetentionSweepIntervalMs; after
// a sweep that erased something, a PurgeCompactor flushes and compacts the database (at most
// once per `compaction_interval`, off the loop thread), the outbox family with the inbox (it
// held the replies and questions before they were forwarded), so that the overwritten values
// leave the files. A compaction owed when the process stopped runs at the next start.
//
// Metrics: GET /metrics on the HTTP API listener (gateway/gateway_metrics.h: commits, outbox,
// HTTP requests; gateway/webhook_metrics.h: webhook outcomes, failing and pending webhooks).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/broker_link.h"
#include "common/clock.h"
#include "common/fail_stop.h"
#include "common/status.h"
#include "gateway/event_feed.h"
#include "gateway/gateway_metrics.h"
#include "gateway/webhook_metrics.h"
#include "http/http_front_door.h"
#include "gateway/local_client.h"
#include "gateway/webhook_sender.h"
#include "partner-gateway/partner_http_backend.h"
#include "partner-gateway/partner_gateway_options.h"
#include "partner-gateway/partner_inbox.h"
#include "partner-gateway/request_forwarder.h"
#include "partner-gateway/spool_writer.h"
#include "gateway/group_commit.h"
#include "gateway/retention_sweeper.h"
#include "store/rocks_db.h"

namespace aplus {

inline constexpr const char* kPartnerMetaFamily = "meta";
inline constexpr uint32_t kDefaultInboxLimit = 100;
inline constexpr uint32_t kMaxInboxLimit = 1000;

// What tests and logs read; written by the loop thread only.
struct PartnerGatewayCounters {
  std::atomic<uint64_t> deliveries_stored{0};
  std::atomic<uint64_t> notices_stored{0};  // SLA alerts and NOTICE mail items
  std::atomic<uint64_t> duplicate_deliveries{0};
  std::atomic<uint64_t> deliveries_acked{0};
  std::atomic<uint64_t> requests_queued{0};
  std::atomic<uint64_t> errors_answered{0};
  std::atomic<uint64_t> cases_erased{0};  // retention erasures of inbox copies
};

// Thread rules: Open on any thread, then Run on exactly one thread (the loop owns every
// socket and the database from then on). `stop` may be set from any thread or a signal
// handler; Run returns within about 100 ms.
class PartnerGateway : public PartnerHttpBackend {
 public:
  // Opens the database in options.data_dir (which must exist), binds the local endpoint and
  // starts connecting to the broker. UNAVAILABLE when the database cannot be opened or holds
  // another partner's data, INVALID_ARGUMENT when the endpoint cannot be bound.
  // `context` and `clock` must outlive the gateway.
  static Result<std::unique_ptr<PartnerGateway>> Open(zmq::context_t& context,
                                                      PartnerGatewayOptions options,
                                                      const Clock& clock);
  ~PartnerGateway();
  PartnerGateway(const PartnerGateway&) = delete;
  PartnerGateway& operator=(const PartnerGateway&) = delete;

  // The bound local endpoint (the real port when the option asked for "*").
  const std::string& local_endpoint() const { return local_endpoint_; }
  const PartnerGatewayCounters& counters() const { return counters_; }
  // The HTTP API's port (0 when it is off) and scheme.
  uint16_t http_port() const { return front_door_ ? front_door_->port() : 0; }
  bool http_tls() const { return front_door_ && front_door_->tls(); }
  std::string http_url() const { return front_door_ ? front_door_->Url() : ""; }

  // PartnerHttpBackend (loop thread).
  void Serve(wire::Envelope request, LocalClient client) override;
  Result<PartnerInbox::Page> ListInbox(uint64_t after, size_t limit,
                                       std::optional<wire::CaseState> state) override;
  EventFeed& feed() override { return *feed_; }

  // Serves until `stop` becomes true or a durable write fails (see durability_lost()).
  void Run(const std::atomic<bool>& stop);
  // Not OK once a write to the outbox or the inbox failed (common/fail_stop.h): nothing was
  // acknowledged after it; main exits with kExitDurabilityLost.
  const Status& durability_lost() const { return fail_stop_.status(); }

 private:
  PartnerGateway(zmq::context_t& context, PartnerGatewayOptions options, const Clock& clock);
  Status Init();

  void OnLocalReadable();
  // After a fail-stop trip: answers what is queued and what still arrives, for
  // kFailStopDrainMs, so that no client is left without an answer when the process exits.
  void DrainAfterFailStop();
  void HandleLocal(LocalClient client, const zmq::message_t& payload);
  wire::Envelope HandleGetInbox(const wire::GetInbox& request);
  wire::Envelope HandleGetCase(const wire::GetCase& request);
  // ListWebhooks / RedeliverWebhooks (`aplus partner webhooks`).
  wire::Envelope HandleWebhooks(const wire::Envelope& request);
  // RetryLocal / DiscardLocal of a FAILED_LOCALLY outbox entry: LocalEntry or an Error.
  wire::Envelope HandleLocalEntry(const wire::Envelope& request);
  // The next "LOC-<n>" of this gateway's outbox entries (a counter in the meta family): its new
  // value is put in `batch`, written with the outbox entry (a failed write trips the
  // fail-stop, so a number is never handed out twice). Read from the store once, then kept in
  // next_local_ref_ (loop thread only).
  Result<std::string> AllocateLocalRef(rocksdb::WriteBatch& batch);
  // The fields every forwarded request has, inside `request`.
  struct MutationFields {
    std::string* case_id;
    std::string* idempotency_key;
  };
  void HandleMutation(LocalClient client, wire::Envelope&& request);
  static MutationFields FieldsOf(wire::Envelope& request);
  // INVALID_ARGUMENT for what the broker would refuse anyway (empty text, question, reason or
  // target partner; a transfer to this partner itself).
  Status CheckArguments(const wire::Envelope& request) const;
  // The answer goes to client.answer when set (HTTP), else on the ROUTER; with the client's
  // request id.
  void SendLocal(const LocalClient& client, wire::Envelope answer);

  void ProcessDeliveries();
  // Stores (and spools) a notice or alert delivery; true when it may be acknowledged.
  bool StoreNotice(const wire::Delivery& delivery);
  std::string NewIdempotencyKey();
  // Retention: StartRetention once the inbox exists; SweepRetention every loop turn (it
  // returns at once unless a sweep is due).
  Status StartRetention();
  void SweepRetention();
  // Removes the feed events and past webhooks older than the feed's retention.
  // Removes feed events and past webhooks older than 7 days (at most personal_data_after);
  // returns how many (they are then compacted away).
  size_t TrimFeed();
  // Removes the spool files of `due` cases, erases their personal data in the inbox and asks
  // for a compaction. False when the erasure could not be written (they stay due).
  bool EraseCases(std::vector<PartnerInbox::Due> due,
                  const PartnerInbox::BatchExtra& extra = nullptr);
  // The partner's feed: adds `event` (a FeedEvent without cursor and at) at `at_ms` to `batch`, and its webhook
  // when webhooks are on, so that both are durable with what they report. After the batch is
  // written, EventsPublished() answers the long polls and wakes the webhook sender.
  void AppendEvent(rocksdb::WriteBatch& batch, const nlohmann::json& event, int64_t at_ms);
  void EventsPublished();
  // The id of this database's webhooks ("msg_<instance>_<sequence>"): a random instance id
  // drawn once per database, so that ids never repeat for the receiver, also when a partner
  // starts over with a new data directory.
  Status LoadInstanceId();
  // The broker's ERASE_PERSONAL_DATA notice: the case's copy is erased now. True once done
  // (or nothing was here), so that the notice may be acknowledged.
  bool EraseOnNotice(const std::string& case_id);

  zmq::context_t& context_;
  const PartnerGatewayOptions options_;
  const Clock& clock_;
  std::string local_endpoint_;
  PartnerGatewayCounters counters_;
  FailStop fail_stop_;
  // GET /metrics (gateway/gateway_metrics.h, gateway/webhook_metrics.h); before everything
  // that reports to them (group commit, webhook sender, front door): destroyed after them.
  GatewayMetrics metrics_;
  WebhookMetrics webhook_metrics_;

  std::unique_ptr<RocksDb> db_;
  std::unique_ptr<GroupCommit> commit_;  // one fsync per loop turn
  std::unique_ptr<PartnerInbox> inbox_;
  std::unique_ptr<RetentionSweeper> retention_sweeper_;  // uses the database: destroyed before it
  std::unique_ptr<SpoolWriter> spool_;  // null without --spool-dir
  std::unique_ptr<zmq::socket_t> local_;
  std::unique_ptr<BrokerLink> link_;
  std::unique_ptr<RequestForwarder> forwarder_;
  // Deliveries received during the current loop turn, stored and acked together.
  std::vector<wire::Delivery> arrived_;
  uint64_t key_counter_ = 0;
  uint64_t next_local_ref_ = 0;  // AllocateLocalRef; 0: not read from the store yet
  std::string key_prefix_;
  std::string instance_id_;
  std::unique_ptr<EventFeed> feed_;
  std::atomic<bool> webhook_record_failed_{false};  // set by the sender's thread
  std::unique_ptr<WebhookSender> webhooks_;        // null without --webhook-url
  std::unique_ptr<HttpFrontDoor> front_door_;      // null with --http-listen off; last: its
                                                   // routes use the members above
};

}  // namespace aplus
