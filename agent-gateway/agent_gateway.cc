#include "agent-gateway/agent_gateway.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <zmq_addon.hpp>

#include "common/case_id.h"
#include "gateway/openapi_document.h"
#include "gateway/case_json.h"
#include "gateway/fail_stop_drain.h"
#include "gateway/start_up_errors.h"
#include "common/wire.h"

namespace aplus {
namespace {

constexpr uint32_t kDefaultListLimit = 100;
// Forwarded reads (GetCase, ListCases, GetAudit) wait for the broker at most this long, even
// with a longer --forward-timeout-ms: the gateway must answer (the broker's answer, its local
// view, or a typed error) before the command line's default timeout (5 s) runs out.
constexpr int kMaxReadForwardMs = 3000;
constexpr int kMaxPollMs = 100;               // the stop flag is checked at least this often
constexpr int kMaxLocalFramesPerTurn = 1000;  // so that a busy client cannot starve the link

// The case id (or local ref) and idempotency key of a request about an existing case (CloseCase,
// CancelCase, AnswerInfo); null for any other request.
std::string* MutableCaseId(wire::Envelope& request) {
  switch (request.body_case()) {
    case wire::Envelope::kCloseCase:
      return request.mutable_close_case()->mutable_case_id();
    case wire::Envelope::kCancelCase:
      return request.mutable_cancel_case()->mutable_case_id();
    case wire::Envelope::kAnswerInfo:
      return request.mutable_answer_info()->mutable_case_id();
    default:
      return nullptr;
  }
}

std::string* MutableIdempotencyKey(wire::Envelope& request) {
  switch (request.body_case()) {
    case wire::Envelope::kCloseCase:
      return request.mutable_close_case()->mutable_idempotency_key();
    case wire::Envelope::kCancelCase:
      return request.mutable_cancel_case()->mutable_idempotency_key();
    case wire::Envelope::kAnswerInfo:
      return request.mutable_answer_info()->mutable_idempotency_key();
    default:
      return nullptr;
  }
}

std::string CaseIdOf(const wire::Envelope& request) {
  switch (request.body_case()) {
    case wire::Envelope::kCloseCase:
      return request.close_case().case_id();
    case wire::Envelope::kCancelCase:
      return request.cancel_case().case_id();
    case wire::Envelope::kAnswerInfo:
      return request.answer_info().case_id();
    default:
      return "";
  }
}

// Mail and SLA alerts about one of the contact point's cases; anything else is not ours.
bool IsMailboxItem(const wire::Delivery& delivery) {
  if (delivery.has_mail()) return !delivery.mail().case_id().empty();
  if (delivery.has_alert()) return !delivery.alert().case_id().empty();
  return false;
}

Status BrokerStatus(const Result<wire::Envelope>& answer) {
  return answer.ok() ? StatusOf(*answer) : answer.status();
}

// The broker gave a definite answer (a body of its own, or an error that retrying would not
// change); otherwise the gateway answers from what it knows.
bool IsDefinite(const Result<wire::Envelope>& answer) {
  if (!answer.ok()) return false;
  Status status = StatusOf(*answer);
  return status.ok() || !IsTransient(status);
}

// The refusal of a request about LOC-x whose submission was set aside as FAILED_LOCALLY.
Status DependsOnFailed(const records::OutboxEntry& submission) {
  return Status(wire::UNKNOWN_CASE,
                "the submission " + submission.local_ref() + " was refused by the broker (" +
                    wire::ErrorCode_Name(submission.error().code()) + ": " +
                    submission.error().message() + "); retry or discard it first");
}

}  // namespace

AgentGateway::AgentGateway(AgentGatewayOptions options, RetentionSettings retention)
    : options_(std::move(options)),
      retention_(retention),
      metrics_("aplus-agent-gateway", clock_.NowMs()),
      submit_durable_seconds_(prometheus::BuildHistogram()
                                  .Name("aplus_submit_durable_seconds")
                                  .Help("From the receipt of a submission to its Accepted "
                                        "answer, sent after the group commit.")
                                  .Register(metrics_.registry())
                                  .Add({}, LatencyBucketsSeconds())),
      context_(1) {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device()};
  random_.seed(seed);
}

AgentGateway::~AgentGateway() = default;

Result<std::unique_ptr<AgentGateway>> AgentGateway::Open(AgentGatewayOptions options,
                                                         const NetworkConfig& config) {
  if (options.max_frame_bytes == 0) {
    options.max_frame_bytes =
        config.broker.max_frame_bytes > 0 ? config.broker.max_frame_bytes : kDefaultMaxFrameBytes;
  }
  std::unique_ptr<AgentGateway> gateway(new AgentGateway(std::move(options), config.retention));
  AgentGateway* self = gateway.get();
  const auto& opts = self->options_;

  RocksDbOptions db_options;
  db_options.counter_families = {kMetaFamily};
  auto db = RocksDb::Open(opts.data_dir, AgentGatewayFamilies(), db_options);
  if (!db.ok()) return db.status();
  self->db_ = std::move(db).value();
  self->cache_ = std::make_unique<LocalCaseCache>(*self->db_, self->clock_,
                                                  config.retention.personal_data_after);
  Status retention = self->StartRetention();
  if (!retention.ok()) return retention;

  wire::Hello hello;
  hello.set_role(wire::AGENT_GATEWAY);
  hello.set_principal(opts.contact_point);
  hello.set_software("aplus-agent-gateway");
  try {
    self->local_ = std::make_unique<zmq::socket_t>(self->context_, zmq::socket_type::router);
    self->local_->set(zmq::sockopt::linger, 0);
    self->local_->bind(opts.listen_endpoint);
    self->bound_endpoint_ = self->local_->get(zmq::sockopt::last_endpoint);
    self->link_ =
        std::make_unique<BrokerLink>(self->context_, opts.broker_endpoint, hello, opts.window,
                                     opts.curve);
  } catch (const zmq::error_t& e) {
    return ListenFailure(opts.listen_endpoint + " (broker " + opts.broker_endpoint + ")",
                         e.what());
  }
  self->link_->SetDeliveryHandler([self](wire::Delivery&& delivery) {
    self->pending_deliveries_.push_back(std::move(delivery));
  });
  self->link_->SetReadyHandler([self] { self->forwarder_->OnLinkReady(); });
  self->fail_stop_.SetHaltHook([self] { self->link_->Halt(); });
  DurableForwarder::Options forwarding;
  forwarding.request_timeout_ms = opts.outbox_request_timeout_ms;
  forwarding.forward_timeout_ms = opts.forward_timeout_ms;
  forwarding.backoff_base_ms = opts.outbox_retry_ms;
  DurableForwarder::Hooks hooks;
  hooks.prepare = [self](const records::OutboxEntry& entry) {
    return self->PrepareForBroker(entry);
  };
  hooks.on_final = [self](uint64_t sequence, const records::OutboxEntry& entry,
                          const wire::Envelope& answer) {
    return self->OnFinalAnswer(sequence, entry, answer);
  };
  hooks.queued_answer = [self](const records::OutboxEntry& entry) {
    return self->QueuedAnswer(entry);
  };
  hooks.may_send = [self] { return !self->commit_->open(); };
  self->commit_ = std::make_unique<GroupCommit>(*self->db_, self->fail_stop_);
  self->commit_->SetCommitObserver(self->metrics_.CommitObserver());
  // A held submission the broker refused for good: the feed says so (case.refused), in the
  // batch that sets it aside.
  hooks.set_aside = [self](rocksdb::WriteBatch& batch, const records::OutboxEntry& entry) {
    if (!entry.request().has_submit()) return;
    nlohmann::json event = {{"type", "case.refused"},
                            {"localRef", entry.local_ref()},
                            {"partner", entry.request().submit().partner()},
                            {"agent", entry.request().submit().agent()},
                            {"problem", ProblemJson(entry.error())}};
    self->feed_->Append(batch, event, self->clock_.NowMs());
  };
  hooks.set_aside_durable = [self] { self->EventsPublished(); };
  self->forwarder_ = std::make_unique<DurableForwarder>(*self->db_, *self->link_,
                                                        self->fail_stop_, forwarding, hooks);
  self->idempotency_family_ = self->db_->Family(kIdempotencyFamily);
  auto feed = EventFeed::Open(*self->db_);
  if (!feed.ok()) return feed.status();
  self->feed_ = std::move(feed).value();
  if (!opts.http_listen.empty()) {
    auto address = http::ParseListenAddress(opts.http_listen);
    if (!address.ok()) return address.status();
    HttpFrontDoorOptions front_door;
    front_door.server.host = address->first;
    front_door.server.port = address->second;
    front_door.server.tls_cert_file = opts.http_tls_cert_file;
    front_door.server.tls_key_file = opts.http_tls_key_file;
    front_door.token_dir = opts.token_dir;
    front_door.contract_yaml = OpenApiDocument();
    front_door.after_commit = [self](GroupCommit::Effect effect) {
      self->commit_->AfterCommit(std::move(effect));
    };
    front_door.count_answer = self->metrics_.HttpCounter();
    auto routes = self->HttpRoutes();
    routes.push_back(self->metrics_.Route([self] { self->metrics_.SetOutbox(*self->forwarder_); }));
    auto door = HttpFrontDoor::Start(std::move(front_door), std::move(routes));
    if (!door.ok()) {
      return Status(door.status().code(),
                    "HTTP API on " + opts.http_listen + ": " + door.status().message());
    }
    self->http_ = std::move(door).value();
  }
  return gateway;
}

std::string AgentGateway::http_url() const { return http_ ? http_->Url() : ""; }

void AgentGateway::Run(const std::atomic<bool>& stop) {
  while (!stop.load() && !fail_stop_.tripped()) {
    zmq::pollitem_t items[] = {{local_->handle(), 0, ZMQ_POLLIN, 0},
                               {link_->socket().handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, http_ ? http_->fd() : -1, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, http_ ? 3 : 2, std::chrono::milliseconds(PollTimeoutMs()));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) spdlog::error("poll failed: {}", e.what());
      continue;
    }
    // One group commit per turn (gateway/group_commit.h): what arrived together shares one
    // fsync; answers, acknowledgements and forwarded requests leave after it.
    commit_->Begin();
    if (items[1].revents & ZMQ_POLLIN) {
      link_->OnReadable();
      FlushDeliveries();
    }
    if (items[0].revents & ZMQ_POLLIN) DrainLocal();
    if (http_ && (items[2].revents & ZMQ_POLLIN)) http_->Dispatch();
    if (commit_->Commit().ok()) forwarder_->MarkDurable();
    link_->OnTick();
    forwarder_->OnTick();
    feed_->ExpireWaiters(SteadyNowMs());
    SweepRetention();
  }
  if (fail_stop_.tripped()) {
    DrainAfterFailStop();
  } else {
    db_->FlushAtCleanStop();
  }
}

void AgentGateway::DrainAfterFailStop() {
  forwarder_->AnswerAllWaitersQueued();
  feed_->AnswerAllWaiters(fail_stop_.status());
  if (http_) http_->Dispatch();
  AnswerLocalClientsBeforeExit(*local_, [this] {
    DrainLocal();
    if (http_) http_->Dispatch();
  });
}

int AgentGateway::ReadTimeoutMs() const {
  return std::min(options_.forward_timeout_ms, kMaxReadForwardMs);
}

int AgentGateway::PollTimeoutMs() const {
  int wake = std::min({kMaxPollMs, link_->NextWakeInMs(), forwarder_->NextWakeInMs()});
  if (int64_t waiter = feed_->NextWaiterDeadlineMs(); waiter > 0) {
    wake = static_cast<int>(std::min<int64_t>(wake, waiter - SteadyNowMs()));
  }
  return std::max(0, wake);
}

// --- local endpoint ------------------------------------------------------------------------

void AgentGateway::DrainLocal() {
  for (int i = 0; i < kMaxLocalFramesPerTurn; ++i) {
    std::vector<zmq::message_t> frames;
    std::optional<size_t> received;
    try {
      received =
          zmq::recv_multipart(*local_, std::back_inserter(frames), zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      spdlog::warn("local receive failed: {}", e.what());
      return;
    }
    if (!received) return;
    if (frames.size() < 2) continue;  // a ROUTER always adds the routing id; nothing to answer
    Client client;
    for (size_t f = 0; f + 1 < frames.size(); ++f) client.route.push_back(frames[f].to_string());
    const auto& payload = frames.back();
    auto decoded = DecodeEnvelope(payload.data(), payload.size(), options_.max_frame_bytes);
    if (!decoded.ok()) {
      // An envelope without a known body still carries the request id the client waits for.
      wire::Envelope partial;
      if (payload.size() <= options_.max_frame_bytes &&
          partial.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        client.request_id = partial.request_id();
      }
      ReplyError(client, decoded.status());
      continue;
    }
    client.request_id = decoded->request_id();
    HandleLocal(std::move(client), std::move(decoded).value());
  }
}

void AgentGateway::HandleLocal(Client client, wire::Envelope&& request) {
  // Stopping after a failed durable write: nothing new is accepted, but everyone is answered.
  if (fail_stop_.tripped()) return ReplyError(client, fail_stop_.status());
  switch (request.body_case()) {
    case wire::Envelope::kSubmit:
      HandleSubmit(std::move(client), std::move(*request.mutable_submit()));
      return;
    case wire::Envelope::kCloseCase:
    case wire::Envelope::kCancelCase:
    case wire::Envelope::kAnswerInfo:
      HandleCaseMutation(std::move(client), std::move(request));
      return;
    case wire::Envelope::kGetCase:
      HandleGetCase(std::move(client), request.get_case().case_id());
      return;
    case wire::Envelope::kRetryLocal:
    case wire::Envelope::kDiscardLocal:
      HandleLocalEntry(std::move(client), std::move(request));
      return;
    case wire::Envelope::kListCases:
      HandleListCases(std::move(client), request.list_cases());
      return;
    case wire::Envelope::kGetAudit:
      HandleGetAudit(std::move(client), request.get_audit().case_id());
      return;
    case wire::Envelope::kExplainDeadline:
      HandleExplainDeadline(std::move(client), std::move(*request.mutable_explain_deadline()));
      return;
    case wire::Envelope::kPing: {
      wire::Envelope pong;
      pong.mutable_pong();
      Reply(client, std::move(pong));
      return;
    }
    default:
      ReplyError(client, Status(wire::UNKNOWN_MESSAGE,
                                "the agent gateway does not serve " + BodyName(request)));
  }
}

void AgentGateway::Reply(const Client& client, wire::Envelope answer) {
  // Inside a turn the answer waits for the turn's commit: it may rest on this turn's writes.
  if (commit_ != nullptr && commit_->open()) {
    commit_->AfterCommit(
        [this, client, answer = std::move(answer)](const Status& committed) mutable {
          SendReply(client, committed.ok() ? std::move(answer)
                                           : MakeErrorEnvelope(0, committed));
        });
    return;
  }
  SendReply(client, std::move(answer));
}

void AgentGateway::SendReply(const Client& client, wire::Envelope answer) {
  answer.set_request_id(client.request_id);
  if (client.answer) return client.answer(std::move(answer));
  auto payload = EncodeEnvelope(answer);
  try {
    for (const auto& frame : client.route) {
      local_->send(zmq::buffer(frame), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    }
    local_->send(payload, zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::warn("cannot answer local client: {}", e.what());
  }
}

void AgentGateway::EventsPublished() {
  // Long polls see an event only once its turn's group commit made it durable: a cursor
  // handed out before the fsync could be given to another event after a crash.
  if (commit_ != nullptr && commit_->open()) {
    commit_->AfterCommit([this](const Status& committed) {
      if (committed.ok()) EventsPublished();
    });
    return;
  }
  feed_->Published();
}

void AgentGateway::ReplyError(const Client& client, const Status& status) {
  Reply(client, MakeErrorEnvelope(client.request_id, status));
}

// --- requests through the outbox -----------------------------------------------------------

void AgentGateway::HandleSubmit(Client client, wire::Submit&& submit, AlsoWrite also) {
  // Light checks only: the broker is the authority on agents, partners and categories.
  if (submit.agent().empty() || submit.partner().empty()) {
    ReplyError(client, Status(wire::INVALID_ARGUMENT, "a submission needs an agent and a partner"));
    return;
  }
  if (submit.subject().empty() && submit.body().empty()) {
    ReplyError(client, Status(wire::INVALID_ARGUMENT, "a submission needs a subject or a body"));
    return;
  }
  // Refused here rather than queued: the broker would refuse it anyway, maybe hours later.
  if (submit.mandate_reference().empty() && !submit.citizen_consent()) {
    ReplyError(client, Status(wire::MANDATE_REQUIRED,
                              "a submission must record the citizen's mandate: give a "
                              "mandate_reference or set citizen_consent"));
    return;
  }
  // Forwarding may be retried many times: the key makes every retry the same submission.
  if (submit.idempotency_key().empty()) submit.set_idempotency_key(NewIdempotencyKey());
  wire::Envelope request;
  *request.mutable_submit() = std::move(submit);
  Enqueue(std::move(client), std::move(request), std::move(also));
}

void AgentGateway::HandleCaseMutation(Client client, wire::Envelope&& request) {
  std::string* case_id = MutableCaseId(request);
  std::string* key = MutableIdempotencyKey(request);
  if (case_id->empty()) {
    ReplyError(client, Status(wire::INVALID_ARGUMENT, "a case id or local ref is required"));
    return;
  }
  if (request.has_answer_info() &&
      request.answer_info().text().find_first_not_of(" \t\r\n") == std::string::npos) {
    ReplyError(client, Status(wire::INVALID_ARGUMENT, "the answer text is empty"));
    return;
  }
  if (IsLocalRef(*case_id)) {
    // Accept a ref still in the outbox (it is sent first, so its case id is known by the time
    // this request goes out) or one that resolved; refuse unknown and failed refs now.
    if (const auto* queued = forwarder_->FindByLocalRef(*case_id);
        queued != nullptr && queued->failed()) {
      return ReplyError(client, DependsOnFailed(*queued));
    } else if (queued == nullptr) {
      auto ref = cache_->FindRef(*case_id);
      if (!ref.ok()) return ReplyError(client, ref.status());
      if (!ref->has_value()) {
        return ReplyError(client, Status(wire::UNKNOWN_CASE, "no local reference " + *case_id));
      }
      if ((*ref)->has_error()) return ReplyError(client, StatusOf(**ref));
      *case_id = (*ref)->accepted().case_id();
    }
  } else if (auto normalized = NormalizeCaseId(*case_id)) {
    *case_id = *normalized;
  }
  if (key->empty()) *key = NewIdempotencyKey();
  Enqueue(std::move(client), std::move(request));
}

void AgentGateway::Enqueue(Client client, wire::Envelope&& request, AlsoWrite also) {
  // The ref's counter is written in the outbox entry's batch: durable together, one write.
  rocksdb::WriteBatch batch;
  auto local_ref = cache_->AllocateLocalRef(batch);
  if (!local_ref.ok()) {
    fail_stop_.Trip("cannot allocate a local reference", local_ref.status());
    return ReplyError(client, local_ref.status());
  }
  records::OutboxEntry entry;
  request.set_request_id(0);
  *entry.mutable_request() = std::move(request);
  entry.set_local_ref(*local_ref);
  entry.set_queued_at_ms(clock_.NowMs());
  if (also) also(batch, *local_ref);
  // Durable before anything is answered: an accepted request survives a crash.
  const bool submission = entry.request().has_submit();
  const auto received = std::chrono::steady_clock::now();
  auto sequence = forwarder_->Enqueue(
      std::move(entry),
      [this, client, submission, received](wire::Envelope answer) {
        bool accepted = submission && answer.has_accepted();
        Reply(client, std::move(answer));
        if (!accepted) return;
        // aplus_submit_durable_seconds: runs right after the Reply's own effect (effects run
        // in order), i.e. once the answer left after the commit.
        commit_->AfterCommit([this, received](const Status& committed) {
          if (!committed.ok()) return;
          submit_durable_seconds_.Observe(std::chrono::duration<double>(
                                              std::chrono::steady_clock::now() - received)
                                              .count());
        });
      },
      &batch);
  if (!sequence.ok()) return ReplyError(client, sequence.status());
}

Result<wire::Envelope> AgentGateway::PrepareForBroker(const records::OutboxEntry& entry) {
  wire::Envelope request = entry.request();
  std::string* case_id = MutableCaseId(request);
  if (case_id != nullptr && IsLocalRef(*case_id)) {
    // The Submit of this ref was ahead in the outbox: it was answered (its outcome is in the
    // cache) or set aside (then this request cannot go either).
    const auto* submission = forwarder_->FindByLocalRef(*case_id);
    if (submission != nullptr && submission->failed()) return DependsOnFailed(*submission);
    auto ref = cache_->FindRef(*case_id);
    if (!ref.ok()) return ref.status();
    if (!ref->has_value()) return Status(wire::UNKNOWN_CASE, "no local reference " + *case_id);
    if ((*ref)->has_error()) return StatusOf(**ref);
    *case_id = (*ref)->accepted().case_id();
  }
  return request;
}

wire::Envelope AgentGateway::OnFinalAnswer(uint64_t sequence, const records::OutboxEntry& entry,
                                           const wire::Envelope& answer) {
  const auto& request = entry.request();
  wire::Envelope reply = answer;
  if (request.has_submit()) {
    if (!answer.has_accepted() && !answer.has_error()) {
      reply = MakeErrorEnvelope(
          0, Status(wire::INTERNAL, "broker answered a submission with " + BodyName(answer)));
    }
    // A client that waited longer than the forward timeout was told QUEUED_LOCALLY (or went
    // away): the feed tells it how the submission ended.
    bool was_held = clock_.NowMs() - entry.queued_at_ms() >= options_.forward_timeout_ms;
    bool appended = false;
    auto feed_event = [&](rocksdb::WriteBatch& batch) {
      // A discarded entry's refusal was in the feed when it was set aside.
      if (!was_held || (entry.failed() && !reply.has_accepted())) return;
      nlohmann::json event = {{"localRef", entry.local_ref()},
                              {"partner", request.submit().partner()},
                              {"agent", request.submit().agent()}};
      if (reply.has_accepted()) {
        event["type"] = "case.submitted";
        event["caseId"] = reply.accepted().case_id();
      } else {
        event["type"] = "case.refused";
        event["problem"] = ProblemJson(reply.error());
      }
      feed_->Append(batch, event, clock_.NowMs());
      appended = true;
    };
    Status recorded = cache_->RecordSubmitAnswer(entry.local_ref(), request.submit(),
                                                 entry.queued_at_ms(), reply, feed_event);
    if (recorded.ok() && appended) EventsPublished();
    if (!recorded.ok()) {
      fail_stop_.Trip("cannot record the outcome of " + entry.local_ref(), recorded);
      return reply;  // the entry stays in the outbox: after a restart it is sent again
    }
    if (reply.has_accepted()) {
      reply.mutable_accepted()->set_local_ref(entry.local_ref());
      spdlog::info("{} accepted by the broker as {}", entry.local_ref(),
                   reply.accepted().case_id());
    } else {
      spdlog::warn("{} refused by the broker: {}", entry.local_ref(), StatusOf(reply).ToString());
    }
  } else if (answer.has_case_updated()) {
    Status recorded = cache_->RecordCaseUpdated(answer.case_updated());
    if (!recorded.ok()) fail_stop_.Trip("cannot cache a case update", recorded);
  } else if (answer.has_error()) {
    spdlog::warn("{} ({}) refused by the broker: {}", entry.local_ref(), BodyName(request),
                 StatusOf(answer).ToString());
  }
  return reply;
}

wire::Envelope AgentGateway::QueuedAnswer(const records::OutboxEntry& entry) const {
  wire::Envelope reply;
  const auto& request = entry.request();
  if (request.has_submit()) {
    reply.mutable_accepted()->set_state(wire::QUEUED_LOCALLY);
    reply.mutable_accepted()->set_local_ref(entry.local_ref());
  } else {
    auto* updated = reply.mutable_case_updated();
    updated->set_case_id(CaseIdOf(request));
    updated->set_queued_locally(true);
  }
  return reply;
}

void AgentGateway::HandleLocalEntry(Client client, wire::Envelope&& request) {
  bool retry = request.has_retry_local();
  const std::string& ref =
      retry ? request.retry_local().local_ref() : request.discard_local().local_ref();
  if (ref.empty()) {
    return ReplyError(client, Status(wire::INVALID_ARGUMENT, "a local ref is required"));
  }
  auto entry = retry ? forwarder_->Retry(ref) : forwarder_->Discard(ref);
  if (!entry.ok()) return ReplyError(client, entry.status());
  wire::Envelope reply;
  *reply.mutable_local_entry() = std::move(entry).value();
  Reply(client, std::move(reply));
}

// --- reads ---------------------------------------------------------------------------------

wire::CaseView AgentGateway::QueuedView(const records::OutboxEntry& entry) const {
  wire::CaseView view;
  const auto& submit = entry.request().submit();
  auto* summary = view.mutable_summary();
  summary->set_state(entry.failed() ? wire::FAILED_LOCALLY : wire::QUEUED_LOCALLY);
  if (entry.failed()) *summary->mutable_local_error() = entry.error();
  summary->set_local_ref(entry.local_ref());
  summary->set_contact_point(options_.contact_point);
  summary->set_agent(submit.agent());
  summary->set_partner(submit.partner());
  summary->set_category(submit.category());
  summary->set_subject(submit.subject());
  summary->set_submitted_at_ms(entry.queued_at_ms());
  summary->set_mandate_reference(submit.mandate_reference());
  summary->set_citizen_consent(submit.citizen_consent());
  view.set_body(submit.body());
  view.set_citizen_name(submit.citizen_name());
  view.set_from_local_cache(true);
  return view;
}

std::vector<wire::CaseSummary> AgentGateway::QueuedSummaries() const {
  std::vector<wire::CaseSummary> summaries;
  for (const auto& item : forwarder_->entries()) {
    if (item.entry.request().has_submit()) summaries.push_back(QueuedView(item.entry).summary());
  }
  return summaries;
}

void AgentGateway::AddLocalEntries(wire::CaseList& list) const {
  for (const auto& item : forwarder_->entries()) {
    if (!item.entry.request().has_submit()) {
      *list.add_local_entries() = DurableForwarder::Describe(item.entry);
    }
  }
}

void AgentGateway::HandleGetCase(Client client, const std::string& id) {
  if (id.empty())
    return ReplyError(client, Status(wire::INVALID_ARGUMENT, "a case id is required"));
  std::string case_id;
  std::string local_ref;
  if (IsLocalRef(id)) {
    const auto* queued = forwarder_->FindByLocalRef(id);
    if (queued != nullptr && queued->request().has_submit()) {
      wire::Envelope reply;
      *reply.mutable_case_view() = QueuedView(*queued);
      return Reply(client, std::move(reply));
    }
    auto ref = cache_->FindRef(id);
    if (!ref.ok()) return ReplyError(client, ref.status());
    if (!ref->has_value()) {
      return ReplyError(client, Status(wire::UNKNOWN_CASE, "no local reference " + id));
    }
    if ((*ref)->has_error()) return ReplyError(client, StatusOf(**ref));
    case_id = (*ref)->accepted().case_id();
    local_ref = id;
  } else {
    // Whatever a person typed: the broker is the authority on which ids exist.
    case_id = NormalizeCaseId(id).value_or(id);
  }
  wire::Envelope request;
  request.mutable_get_case()->set_case_id(case_id);
  link_->Request(std::move(request), ReadTimeoutMs(),
                 [this, client, case_id, local_ref](Result<wire::Envelope> answer) {
                   AnswerGetCase(client, case_id, local_ref, answer);
                 });
}

void AgentGateway::AnswerGetCase(const Client& client, const std::string& case_id,
                                 const std::string& local_ref,
                                 const Result<wire::Envelope>& answer) {
  if (IsDefinite(answer) && answer->has_case_view()) {
    auto stored = cache_->RecordCaseView(answer->case_view());
    if (!stored.ok()) {
      fail_stop_.Trip("cannot cache case " + case_id, stored.status());
      return ReplyError(client, stored.status());
    }
    wire::Envelope reply;
    *reply.mutable_case_view() = stored.ok() ? *stored : answer->case_view();
    if (!local_ref.empty()) reply.mutable_case_view()->mutable_summary()->set_local_ref(local_ref);
    return Reply(client, std::move(reply));
  }
  if (IsDefinite(answer) && answer->has_error()) return Reply(client, *answer);
  auto cached = cache_->FindCase(case_id);
  if (cached.ok() && cached->has_value()) {
    wire::Envelope reply;
    *reply.mutable_case_view() = std::move(**cached);
    reply.mutable_case_view()->set_from_local_cache(true);
    return Reply(client, std::move(reply));
  }
  ReplyError(client,
             Status(wire::UNREACHABLE, "broker unreachable (" + BrokerStatus(answer).message() +
                                           ") and case " + case_id + " not known here"));
}

void AgentGateway::HandleListCases(Client client, const wire::ListCases& list) {
  wire::Envelope request;
  *request.mutable_list_cases() = list;
  link_->Request(std::move(request), ReadTimeoutMs(),
                 [this, client, list](Result<wire::Envelope> answer) {
                   AnswerListCases(client, list, answer);
                 });
}

void AgentGateway::AnswerListCases(const Client& client, const wire::ListCases& list,
                                   const Result<wire::Envelope>& answer) {
  // Requests still in the outbox are cases to the contact point too: shown on page one.
  bool first_page = list.after_case_id().empty();
  wire::Envelope reply;
  if (IsDefinite(answer) && answer->has_case_list()) {
    const auto& cases = answer->case_list().cases();
    Status recorded = cache_->RecordSummaries({cases.begin(), cases.end()});
    if (!recorded.ok()) {
      fail_stop_.Trip("cannot cache the case list", recorded);
      return ReplyError(client, recorded);
    }
    reply = *answer;
  } else if (IsDefinite(answer) && answer->has_error()) {
    return Reply(client, *answer);
  } else {
    // The gateway's own view, marked as such; a CaseList body even when it is empty, so that
    // the client always gets an answer it can read.
    auto* local = reply.mutable_case_list();
    local->set_from_local_cache(true);
    size_t limit = list.limit() == 0 ? kDefaultListLimit : list.limit();
    for (auto& summary : cache_->ListCases(list.after_case_id(), limit)) {
      *local->add_cases() = std::move(summary);
    }
  }
  if (first_page) {
    for (auto& summary : QueuedSummaries()) *reply.mutable_case_list()->add_cases() = summary;
    AddLocalEntries(*reply.mutable_case_list());
  }
  Reply(client, std::move(reply));
}

void AgentGateway::HandleGetAudit(Client client, const std::string& id) {
  wire::Envelope request;
  // Whatever a person typed: the broker is the authority on which ids exist.
  request.mutable_get_audit()->set_case_id(NormalizeCaseId(id).value_or(id));
  link_->Request(std::move(request), ReadTimeoutMs(),
                 [this, client](Result<wire::Envelope> answer) {
                   // No local copy to fall back on: the broker's answer or why there is none.
                   if (answer.ok()) return Reply(client, std::move(answer).value());
                   ReplyError(client, answer.status());
                 });
}

void AgentGateway::HandleExplainDeadline(Client client, wire::ExplainDeadline&& explain) {
  if (explain.partner().empty()) {
    return ReplyError(client, Status(wire::INVALID_ARGUMENT, "a partner is required"));
  }
  wire::Envelope request;
  explain.set_contact_point(options_.contact_point);
  *request.mutable_explain_deadline() = std::move(explain);
  link_->Request(std::move(request), ReadTimeoutMs(),
                 [this, client](Result<wire::Envelope> answer) {
                   // Computed at the broker (calendars, policies): its answer or why there is none.
                   if (answer.ok()) return Reply(client, std::move(answer).value());
                   ReplyError(client, answer.status());
                 });
}

// --- mailbox -------------------------------------------------------------------------------

void AgentGateway::FlushDeliveries() {
  if (pending_deliveries_.empty()) return;
  std::vector<wire::Delivery> deliveries = std::move(pending_deliveries_);
  pending_deliveries_.clear();
  std::vector<wire::Delivery> items;
  for (auto& delivery : deliveries) {
    if (IsMailboxItem(delivery)) {
      items.push_back(std::move(delivery));
    } else {
      // Not ours to store; leaving it unacknowledged lets the broker dead-letter it.
      spdlog::warn("delivery {} on {} carries neither mail nor an alert about a case; not "
                   "acknowledged",
                   delivery.delivery_id(), delivery.queue());
    }
  }
  if (items.empty()) return;
  const int64_t now = clock_.NowMs();
  size_t events = 0;
  auto stored = cache_->StoreDeliveries(
      items, [this, now, &events](rocksdb::WriteBatch& batch, const wire::Delivery& delivery,
                                  const wire::CaseView& view) {
        if (auto event = FeedEventOf(delivery, view)) {
          int64_t at = delivery.has_alert() ? delivery.alert().raised_at_ms()
                                            : delivery.mail().at_ms();
          feed_->Append(batch, *event, at > 0 ? at : now);
          ++events;
        }
      });
  if (!stored.ok()) {
    return fail_stop_.Trip("cannot store " + std::to_string(items.size()) + " mailbox item(s)",
                           stored.status());
  }
  if (events > 0) EventsPublished();
  // Duplicates are acknowledged again: the broker resent them because an ack was lost.
  std::map<std::string, std::vector<uint64_t>> by_queue;
  for (const auto& delivery : items) by_queue[delivery.queue()].push_back(delivery.delivery_id());
  commit_->AfterCommit([this, by_queue = std::move(by_queue)](const Status& committed) {
    if (!committed.ok()) return;  // not durable: the broker sends them again
    for (const auto& [queue, ids] : by_queue) link_->AckDeliveries(queue, ids);
  });
  if (*stored > 0) spdlog::info("stored {} new mailbox item(s)", *stored);
  for (const auto& delivery : items) {
    if (delivery.has_alert()) spdlog::warn("SLA alert: {}", delivery.alert().text());
  }
}

namespace {

// The feed type of each mailbox item (docs/openapi.yaml, FeedEvent.type); a kind without a row
// (NOTICE: a broker's note, not a change of the case) is not in the feed.
struct FeedTypeRow {
  bool alert;
  int kind;  // wire::MailItem::Kind or wire::Alert::Kind
  const char* type;
};
constexpr FeedTypeRow kFeedTypes[] = {
    {false, wire::MailItem::ACKNOWLEDGED, "case.acknowledged"},
    {false, wire::MailItem::REPLY, "case.answered"},
    {false, wire::MailItem::INFO_REQUESTED, "case.info_requested"},
    {false, wire::MailItem::TRANSFERRED, "case.transferred"},
    {false, wire::MailItem::ERASE_PERSONAL_DATA, "case.erase_personal_data"},
    {true, wire::Alert::WARNING, "sla.warning"},
    {true, wire::Alert::BREACH, "sla.breach"},
};

}  // namespace

std::optional<nlohmann::json> AgentGateway::FeedEventOf(const wire::Delivery& delivery,
                                                        const wire::CaseView& view) {
  bool alert = delivery.has_alert();
  int kind = alert ? static_cast<int>(delivery.alert().kind())
                   : static_cast<int>(delivery.mail().kind());
  const char* type = nullptr;
  for (const auto& row : kFeedTypes) {
    if (row.alert == alert && row.kind == kind) type = row.type;
  }
  if (type == nullptr) return std::nullopt;
  nlohmann::json event = {{"type", type}};
  event["caseId"] = alert ? delivery.alert().case_id() : delivery.mail().case_id();
  const std::string& partner = alert ? delivery.alert().partner() : delivery.mail().partner();
  if (!partner.empty()) event["partner"] = partner;
  const std::string& text = alert ? delivery.alert().text() : delivery.mail().text();
  if (!text.empty()) event["text"] = text;
  if (!view.summary().local_ref().empty()) event["localRef"] = view.summary().local_ref();
  if (!view.summary().agent().empty()) event["agent"] = view.summary().agent();
  return event;
}

std::string AgentGateway::NewIdempotencyKey() {
  char text[33];
  std::snprintf(text, sizeof(text), "%016llx%016llx", static_cast<unsigned long long>(random_()),
                static_cast<unsigned long long>(random_()));
  return text;
}

}  // namespace aplus
