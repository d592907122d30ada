#include "partner-gateway/partner_gateway.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <map>
#include <random>
#include <unordered_map>
#include <zmq_addon.hpp>

#include "common/case_id.h"
#include "common/wire.h"
#include "gateway/openapi_document.h"
#include "gateway/case_json.h"
#include "gateway/fail_stop_drain.h"
#include "gateway/start_up_errors.h"
#include "partner-gateway/partner_http_routes.h"

namespace aplus {
namespace {

constexpr int kMaxLocalMessagesPerTurn = 256;  // then serve the broker link again
constexpr char kMetaPartnerKey[] = "partner";
constexpr char kMetaNextLocalRefKey[] = "next_local_ref";
constexpr char kMetaInstanceKey[] = "instance";

// The feed event of an SLA reminder or a notice (the contact point's answer); nullopt for a
// delivery the feed does not report.
std::optional<nlohmann::json> NoticeEvent(const wire::Delivery& delivery,
                                          const std::string& partner) {
  nlohmann::json event;
  if (delivery.has_alert()) {
    const auto& alert = delivery.alert();
    event["type"] = alert.kind() == wire::Alert::BREACH ? "sla.breach" : "sla.warning";
    event["caseId"] = alert.case_id();
    if (!alert.text().empty()) event["text"] = alert.text();
  } else if (delivery.has_mail() && delivery.mail().kind() == wire::MailItem::NOTICE) {
    event["type"] = "case.info_answered";
    event["caseId"] = delivery.mail().case_id();
    if (!delivery.mail().text().empty()) event["text"] = delivery.mail().text();
  } else {
    return std::nullopt;
  }
  event["partner"] = partner;
  return event;
}

// What a person typed ("per-7k3m-q9xd") becomes the stored id; anything else is looked up
// as sent (an unknown id then answers UNKNOWN_CASE).
std::string CanonicalCaseId(const std::string& text) {
  auto normalized = NormalizeCaseId(text);
  return normalized ? *normalized : text;
}

// Notices and alerts the gateway stores and acknowledges: SLA alerts (warning or breach) and
// the NOTICE mail carrying the contact point's answer to a question.
bool IsKnownNotice(const wire::Delivery& delivery) {
  if (delivery.has_alert()) {
    const auto& alert = delivery.alert();
    return !alert.case_id().empty() &&
           (alert.kind() == wire::Alert::WARNING || alert.kind() == wire::Alert::BREACH);
  }
  if (delivery.has_mail()) {
    return !delivery.mail().case_id().empty() &&
           (delivery.mail().kind() == wire::MailItem::NOTICE ||
            delivery.mail().kind() == wire::MailItem::ERASE_PERSONAL_DATA);
  }
  return false;
}

// For logs: what a delivery carries.
std::string DescribeDelivery(const wire::Delivery& delivery) {
  if (delivery.has_alert()) return "alert " + wire::Alert::Kind_Name(delivery.alert().kind());
  if (delivery.has_mail()) return "mail " + wire::MailItem::Kind_Name(delivery.mail().kind());
  if (delivery.has_escalation()) return "escalation";
  return "no item";
}

bool IsAllBlank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace

Result<std::unique_ptr<PartnerGateway>> PartnerGateway::Open(zmq::context_t& context,
                                                             PartnerGatewayOptions options,
                                                             const Clock& clock) {
  std::unique_ptr<PartnerGateway> gateway(new PartnerGateway(context, std::move(options), clock));
  Status status = gateway->Init();
  if (!status.ok()) return status;
  return gateway;
}

PartnerGateway::PartnerGateway(zmq::context_t& context, PartnerGatewayOptions options,
                               const Clock& clock)
    : context_(context),
      options_(std::move(options)),
      clock_(clock),
      metrics_("aplus-partner-gateway", SystemClock().NowMs()),
      webhook_metrics_(metrics_.registry()) {}

PartnerGateway::~PartnerGateway() = default;

Status PartnerGateway::Init() {
  RocksDbOptions db_options;
  db_options.counter_families = {kPartnerMetaFamily};
  auto db = RocksDb::Open(options_.data_dir, {kInboxFamily, kOutboxFamily, kPartnerMetaFamily,
                                             kEventFeedFamily, kWebhookFamily},
                          db_options);
  if (!db.ok()) return db.status();
  db_ = std::move(db).value();

  // One data directory belongs to one partner: serving another partner's inbox would hand
  // its escalations to the wrong organisation.
  auto* meta = db_->Family(kPartnerMetaFamily);
  auto owner = db_->Get(meta, kMetaPartnerKey);
  if (!owner.ok()) return owner.status();
  if (owner->has_value() && **owner != options_.partner) {
    return Status(wire::UNAVAILABLE,
                  "data directory " + options_.data_dir + " belongs to partner " + **owner);
  }
  if (!owner->has_value()) {
    rocksdb::WriteBatch batch;
    batch.Put(meta, kMetaPartnerKey, options_.partner);
    Status written = db_->Write(batch);
    if (!written.ok()) return written;
  }

  if (Status loaded = LoadInstanceId(); !loaded.ok()) return loaded;
  auto feed = EventFeed::Open(*db_);
  if (!feed.ok()) return feed.status();
  feed_ = std::move(feed).value();

  inbox_ = std::make_unique<PartnerInbox>(*db_, options_.retention.personal_data_after);
  if (!options_.spool_dir.empty()) spool_ = std::make_unique<SpoolWriter>(options_.spool_dir);
  Status retention = StartRetention();
  if (!retention.ok()) return retention;

  try {
    local_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::router);
    local_->set(zmq::sockopt::linger, 0);
    // Oversized frames are answered TOO_LARGE up to a margin; beyond it the peer is dropped
    // before the frame is buffered whole.
    local_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_frame_bytes * 4));
    local_->bind(options_.listen_endpoint);
    local_endpoint_ = local_->get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return ListenFailure(options_.listen_endpoint, e.what());
  }

  wire::Hello hello;
  hello.set_role(wire::PARTNER_GATEWAY);
  hello.set_principal(options_.partner);
  hello.set_territory(options_.territory);
  hello.set_software(options_.software);
  try {
    link_ = std::make_unique<BrokerLink>(context_, options_.broker_endpoint, std::move(hello),
                                         options_.window, options_.curve);
  } catch (const zmq::error_t& e) {
    return ListenFailure(options_.broker_endpoint, e.what());
  }
  fail_stop_.SetHaltHook([this] { link_->Halt(); });
  commit_ = std::make_unique<GroupCommit>(*db_, fail_stop_);
  commit_->SetCommitObserver(metrics_.CommitObserver());
  forwarder_ = std::make_unique<RequestForwarder>(
      *db_, *link_, *inbox_, clock_, options_.partner, options_.forward_timeout_ms, fail_stop_,
      spool_.get(), [this] { return !commit_->open(); });
  link_->SetDeliveryHandler(
      [this](wire::Delivery&& delivery) { arrived_.push_back(std::move(delivery)); });
  link_->SetReadyHandler([this] { forwarder_->OnLinkReady(); });

  // Keys must not repeat across restarts: a per-start random prefix and a counter.
  std::random_device entropy;
  uint64_t salt = (uint64_t{entropy()} << 32) ^ entropy() ^ static_cast<uint64_t>(clock_.NowMs());
  key_prefix_ = fmt::format("pg-{:016x}-", salt);
  if (forwarder_->queued() > 0) {
    spdlog::info("{} request(s) in the outbox will be forwarded once the broker is reachable",
                 forwarder_->queued());
  }

  if (!options_.webhook_url.empty()) {
    WebhookSenderOptions sender;
    sender.partner = options_.partner;
    sender.url = options_.webhook_url;
    sender.secrets = options_.webhook_secrets;
    sender.schedule = options_.webhook_schedule;
    sender.timeout = std::chrono::milliseconds(options_.webhook_timeout_ms);
    sender.on_attempt = [this](WebhookState after) { webhook_metrics_.OnAttempt(after); };
    // Called on the sender's thread: the loop trips the FailStop at its next turn.
    auto started = WebhookSender::Start(*db_, std::move(sender), clock_,
                                        [this](const Status&) { webhook_record_failed_ = true; });
    if (!started.ok()) return started.status();
    webhooks_ = std::move(started).value();
    webhooks_->SetDurableSequence(feed_->last_sequence());  // everything on disk at start
    webhooks_->Wake();
    std::string host = WebhookUrl::Parse(options_.webhook_url)->host;
    link_->SetPingFiller([this, host](wire::Ping& ping) {
      int64_t since = webhooks_->failing_since_ms();
      ping.set_webhooks_failing_since_ms(since);
      if (since != 0) ping.set_webhook_url_host(host);
    });
    spdlog::info("webhooks to {} ({})", options_.webhook_url, options_.webhook_schedule.ToString());
  }
  if (options_.http) {
    HttpFrontDoorOptions door;
    door.server = *options_.http;
    door.token_dir = options_.token_dir;
    door.contract_yaml = OpenApiDocument();
    door.after_commit = [this](GroupCommit::Effect effect) {
      commit_->AfterCommit(std::move(effect));
    };
    door.count_answer = metrics_.HttpCounter();
    auto routes = PartnerHttpRoutes(*this);
    routes.push_back(metrics_.Route([this] {
      metrics_.SetOutbox(forwarder_->outbox());
      webhook_metrics_.Update(webhooks_.get());
    }));
    auto started = HttpFrontDoor::Start(std::move(door), std::move(routes));
    if (!started.ok()) return started.status();
    front_door_ = std::move(started).value();
  }
  return Status::Ok();
}

Status PartnerGateway::LoadInstanceId() {
  auto* meta = db_->Family(kPartnerMetaFamily);
  auto stored = db_->Get(meta, kMetaInstanceKey);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    instance_id_ = **stored;
    return Status::Ok();
  }
  std::random_device entropy;
  instance_id_ = fmt::format("{:08x}{:08x}", entropy(), entropy());
  rocksdb::WriteBatch batch;
  batch.Put(meta, kMetaInstanceKey, instance_id_);
  return db_->Write(batch);
}

void PartnerGateway::AppendEvent(rocksdb::WriteBatch& batch, const nlohmann::json& event,
                                 int64_t at_ms) {
  uint64_t sequence = feed_->Append(batch, event, at_ms);
  if (!webhooks_) return;
  Webhook webhook;
  webhook.partner = options_.partner;
  webhook.sequence = sequence;
  webhook.id = "msg_" + instance_id_ + "_" + std::to_string(sequence);
  webhook.body = EventFeed::PublicForm(sequence, event, at_ms).dump();
  webhook.queued_ms = at_ms;
  webhook.next_try_ms = at_ms;
  // Only fails for an empty partner or id, which cannot happen here.
  Status queued = WebhookQueue(*db_).Enqueue(batch, webhook);
  if (!queued.ok()) spdlog::error("cannot queue webhook {}: {}", webhook.id, queued.ToString());
}

void PartnerGateway::EventsPublished() {
  // Readers (long polls, the webhook sender's thread) see an event only once its turn's group
  // commit made it durable: a cursor or webhook-id handed out before the fsync could be given
  // to another event after a crash.
  if (commit_ != nullptr && commit_->open()) {
    commit_->AfterCommit([this](const Status& committed) {
      if (committed.ok()) EventsPublished();
    });
    return;
  }
  feed_->Published();
  if (webhooks_) {
    webhooks_->SetDurableSequence(feed_->last_sequence());
    webhooks_->Wake();
  }
}

wire::Envelope PartnerGateway::HandleWebhooks(const wire::Envelope& request) {
  if (!webhooks_) {
    counters_.errors_answered++;
    return MakeErrorEnvelope(
        0, Status(wire::UNAVAILABLE, "this partner gateway sends no webhooks (no --webhook-url)"));
  }
  wire::Envelope answer;
  if (request.has_redeliver_webhooks()) {
    const auto& redeliver = request.redeliver_webhooks();
    uint32_t count = 0;
    if (redeliver.failed()) {
      auto moved = webhooks_->RedeliverFailed();
      if (!moved.ok()) return MakeErrorEnvelope(0, moved.status());
      count = static_cast<uint32_t>(*moved);
    } else {
      if (redeliver.id().empty()) {
        counters_.errors_answered++;
        return MakeErrorEnvelope(0, Status(wire::INVALID_ARGUMENT, "a webhook id is required"));
      }
      Status status = webhooks_->Redeliver(redeliver.id());
      if (!status.ok()) return MakeErrorEnvelope(0, status);
      count = 1;
    }
    answer.mutable_webhooks_redelivered()->set_count(count);
    return answer;
  }
  const auto& list = request.list_webhooks();
  uint32_t limit = list.limit() == 0 ? kDefaultInboxLimit : std::min(list.limit(), kMaxInboxLimit);
  auto webhooks = webhooks_->List(list.failed_only(), 0);
  if (!webhooks.ok()) return MakeErrorEnvelope(0, webhooks.status());
  auto* out = answer.mutable_webhook_list();
  out->set_url(options_.webhook_url);
  out->set_failing_since_ms(webhooks_->failing_since_ms());
  size_t skip = webhooks->size() > limit ? webhooks->size() - limit : 0;  // the newest
  for (size_t i = skip; i < webhooks->size(); ++i) {
    const Webhook& webhook = (*webhooks)[i];
    auto* info = out->add_webhooks();
    info->set_id(webhook.id);
    info->set_sequence(webhook.sequence);
    info->set_state(std::string(WebhookStateName(webhook.state)));
    info->set_queued_ms(webhook.queued_ms);
    if (webhook.state == WebhookState::kPending) info->set_next_try_ms(webhook.next_try_ms);
    auto body = nlohmann::json::parse(webhook.body, nullptr, false);
    if (body.is_object()) info->set_event_type(body.value("type", ""));
    for (const auto& attempt : webhook.attempts) {
      auto* a = info->add_attempts();
      a->set_at_ms(attempt.at_ms);
      a->set_status_code(static_cast<uint32_t>(attempt.status_code));
      a->set_error(attempt.error);
      a->set_next_try_ms(attempt.next_try_ms);
    }
  }
  return answer;
}

Result<PartnerInbox::Page> PartnerGateway::ListInbox(uint64_t after, size_t limit,
                                                     std::optional<wire::CaseState> state) {
  return inbox_->ListAfter(after, limit, state);
}

void PartnerGateway::Run(const std::atomic<bool>& stop) {
  while (!stop.load() && !fail_stop_.tripped()) {
    int timeout_ms = std::min(link_->NextWakeInMs(), forwarder_->NextWakeInMs());
    if (int64_t deadline = feed_->NextWaiterDeadlineMs(); deadline > 0) {
      int64_t until = deadline - SteadyNowMs();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(until, 0, timeout_ms));
    }
    // The link may replace its socket on any tick: take the handle afresh every turn.
    zmq::pollitem_t items[] = {{local_->handle(), 0, ZMQ_POLLIN, 0},
                               {link_->socket().handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, front_door_ ? front_door_->fd() : -1, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, front_door_ ? 3 : 2, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) spdlog::error("poll failed: {}", e.what());
      continue;  // a signal: look at `stop` again
    }
    // One group commit per turn (gateway/group_commit.h): what arrived together shares one
    // fsync; answers, acknowledgements and forwarded requests leave after it.
    if (webhook_record_failed_.load()) {
      fail_stop_.Trip("webhooks: cannot record an attempt",
                      Status(wire::UNAVAILABLE, "the webhook queue's write failed"));
      break;
    }
    commit_->Begin();
    if (items[1].revents & ZMQ_POLLIN) link_->OnReadable();
    ProcessDeliveries();
    if (items[0].revents & ZMQ_POLLIN) OnLocalReadable();
    if (front_door_ && (items[2].revents & ZMQ_POLLIN)) front_door_->Dispatch();
    if (commit_->Commit().ok()) forwarder_->MarkDurable();
    feed_->ExpireWaiters(SteadyNowMs());
    link_->OnTick();
    forwarder_->OnTick();
    SweepRetention();
  }
  if (fail_stop_.tripped()) {
    DrainAfterFailStop();
  } else {
    db_->FlushAtCleanStop();
  }
}

void PartnerGateway::DrainAfterFailStop() {
  forwarder_->AnswerAllWaitersQueued();
  feed_->AnswerAllWaiters(fail_stop_.status());
  if (front_door_) front_door_->Dispatch();
  AnswerLocalClientsBeforeExit(*local_, [this] {
    OnLocalReadable();
    if (front_door_) front_door_->Dispatch();
  });
}

// --- deliveries ---------------------------------------------------------------------------

void PartnerGateway::ProcessDeliveries() {
  if (arrived_.empty()) return;
  std::vector<wire::Delivery> deliveries = std::move(arrived_);
  arrived_.clear();

  struct PendingAck {
    std::string queue;
    uint64_t delivery_id;
  };
  std::map<std::string, std::vector<uint64_t>> acks;  // queue -> ids, acked after the commit
  std::vector<PartnerInbox::Arrival> fresh;
  std::vector<PendingAck> acks_if_stored;  // durable once `fresh` is written
  std::unordered_map<std::string, size_t> fresh_index;

  std::vector<const wire::Delivery*> notices;  // applied once the escalations are stored

  for (auto& delivery : deliveries) {
    if (IsKnownNotice(delivery)) {
      notices.push_back(&delivery);
      continue;
    }
    if (!delivery.has_escalation() || delivery.escalation().case_id().empty()) {
      // Not something this gateway understands: leave it unacknowledged so the broker
      // eventually dead-letters it (an operator can look at it) instead of losing it here.
      spdlog::error("delivery {} on {} carries nothing this gateway understands ({}); not "
                    "acknowledged",
                    delivery.delivery_id(), delivery.queue(), DescribeDelivery(delivery));
      continue;
    }
    const wire::Escalation& escalation = delivery.escalation();
    const std::string& case_id = escalation.case_id();
    if (fresh_index.count(case_id) > 0) {
      counters_.duplicate_deliveries++;
      acks_if_stored.push_back({delivery.queue(), delivery.delivery_id()});
      continue;
    }
    auto stored = inbox_->Find(case_id);
    if (!stored.ok()) {
      spdlog::error("cannot look up {}: {}; delivery not acknowledged", case_id,
                    stored.status().ToString());
      continue;
    }
    std::optional<wire::CaseView> previous;
    if (stored->has_value()) {
      const auto& summary = (**stored).summary();
      bool transferred_back = summary.state() == wire::TRANSFERRED &&
                              summary.partner() != options_.partner &&
                              escalation.partner() == options_.partner;
      if (!transferred_back) {
        // Our earlier ack was lost or late (or this is a late redelivery of a case we have
        // transferred away): acknowledge again so the broker stops redelivering.
        spdlog::debug("{} delivered again (attempt {}); already stored", case_id,
                      delivery.attempt());
        counters_.duplicate_deliveries++;
        acks[delivery.queue()].push_back(delivery.delivery_id());
        continue;
      }
      spdlog::info("{} was transferred back to this partner", case_id);
      previous = std::move(**stored);
    }
    if (spool_) {
      Status spooled = spool_->Write(escalation, delivery.attempt());
      if (!spooled.ok()) {
        spdlog::error("cannot spool {}: {}; delivery not acknowledged", case_id,
                      spooled.ToString());
        continue;
      }
    }
    fresh_index[case_id] = fresh.size();
    fresh.push_back({escalation, delivery.attempt(), std::move(previous)});
    acks_if_stored.push_back({delivery.queue(), delivery.delivery_id()});
  }

  if (!fresh.empty()) {
    const int64_t now_ms = clock_.NowMs();
    // The partner's systems hear of each new case in the same batch (feed event, webhook).
    Status status = inbox_->StoreNew(fresh, now_ms, [&](rocksdb::WriteBatch& batch) {
      for (const auto& item : fresh) {
        nlohmann::json event = {
            {"type", "case.delivered"},
            {"caseId", item.escalation.case_id()},
            {"partner", options_.partner},
            {"case", CaseViewJson(PartnerInbox::ViewOf(item.escalation, item.attempt, now_ms))}};
        AppendEvent(batch, event, now_ms);
      }
    });
    if (status.ok()) {
      EventsPublished();
      counters_.deliveries_stored += fresh.size();
      for (const auto& item : fresh) {
        spdlog::info("stored {} ({} from {}, attempt {})", item.escalation.case_id(),
                     item.escalation.category(), item.escalation.contact_point(), item.attempt);
      }
      for (const auto& ack : acks_if_stored) acks[ack.queue].push_back(ack.delivery_id);
    } else {
      // Not acknowledged: the broker redelivers to the restarted gateway.
      return fail_stop_.Trip("cannot store " + std::to_string(fresh.size()) +
                                 " delivered escalation(s)",
                             status);
    }
  }
  for (const wire::Delivery* notice : notices) {
    if (StoreNotice(*notice)) acks[notice->queue()].push_back(notice->delivery_id());
    if (fail_stop_.tripped()) return;
  }
  commit_->AfterCommit([this, acks = std::move(acks)](const Status& committed) {
    if (!committed.ok()) return;  // not durable: the broker delivers them again
    for (const auto& [queue, ids] : acks) {
      link_->AckDeliveries(queue, ids);
      counters_.deliveries_acked += ids.size();
    }
  });
}

bool PartnerGateway::StoreNotice(const wire::Delivery& delivery) {
  const std::string& case_id =
      delivery.has_alert() ? delivery.alert().case_id() : delivery.mail().case_id();
  if (delivery.has_mail() && delivery.mail().kind() == wire::MailItem::ERASE_PERSONAL_DATA) {
    return EraseOnNotice(case_id);  // acknowledged once the copy is erased
  }
  if (delivery.has_alert() && spool_) {
    // Before the ack, like escalations: the partner's systems may watch only the spool.
    Status spooled = spool_->WriteAlert(delivery.alert(), delivery.attempt());
    if (!spooled.ok()) {
      spdlog::error("cannot spool the alert of {}: {}; delivery not acknowledged", case_id,
                    spooled.ToString());
      return false;
    }
  }
  const int64_t now_ms = clock_.NowMs();
  auto stored = inbox_->StoreNotice(
      delivery, now_ms,
      [&](rocksdb::WriteBatch& batch, const std::optional<wire::CaseView>& view) {
        auto event = NoticeEvent(delivery, options_.partner);
        if (!event) return;
        // A case whose personal data is erased here: its news comes without the text.
        if (view && view->summary().personal_data_erased()) event->erase("text");
        AppendEvent(batch, *event, now_ms);
      });
  if (!stored.ok()) {
    fail_stop_.Trip("cannot store the " + DescribeDelivery(delivery) + " of " + case_id,
                    stored.status());
    return false;
  }
  if (!*stored) {
    counters_.duplicate_deliveries++;
    return true;  // stored before; the broker did not see our ack
  }
  EventsPublished();
  counters_.notices_stored++;
  if (delivery.has_alert()) {
    spdlog::warn("SLA reminder for {}: {}", case_id, delivery.alert().text());
  } else {
    spdlog::info("the contact point answered the question on {}", case_id);
  }
  return true;
}

// --- local endpoint -----------------------------------------------------------------------

void PartnerGateway::OnLocalReadable() {
  for (int i = 0; i < kMaxLocalMessagesPerTurn; ++i) {
    std::vector<zmq::message_t> frames;
    try {
      if (!zmq::recv_multipart(*local_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        return;
      }
    } catch (const zmq::error_t& e) {
      spdlog::warn("local receive failed: {}", e.what());
      return;
    }
    if (frames.empty()) continue;
    LocalClient client;
    client.route.push_back(frames[0].to_string());
    // DEALER peers send [id][payload]; REQ peers [id][""][payload] (the delimiter is echoed).
    if (frames.size() == 3 && frames[1].size() == 0) {
      client.route.emplace_back();
      HandleLocal(std::move(client), frames[2]);
    } else if (frames.size() == 2) {
      HandleLocal(std::move(client), frames[1]);
    } else {
      counters_.errors_answered++;
      SendLocal(client, MakeErrorEnvelope(0, Status(wire::MALFORMED, "expected one frame")));
    }
  }
}

void PartnerGateway::HandleLocal(LocalClient client, const zmq::message_t& payload) {
  auto decoded = DecodeEnvelope(payload.data(), payload.size(), options_.max_frame_bytes);
  if (!decoded.ok()) {
    counters_.errors_answered++;
    SendLocal(client, MakeErrorEnvelope(0, decoded.status()));
    return;
  }
  client.request_id = decoded->request_id();
  Serve(std::move(decoded).value(), std::move(client));
}

void PartnerGateway::Serve(wire::Envelope request, LocalClient client) {
  // Stopping after a failed durable write: nothing new is accepted, but everyone is answered.
  if (fail_stop_.tripped()) {
    counters_.errors_answered++;
    return SendLocal(client, MakeErrorEnvelope(0, fail_stop_.status()));
  }
  switch (request.body_case()) {
    case wire::Envelope::kGetInbox:
      SendLocal(client, HandleGetInbox(request.get_inbox()));
      return;
    case wire::Envelope::kGetCase:
      SendLocal(client, HandleGetCase(request.get_case()));
      return;
    case wire::Envelope::kAcknowledgeCase:
    case wire::Envelope::kReplyCase:
    case wire::Envelope::kAskInfo:
    case wire::Envelope::kTransferCase:
      HandleMutation(std::move(client), std::move(request));
      return;
    case wire::Envelope::kRetryLocal:
    case wire::Envelope::kDiscardLocal:
      SendLocal(client, HandleLocalEntry(request));
      return;
    case wire::Envelope::kListWebhooks:
    case wire::Envelope::kRedeliverWebhooks:
      SendLocal(client, HandleWebhooks(request));
      return;
    case wire::Envelope::kPing: {
      wire::Envelope pong;
      pong.mutable_pong();
      SendLocal(client, std::move(pong));
      return;
    }
    default:
      SendLocal(client,
                MakeErrorEnvelope(0, Status(wire::UNKNOWN_MESSAGE,
                                            "the partner gateway does not serve " +
                                                BodyName(request))));
  }
}

wire::Envelope PartnerGateway::HandleGetInbox(const wire::GetInbox& request) {
  uint32_t limit =
      request.limit() == 0 ? kDefaultInboxLimit : std::min(request.limit(), kMaxInboxLimit);
  auto views = inbox_->Newest(limit);
  if (!views.ok()) return MakeErrorEnvelope(0, views.status());
  wire::Envelope answer;
  auto* inbox = answer.mutable_inbox();
  for (const auto& view : *views) {
    *inbox->add_escalations() = PartnerInbox::EscalationOf(view);
    inbox->add_states(view.summary().state());
  }
  for (auto& entry : forwarder_->LocalEntries()) *inbox->add_outbox() = std::move(entry);
  return answer;
}

wire::Envelope PartnerGateway::HandleLocalEntry(const wire::Envelope& request) {
  bool retry = request.has_retry_local();
  const std::string& ref =
      retry ? request.retry_local().local_ref() : request.discard_local().local_ref();
  if (ref.empty()) {
    counters_.errors_answered++;
    return MakeErrorEnvelope(0, Status(wire::INVALID_ARGUMENT, "a local ref is required"));
  }
  auto entry = retry ? forwarder_->Retry(ref) : forwarder_->Discard(ref);
  if (!entry.ok()) {
    counters_.errors_answered++;
    return MakeErrorEnvelope(0, entry.status());
  }
  wire::Envelope answer;
  *answer.mutable_local_entry() = std::move(entry).value();
  return answer;
}

Result<std::string> PartnerGateway::AllocateLocalRef(rocksdb::WriteBatch& batch) {
  auto* meta = db_->Family(kPartnerMetaFamily);
  if (next_local_ref_ == 0) {
    auto stored = db_->Get(meta, kMetaNextLocalRefKey);
    if (!stored.ok()) return stored.status();
    next_local_ref_ = 1;
    if (stored->has_value() && (*stored)->size() == 8) {
      next_local_ref_ = ReadBigEndian64((*stored)->data());
    }
  }
  uint64_t next = next_local_ref_++;
  std::string value;
  AppendBigEndian64(value, next_local_ref_);
  batch.Put(meta, kMetaNextLocalRefKey, value);
  return "LOC-" + std::to_string(next);
}

wire::Envelope PartnerGateway::HandleGetCase(const wire::GetCase& request) {
  std::string case_id = CanonicalCaseId(request.case_id());
  auto found = inbox_->Find(case_id);
  if (!found.ok()) return MakeErrorEnvelope(0, found.status());
  if (!found->has_value()) {
    return MakeErrorEnvelope(0, Status(wire::UNKNOWN_CASE, "no case '" + request.case_id() +
                                                               "' in this partner's inbox"));
  }
  wire::Envelope answer;
  *answer.mutable_case_view() = std::move(**found);
  return answer;
}

void PartnerGateway::HandleMutation(LocalClient client, wire::Envelope&& request) {
  MutationFields fields = FieldsOf(request);
  const std::string typed = *fields.case_id;
  *fields.case_id = CanonicalCaseId(typed);
  auto refuse = [&](const Status& status) {
    counters_.errors_answered++;
    SendLocal(client, MakeErrorEnvelope(0, status));
  };
  auto found = inbox_->Find(*fields.case_id);
  if (!found.ok()) {
    SendLocal(client, MakeErrorEnvelope(0, found.status()));
    return;
  }
  if (!found->has_value()) {
    return refuse(Status(wire::UNKNOWN_CASE, "no case '" + typed + "' in this partner's inbox"));
  }
  const auto& summary = (**found).summary();
  if (summary.state() == wire::TRANSFERRED && summary.partner() != options_.partner) {
    // The broker would say the same: the case belongs to another partner now.
    return refuse(Status(wire::UNKNOWN_CASE, "case " + *fields.case_id +
                                                 " was transferred to " + summary.partner()));
  }
  if (Status invalid = CheckArguments(request); !invalid.ok()) return refuse(invalid);
  // The key makes the broker apply the request once however often it is retried.
  if (fields.idempotency_key->empty()) *fields.idempotency_key = NewIdempotencyKey();
  counters_.requests_queued++;
  // The ref's counter is written in the outbox entry's batch: durable together, one write.
  rocksdb::WriteBatch batch;
  auto local_ref = AllocateLocalRef(batch);
  if (!local_ref.ok()) return refuse(local_ref.status());
  forwarder_->Enqueue(
      std::move(request), std::move(local_ref).value(),
      [this, client = std::move(client)](wire::Envelope answer) {
        SendLocal(client, std::move(answer));
      },
      &batch);
}

PartnerGateway::MutationFields PartnerGateway::FieldsOf(wire::Envelope& request) {
  switch (request.body_case()) {
    case wire::Envelope::kReplyCase:
      return {request.mutable_reply_case()->mutable_case_id(),
              request.mutable_reply_case()->mutable_idempotency_key()};
    case wire::Envelope::kAskInfo:
      return {request.mutable_ask_info()->mutable_case_id(),
              request.mutable_ask_info()->mutable_idempotency_key()};
    case wire::Envelope::kTransferCase:
      return {request.mutable_transfer_case()->mutable_case_id(),
              request.mutable_transfer_case()->mutable_idempotency_key()};
    default:
      return {request.mutable_acknowledge_case()->mutable_case_id(),
              request.mutable_acknowledge_case()->mutable_idempotency_key()};
  }
}

Status PartnerGateway::CheckArguments(const wire::Envelope& request) const {
  switch (request.body_case()) {
    case wire::Envelope::kReplyCase:
      if (IsAllBlank(request.reply_case().text())) {
        return Status(wire::INVALID_ARGUMENT, "the reply text is empty");
      }
      break;
    case wire::Envelope::kAskInfo:
      if (IsAllBlank(request.ask_info().question())) {
        return Status(wire::INVALID_ARGUMENT, "the question is empty");
      }
      break;
    case wire::Envelope::kTransferCase: {
      const auto& transfer = request.transfer_case();
      if (IsAllBlank(transfer.to_partner())) {
        return Status(wire::INVALID_ARGUMENT, "a transfer needs the partner to transfer to");
      }
      if (transfer.to_partner() == options_.partner) {
        return Status(wire::INVALID_ARGUMENT, "a partner cannot transfer a case to itself");
      }
      if (IsAllBlank(transfer.reason())) {
        return Status(wire::INVALID_ARGUMENT, "a transfer needs a reason");
      }
      break;
    }
    default:
      break;
  }
  return Status::Ok();
}

void PartnerGateway::SendLocal(const LocalClient& client, wire::Envelope answer) {
  // Inside a turn the answer waits for the turn's commit: it may rest on this turn's writes.
  if (commit_ != nullptr && commit_->open()) {
    commit_->AfterCommit([this, client, answer = std::move(answer)](
                             const Status& committed) mutable {
      SendLocal(client, committed.ok() ? std::move(answer)
                                       : MakeErrorEnvelope(client.request_id, committed));
    });
    return;
  }
  answer.set_request_id(client.request_id);
  if (client.answer) {
    client.answer(std::move(answer));
    return;
  }
  try {
    for (const auto& frame : client.route) {
      local_->send(zmq::buffer(frame), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    }
    local_->send(EncodeEnvelope(answer), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    // The client left; its answer is not needed (the request itself is durable).
    spdlog::debug("cannot answer local client: {}", e.what());
  }
}

std::string PartnerGateway::NewIdempotencyKey() {
  return key_prefix_ + std::to_string(++key_counter_);
}

}  // namespace aplus
