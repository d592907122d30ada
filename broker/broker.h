// The central broker: one ROUTER socket, one owner thread, one RocksDB.
//
// Each turn of the loop drains what has arrived (up to max_batch_messages), applies every
// request to one pending WriteBatch, commits it with sync = true (group commit), and only then
// sends the answers and the deliveries. Nothing is acknowledged before its batch is on disk.
// A batch that answers nobody (only DeliveryAcks, which have no answer) is not committed on its
// own: it waits up to 5 ms for the next batch that answers someone, or an idle turn, so that
// at a light load an escalation costs one fsync (its submission's), not two (issue 11).
//
// Fail-stop on a failed write (as PostgreSQL since "fsyncgate"): a failed commit is never
// retried (after a failed fsync the kernel may have dropped the dirty pages, so a retry that
// "succeeds" proves nothing). The answers of that batch that needed the commit go out as
// UNAVAILABLE (gateways retry them), nothing more is acknowledged, delivered or published, the
// broker logs CRITICAL and Run() returns at once with the error: main exits with
// kExitDurabilityLost (75) and the supervisor restarts it, RocksDB recovering from its log.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "aplus.pb.h"
#include "broker/broker_metrics.h"
#include "broker/broker_options.h"
#include "broker/case_lifecycle.h"
#include "broker/sla_clock.h"
#include "broker/queue_state.h"
#include "broker/rate_limiter.h"
#include "broker/replication_leader.h"
#include "broker/request_table.h"
#include "broker/session.h"
#include "broker/zap_authenticator.h"
#include "common/clock.h"
#include "common/network_config.h"
#include "common/progress_log.h"
#include "common/status.h"
#include "store/broker_store.h"
#include "store/case_scanner.h"
#include "store/purge_compactor.h"

namespace aplus {

class HttpFrontDoor;
struct HttpCall;
struct HttpRoute;

// Counters read by `aplus stats`, tests and the benchmark.
struct BrokerCounters {
  uint64_t batches_committed = 0;
  uint64_t messages_committed = 0;
  uint64_t errors_answered = 0;
  uint64_t deliveries_sent = 0;
  uint64_t redeliveries = 0;
};

// Thread rules: constructed on any thread, then Run() owns every member on its thread until it
// returns; Stop() may be called from any thread (or a signal handler via the flag).
class Broker {
 public:
  // Opens the store and binds the socket. Errors are start-up errors (bad endpoint, unusable
  // data directory) with a readable message.
  static Result<std::unique_ptr<Broker>> Create(const NetworkConfig& config, BrokerOptions options,
                                                zmq::context_t& context, const Clock& clock);
  ~Broker();

  // The endpoints actually bound (a "*" port resolved).
  const std::string& endpoint() const { return endpoint_; }
  const std::string& alerts_endpoint() const { return alerts_endpoint_; }
  const std::string& instance_id() const { return instance_id_; }
  // The HTTP listener's base URL ("http://127.0.0.1:7402"), or "" with --http-listen off.
  std::string http_url() const;

  // Fault injection: the next commit fails as a failed fsync would. Any thread may call it.
  void FailNextCommitForTest() { store_->db().FailNextWriteForTest(); }
  // Reads of every case waiting for the next walk (the ones waiting share it): room for the
  // console's reports page (a report per week of up to 53 weeks, and two more) and a few more.
  static constexpr size_t kMaxWaitingCaseScans = 64;
  // Tests: hold (or release) the reads of every case before they start (store/case_scanner.h).
  void HoldCaseScansForTest(bool held) { case_scanner_->HoldForTest(held); }

  // Serves until `stop` becomes true (returns OK) or a commit fails (returns the UNAVAILABLE
  // status of the failure, promptly: within the turn that failed). After a non-OK return the
  // broker must not serve again: destroy it and exit with kExitDurabilityLost.
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);

 private:
  // The table of requests names the handlers below.
  friend std::span<const RequestRule> RequestRules();

  Broker(const NetworkConfig& config, BrokerOptions options, zmq::context_t& context,
         const Clock& clock, std::unique_ptr<BrokerStore> store);
  // Start-up: the queues' in-memory state from the store. An unreadable store is an error.
  Status RebuildQueues();

  // One turn: receive, apply, commit, answer, deliver.
  void Turn(int timeout_ms);
  void HandleFrame(std::string routing_id, const zmq::message_t& payload, bool extra_frames);
  // Applies the request's row of the table (request_table.h): rate limit, session, role, then
  // its handler. `key` is the keyring entry of the connection (nullptr under --insecure).
  void Dispatch(Session* session, const std::string& routing_id, wire::Envelope& request,
                const KeyringEntry* key, int fd);
  // The acting identity of a session request (the one place a console's requests are
  // resolved; proto Role.CONSOLE): nullopt = the session acts as itself; for a console
  // session, its view as the [[operators]] person named by on_behalf_of (Session::ActingFor).
  // PERMISSION_DENIED for a console request naming nobody, or nobody of the config;
  // INVALID_ARGUMENT for on_behalf_of from any other role.
  Result<std::optional<Session>> ActingIdentity(const Session& session,
                                                const wire::Envelope& request) const;

  // Metrics and health over HTTP (broker_http.cc).
  // Starts the front door when options_.http_listen is set; its errors are start-up errors.
  Status StartHttp();
  std::vector<HttpRoute> HttpRoutes();
  void ServeMetrics(HttpCall&& call);
  void ServeHealth(HttpCall&& call);
  // The broker's figures, for GetStats and (as gauges) for /metrics: one source for both.
  // Counters kept as the broker goes, never a scan of the store: a scrape runs on the loop.
  void FillStats(wire::Stats& stats) const;

  // Security (broker_security.cc).
  Status SetUpCurve();
  // Re-reads the keyring when it changed and cuts the connections of revoked keys: their
  // sessions on the request socket and their subscriptions to the alert stream.
  void ApplyKeyringChanges();
  // Drops the sessions whose connection ended (events of the request socket's monitor).
  void ReadConnectionEvents();
  // Reads the subscription messages of the alert socket (an XPUB) and remembers each
  // subscriber connection's key, so that revoking the key cuts its alert stream too.
  void ReadAlertSubscriptions();
  // Shuts the TCP connection down under libzmq (which then drops it); `expected_peer`, when
  // given, guards against a descriptor reused by another connection meanwhile.
  static void CutConnection(int fd, const std::string& expected_peer);
  static std::string PeerOf(int fd);

  // Request handlers, named by the table of requests (request_table.cc), which has checked the
  // session's role already: each appends writes to the store's batch and one answer to
  // answers_ (Answer(routing_id, envelope): whether it waits for the commit is the row's).
  void OnHello(const std::string& routing_id, const wire::Envelope& request,
               const KeyringEntry* key, int fd);
  void OnPing(const std::string& routing_id, const wire::Envelope& request,
              const KeyringEntry* key, int fd);
  void OnSubmit(Session& session, const wire::Envelope& request);
  void OnGetCase(Session& session, const wire::Envelope& request);
  void OnListCases(Session& session, const wire::Envelope& request);
  void OnCloseOrCancel(Session& session, const wire::Envelope& request);
  void OnAcknowledgeOrReply(Session& session, const wire::Envelope& request);
  void OnSubscribe(Session& session, const wire::Envelope& request);
  void OnDeliveryAck(Session& session, const wire::Envelope& request);
  void OnGetStats(Session& session, const wire::Envelope& request);
  void OnAskInfo(Session& session, const wire::Envelope& request);
  void OnAnswerInfo(Session& session, const wire::Envelope& request);
  void OnTransfer(Session& session, const wire::Envelope& request);
  void OnListAlerts(Session& session, const wire::Envelope& request);
  void OnAckAlert(Session& session, const wire::Envelope& request);
  void OnGetReport(Session& session, const wire::Envelope& request);
  void OnGetSlaBoard(Session& session, const wire::Envelope& request);
  // Reads every committed case with `visit` off the loop (store/case_scanner.h; `visit` runs
  // on the scanner's thread: it may touch only what it owns and immutable state), then, at a
  // later turn, answers `request` with what `finish` builds, or with the error of the read or
  // of `finish`. RATE_LIMITED at once when kMaxWaitingCaseScans reads wait already. The answer
  // goes only to the session that asked (same connection, same key), and only while this
  // broker acknowledges (a pair's leader with its standby's copy: the walk may have read
  // batches written, not yet copied, when it started). `after_walk`, if set, runs on the
  // scanner's thread once the walk is complete (the heavy part of building the answer: sorts).
  void ScanCases(const Session& session, const wire::Envelope& request,
                 std::function<bool(const records::CaseRecord&)> visit,
                 std::function<Status(wire::Envelope& answer)> finish,
                 std::function<void()> after_walk = {});
  // What a pair's leader without a standby copy answers (CanAcknowledge() false).
  Status NoStandbyCopy() const;
  void OnExplainDeadline(Session& session, const wire::Envelope& request);
  void OnGetAudit(Session& session, const wire::Envelope& request);
  // Dead letters (broker_dead_letters.cc): operators and administrators (table of requests).
  void OnListDeadLetters(Session& session, const wire::Envelope& request);
  void OnRequeueDeadLetters(Session& session, const wire::Envelope& request);
  // Answers a retried mutating request with its first outcome; true when it did. The dedup
  // key is the request's row's scope, case id and idempotency key (IdempotencyScopeOf).
  bool AnswerFromDedup(Session& session, const wire::Envelope& request);
  void RememberOutcome(Session& session, const wire::Envelope& request,
                       const records::CaseRecord& record);
  void AnswerCaseUpdated(Session& session, const wire::Envelope& request,
                         const records::CaseRecord& record);

  // SLA timers (broker_sla.cc).
  // Recomputes the deadline of the case's current window and replaces its timers.
  // `computed`, when given, is the explanation of the record's current window already at hand.
  Status RescheduleSla(records::CaseRecord& record,
                       const sla::DeadlineExplanation* computed = nullptr);
  // Removes the case's pending timer (reply, cancel, pause): one per case, the warning's until
  // the warning is raised, then the breach's.
  void ClearTimers(const records::CaseRecord& record);
  // Puts the case's next SLA timer under its deadline generation (the warning's, or the
  // breach's once warned; none once breached) and lowers next_due_ms_ to it.
  void PutNextSlaTimer(const records::CaseRecord& record);
  // Stores `timer` (SLA or purge) and lowers next_due_ms_ to its due time: the one way a timer
  // is added, so that the loop always wakes for the earliest.
  void PutTimer(const BrokerStore::Timer& timer);
  // The partner replied: timers go, an open pause ends now, the deadline takes every pause into
  // account, and answered_at / late_by are set against it.
  void StopClockAtReply(records::CaseRecord& record);
  void OpenPause(records::CaseRecord& record);
  void ClosePause(records::CaseRecord& record);
  void FireDueTimers();
  void RaiseAlert(records::CaseRecord& record, wire::Alert::Kind kind);
  void PublishAlerts();

  // Audit log (broker_audit.cc). Appends one entry about `case_id` to the pending batch, so
  // it commits with the effect it records. `detail` never holds personal data.
  void Audit(const Session& session, const std::string& case_id, const std::string& action,
             const std::string& detail);
  void AuditAs(wire::Role role, const std::string& principal, const std::string& case_id,
               const std::string& action, const std::string& detail);

  // Retention (broker_retention.cc).
  // Start-up: a compaction owed by a purge pass before a crash is asked for again.
  void StartRetention();
  // The case just ended (closed or cancelled): dates it and schedules the erasure of its
  // personal data (a purge timer in the same batch).
  void ScheduleRetention(records::CaseRecord& record);
  // Erases the case's personal data in the pending batch and records the key ranges to
  // compact. False (and nothing written) when there is nothing to erase: already erased, or
  // not ended.
  bool PurgePersonalData(records::CaseRecord& record);
  // After the batch of a purge pass committed: asks the compactor to make it leave the files.
  // `purged` cases were erased in that pass.
  void FinishPurgePass(size_t purged);
  // Clears the durable "compaction owed" mark once the compactor has done it.
  void CollectPurgeCompactions();

  // Applies `event` to the case (state, record, timeline) in the pending batch.
  Result<wire::CaseState> ApplyEvent(records::CaseRecord& record, CaseEvent event,
                                     const std::string& actor, const std::string& detail);
  void AppendToQueue(const std::string& queue, const records::QueueItem& item);
  // Removes the case's item from its partner queue if it is waiting there and not in flight.
  // Returns true when it did, false when there was nothing to withdraw, or the read error
  // (then nothing was written).
  Result<bool> WithdrawUndelivered(const records::CaseRecord& record);
  void PostToMailbox(const records::CaseRecord& record, wire::MailItem::Kind kind,
                     const std::string& text);
  // The case, if it exists and `session` may see it; otherwise the typed error.
  // The case's body and citizen name: from the content family, or from the record itself for a
  // case stored before that family existed. Empty once purged.
  Result<records::CaseContent> ContentOf(const records::CaseRecord& record);
  Result<records::CaseRecord> LoadCaseFor(const Session& session, const std::string& raw_case_id);

  // The answer to the request being dispatched; it waits for the commit when its row says so
  // (and always outside a dispatch, to be safe).
  void Answer(const std::string& routing_id, wire::Envelope answer);
  void Answer(const std::string& routing_id, wire::Envelope answer, bool needs_commit);
  void AnswerError(const std::string& routing_id, uint64_t request_id, const Status& status);
  void CommitAndFlush();
  // Pending writes that no answer waits for (DeliveryAcks, attempt counts): committed when
  // the turn is `idle` (nothing received) or when they have waited kUnansweredCommitDelayMs;
  // otherwise left for the next batch's commit. Only called with answers_ and
  // alerts_to_publish_ empty.
  void CommitUnansweredIfDue(bool idle);
  // After a failed commit: the answers waiting for it become UNAVAILABLE, the others (errors,
  // pongs) go as they are; unpublished alerts are dropped (not stored).
  void FailPendingAnswers(const std::string& why);

  // A pair's leader (replication.cc): nullptr / no-ops for a single broker.
  // Whether answers may leave now: a single broker, a standby that has every committed batch
  // and is named in etcd, or degraded mode alone (the sync key cleared).
  bool CanAcknowledge() const;
  void FillPairStats(wire::PairStats& stats) const;
  std::string PairState() const;  // "paired", "alone", "waiting for a standby"
  // Start-up of a pair's leader: the replication socket (after CURVE is set up).
  Status StartPair();
  // The store's pending batch made durable here (for a pair's leader: shipped to the standby
  // between the write and the fsync). An error is the fail-stop of a failed write or fsync.
  Status CommitLocally();
  // Writes of this turn not yet made durable: pending in the store, or written unsynced by
  // ShipPendingWrites.
  bool WritesAwaitCommit() const;
  // A pair's leader, every kShipEveryMessages requests of a turn: the store's pending writes
  // written without sync and shipped to a synchronous standby (answered later, as ever).
  void ShipPendingWrites();
  // A failed write or fsync: nothing more is acknowledged and Run() returns (exit 75).
  void FailStop(const Status& status);
  // After a local commit (whose batch CommitLocally shipped): waits for the standby's copy
  // when the pair is synchronous. False when the batch's answers may not leave (they were failed, and in
  // strict mode the broker waits for a standby); leadership lost sets durability_failure_.
  bool ReplicateCommitted();
  // Each turn: the standby's frames, heartbeats, naming a caught-up standby in etcd, and the
  // leadership check (a leader past its lease's validity stops: NOT_LEADER, exit 76).
  void TendPair();
  // Degraded mode without a standby copy: clears the sync key, then answers alone.
  bool GoAlone(const std::string& why);
  // Deletes archived log files the standby has applied (erasure: docs/AVAILABILITY.md).
  void PruneArchivedLog();
  static constexpr int64_t kArchivePruneEveryMs = 1000;
  int64_t last_archive_prune_ms_ = 0;
  // Writes the sync key naming the caught-up standby; false when it could not (yet).
  bool NameStandby();
  // After a failed etcd write from the loop (naming, clearing), the next waits kEtcdRetryMs:
  // each may block the loop for the etcd client's deadline.
  bool EtcdAttemptDue() const;
  void EtcdAttemptFailed();
  static constexpr int64_t kEtcdRetryMs = 1000;
  int64_t next_etcd_attempt_ms_ = 0;
  void Demote(const std::string& why);
  bool SendTo(const std::string& routing_id, const wire::Envelope& envelope);

  // Deliveries.
  QueueState& Queue(const std::string& name);
  void PumpDeliveries();
  void PumpQueue(QueueState& queue);
  bool DeliverOne(QueueState& queue, uint64_t sequence, const records::QueueItem& item,
                  Session& session);
  // Parks the item in the queue's dead-letter queue (same sequence), clears the case's queue
  // slot when it was the case's escalation, and raises one DEAD_LETTER alert when a case id is
  // known. All in the pending batch.
  void DeadLetter(QueueState& queue, uint64_t sequence, records::QueueItem item);
  // The operator-only alert of a dead-lettering ("<case>/DEAD_LETTER/<n>"): stored and
  // published after the commit, never queued to a partner or a contact point. `record` (when
  // the case exists) gets its dead_letterings count bumped; the caller stores it.
  void RaiseDeadLetterAlert(const std::string& case_id, records::CaseRecord* record,
                            const std::string& queue, uint64_t sequence,
                            const records::QueueItem& item);
  void ExpireLeasesAndSessions();
  // Excuses the loop's busy time since its last read of the socket, past kOwnStallMs.
  void ExcuseOwnStall();
  void DropSession(const std::string& routing_id, const char* why);

  const NetworkConfig& config_;
  const BrokerOptions options_;
  zmq::context_t& context_;
  const Clock& clock_;
  std::unique_ptr<BrokerStore> store_;
  zmq::socket_t socket_;
  std::string endpoint_;
  // Declared after socket_ (its monitor): ends of the request socket's connections.
  zmq::socket_t connection_events_;
  zmq::socket_t alerts_socket_;  // XPUB: publishes alerts, hears subscriptions
  std::string alerts_endpoint_;
  // Connections subscribed to the alert stream, by descriptor (a reused descriptor replaces
  // the entry, so this stays bounded by the open descriptors): their key and peer address.
  struct AlertFollower {
    std::string public_key;
    std::string peer;
  };
  std::unordered_map<int, AlertFollower> alert_followers_;
  // Fresh at every start, sent in Welcome and Pong: a client that sees it change knows this
  // broker has forgotten its session and says Hello again at once.
  const std::string instance_id_;
  SlaClock sla_clock_;
  RateLimiter rate_limiter_;
  std::unique_ptr<ZapAuthenticator> zap_;  // null under --insecure
  int64_t last_keyring_poll_ms_ = 0;
  std::optional<int64_t> next_due_ms_;  // earliest stored timer; nothing else is kept in memory
  std::vector<wire::Alert> alerts_to_publish_;  // raised in this batch, published after commit
  // A catch-up after downtime (more timers due than one turn handles): logged every few
  // seconds when it takes longer than 2 s (FireDueTimers), with these counts.
  ProgressLog sla_catch_up_{"SLA catch-up"};
  size_t catch_up_timers_ = 0;
  size_t catch_up_alerts_ = 0;
  // Declared after store_: destroyed (cancelled and joined) before the database closes.
  std::unique_ptr<PurgeCompactor> compactor_;
  // Reads of every case (reports, SLA boards) off the loop; declared after store_, so it is
  // destroyed (its worker joined, its iterators released) before the store closes.
  std::unique_ptr<CaseScanner> case_scanner_ = std::make_unique<CaseScanner>(
      [this] { return store_->CommittedCases(); }, kMaxWaitingCaseScans);
  uint64_t purge_generation_ = 0;         // the last purge pass committed (or owed at start-up)
  std::vector<KeyRange> purge_ranges_;    // rewritten by the purges of the pending batch
  // Mail items with a text, by queue then case: each queue is read once per purge pass (a
  // queue may be long, and a pass may purge thousands of cases).
  std::map<std::string, std::multimap<std::string, BrokerStore::QueueEntry>> purge_mail_index_;

  std::unordered_map<std::string, Session> sessions_;
  std::map<std::string, QueueState> queues_;
  struct PendingAnswer {
    std::string routing_id;
    wire::Envelope envelope;
    bool needs_commit;
    // A fresh submission's Accepted: counted (aplus_escalations_submitted_total) and timed
    // once the commit made it durable. Null otherwise.
    BrokerMetrics::PartnerCounters* submitted_to = nullptr;
    int64_t received_ns = 0;
  };
  std::vector<PendingAnswer> answers_;
  // The submission being dispatched was received at this instant (steady clock, ns): its
  // Accepted answer observes aplus_submit_durable_seconds when it leaves after the commit.
  int64_t receipt_ns_ = 0;
  const RequestRule* current_rule_ = nullptr;  // the row of the request being dispatched
  size_t messages_in_batch_ = 0;
  // How long writes that answer nobody may wait for a batch that answers someone.
  static constexpr int64_t kUnansweredCommitDelayMs = 5;
  // How many requests of one turn a pair's leader handles between two shipments to the
  // standby (ShipPendingWrites): small enough that the standby's apply of the turn's last part
  // is short, large enough that each part's frame and fsync on the standby are shared widely.
  static constexpr size_t kShipEveryMessages = 64;
  // Since when (steady clock) the store holds writes that answer nobody; nullopt: none.
  std::optional<int64_t> unanswered_since_ms_;
  int64_t last_expiry_check_ms_ = 0;
  // When the loop last read everything that had arrived on the request socket (steady clock).
  // Sessions' silence and ack leases are judged as of then, never as of now: a stall of the
  // loop itself (a slow commit) leaves pings and acks unread in the socket, which is not the
  // clients' silence.
  int64_t last_drained_ms_ = 0;
  // The loop's own stalls, excused (ExcuseOwnStall). As of last_drained_ms_ alone, a stall
  // longer than twice the session timeout still dropped every session (the expiry's reference
  // may lag now by at most one timeout, so that a load never drained still expires leases).
  // So the busy time since the loop last read its socket, past kOwnStallMs, is added to every
  // session's last-seen time and every ack lease: the clients could not be heard meanwhile.
  static constexpr int64_t kOwnStallMs = 1000;
  int64_t last_read_end_ms_ = 0;      // steady clock: the end of the last read phase
  int64_t idle_since_read_ms_ = 0;    // of which waiting in poll (nothing to read: not a stall)
  int64_t stall_excused_ms_ = 0;      // already excused since the last read phase
  // Set by a failed commit; the loop stops at the end of that turn (fail-stop).
  std::optional<Status> durability_failure_;
  BrokerCounters counters_;
  // Requests drained since the last commit (aplus_group_commit_requests, messages_committed).
  size_t requests_uncommitted_ = 0;
  const int64_t started_at_ms_;  // wall clock
  BrokerMetrics metrics_;
  // The pair (docs/AVAILABILITY.md); null for a single broker.
  std::unique_ptr<ReplicationLeader> replication_;
  bool alone_ = false;           // degraded mode: the sync key says no standby, we answer alone
  std::string named_standby_;    // the standby the sync key names (as we wrote it)
  // Declared last: destroyed first, so no handler runs on a half-destroyed broker.
  std::unique_ptr<HttpFrontDoor> http_;
};

}  // namespace aplus
