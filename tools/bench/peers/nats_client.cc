#include "tools/bench/peers/nats_client.h"

#include <nats/nats.h>
#include <unistd.h>

#include <thread>

namespace aplus::bench::peers {
namespace {

std::string NatsError(const char* what, natsStatus status) {
  std::string text = std::string(what) + ": " + natsStatus_GetText(status);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') text += std::string(" (") + last + ")";
  return text;
}

Status NatsStatus(const char* what, natsStatus status, jsErrCode code = static_cast<jsErrCode>(0)) {
  if (status == NATS_OK) return Status::Ok();
  std::string text = NatsError(what, status);
  if (code != 0) text += " [JetStream error " + std::to_string(static_cast<int>(code)) + "]";
  bool unreachable = status == NATS_TIMEOUT || status == NATS_NO_SERVER ||
                     status == NATS_CONNECTION_CLOSED || status == NATS_NO_RESPONDERS;
  return Status(unreachable ? wire::UNREACHABLE : wire::INTERNAL, text);
}

}  // namespace

NatsClient::NatsClient(const PeerBenchOptions& options) : options_(options) {
  std::string tag = std::to_string(getpid()) + "_" + std::to_string(SteadyNowNs());
  stream_ = "APLUS_PEER_BENCH_" + tag;
  subject_ = "aplus.peer.bench." + tag;
}

NatsClient::~NatsClient() { Teardown(); }

nlohmann::json NatsClient::SetupJson() const {
  return {{"peer", "NATS JetStream file store"},
          {"client", std::string("libnats ") + nats_GetVersion()},
          {"url", options_.url},
          {"stream", "file storage, work-queue retention, 1 replica"},
          {"publisher",
           "async publish, at most " + std::to_string(options_.max_unconfirmed) + " acks pending"},
          {"consumer", "own connection, push consumer, explicit ack, MaxAckPending " +
                           std::to_string(options_.prefetch) + ", one ack per message"},
          {"durability",
           options_.server_syncs
               ? "fsync before the publish ack (jetstream sync_interval: always)"
               : "no fsync before the publish ack (by default the file store syncs every 2 "
                 "minutes)"}};
}

Status NatsClient::Setup() {
  natsOptions* nats_options = nullptr;
  natsStatus s = natsOptions_Create(&nats_options);
  if (s == NATS_OK) s = natsOptions_SetURL(nats_options, options_.url.c_str());
  if (s == NATS_OK)
    s = natsOptions_SetTimeout(nats_options, static_cast<int64_t>(options_.timeout_seconds * 1000));
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nats_options, 0);
  if (s == NATS_OK) s = natsConnection_Connect(&publisher_connection_, nats_options);
  if (s == NATS_OK) s = natsConnection_Connect(&consumer_connection_, nats_options);
  natsOptions_Destroy(nats_options);
  if (s != NATS_OK) return NatsStatus(("NATS at " + options_.url).c_str(), s);

  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = static_cast<int64_t>(options_.timeout_seconds * 1000);
  js_options.PublishAsync.MaxPending = options_.max_unconfirmed;
  js_options.PublishAsync.AckHandler = &NatsClient::OnPublishAck;
  js_options.PublishAsync.AckHandlerClosure = this;
  js_options.PublishAsync.StallWait = static_cast<int64_t>(options_.timeout_seconds * 1000);
  s = natsConnection_JetStream(&publisher_js_, publisher_connection_, &js_options);
  if (s != NATS_OK) return NatsStatus("JetStream context", s);
  jsOptions consumer_options;
  jsOptions_Init(&consumer_options);
  consumer_options.Wait = js_options.Wait;
  s = natsConnection_JetStream(&consumer_js_, consumer_connection_, &consumer_options);
  if (s != NATS_OK) return NatsStatus("JetStream context", s);

  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = stream_.c_str();
  const char* subjects[] = {subject_.c_str()};
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Retention = js_WorkQueuePolicy;
  config.Replicas = 1;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  s = js_AddStream(&info, publisher_js_, &config, nullptr, &code);
  jsStreamInfo_Destroy(info);
  if (s != NATS_OK) return NatsStatus("add stream (file, work queue)", s, code);

  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = stream_.c_str();
  sub_options.ManualAck = true;
  sub_options.Config.Durable = "aplus-peer-bench";
  sub_options.Config.AckPolicy = js_AckExplicit;
  sub_options.Config.DeliverPolicy = js_DeliverAll;
  sub_options.Config.MaxAckPending = options_.prefetch;
  s = js_Subscribe(&subscription_, consumer_js_, subject_.c_str(), &NatsClient::OnMessage, this,
                   nullptr, &sub_options, &code);
  if (s != NATS_OK) return NatsStatus("subscribe (push consumer)", s, code);
  // The library's own buffer of undelivered messages must never be what limits the consumer.
  natsSubscription_SetPendingLimits(subscription_, -1, -1);
  return Status::Ok();
}

void NatsClient::Teardown() {
  if (subscription_ != nullptr) {
    natsSubscription_Unsubscribe(subscription_);
    natsSubscription_Destroy(subscription_);
    subscription_ = nullptr;
  }
  if (publisher_js_ != nullptr) {
    js_DeleteStream(publisher_js_, stream_.c_str(), nullptr, nullptr);
    jsCtx_Destroy(publisher_js_);
    publisher_js_ = nullptr;
  }
  if (consumer_js_ != nullptr) {
    jsCtx_Destroy(consumer_js_);
    consumer_js_ = nullptr;
  }
  for (natsConnection** connection : {&publisher_connection_, &consumer_connection_}) {
    if (*connection == nullptr) continue;
    natsConnection_Destroy(*connection);
    *connection = nullptr;
  }
}

void NatsClient::OnPublishAck(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                              void* closure) {
  auto* self = static_cast<NatsClient*>(closure);
  RunRecord* record = self->record_.load();
  if (record != nullptr) {
    int64_t now = SteadyNowNs();
    uint64_t serial = 0;
    int64_t stamp = 0;
    if (error != nullptr || ack == nullptr) {
      record->errors.Add("publish_nack",
                         error != nullptr && error->ErrText != nullptr ? error->ErrText : "no ack");
    } else if (ReadStamp(natsMsg_GetData(message), natsMsg_GetDataLength(message), &serial,
                         &stamp)) {
      record->OnConfirmed(stamp, now);
    }
  }
  natsMsg_Destroy(message);
}

void NatsClient::OnMessage(natsConnection*, natsSubscription*, natsMsg* message, void* closure) {
  auto* self = static_cast<NatsClient*>(closure);
  RunRecord* record = self->record_.load();
  int64_t now = SteadyNowNs();
  natsStatus acked = natsMsg_Ack(message, nullptr);
  if (record != nullptr) {
    uint64_t serial = 0;
    int64_t stamp = 0;
    jsMsgMetaData* meta = nullptr;
    bool redelivery = false;
    if (natsMsg_GetMetaData(&meta, message) == NATS_OK) {
      redelivery = meta->NumDelivered > 1;
      jsMsgMetaData_Destroy(meta);
    }
    if (acked != NATS_OK) {
      record->errors.Add("consumer_ack_failed", natsStatus_GetText(acked));
    } else if (ReadStamp(natsMsg_GetData(message), natsMsg_GetDataLength(message), &serial,
                         &stamp)) {
      record->OnConsumed(serial, stamp, now, redelivery);
    } else {
      record->errors.Add("consume_foreign_message");
    }
  }
  natsMsg_Destroy(message);
}

Status NatsClient::Run(const std::optional<OpenLoopSchedule>& schedule, RunRecord& record) {
  const uint64_t planned = options_.PlannedMessages();
  const int64_t quiet_limit_ns = static_cast<int64_t>(options_.timeout_seconds * 1e9);
  record_ = &record;
  std::string payload(options_.message_bytes, 'x');
  Status status;
  for (uint64_t i = 0; i < planned; ++i) {
    int64_t stamp = schedule ? schedule->DueNs(i) : SteadyNowNs();
    if (schedule) SleepUntilNs(stamp);
    int64_t now = SteadyNowNs();
    if (i == 0) record.first_publish_ns = now;
    WriteStamp(payload, i, stamp);
    natsMsg* message = nullptr;
    natsStatus s = natsMsg_Create(&message, subject_.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    // The library waits (up to StallWait, --timeout) while MaxPending acks are outstanding.
    if (s == NATS_OK) s = js_PublishMsgAsync(publisher_js_, &message, nullptr);
    natsMsg_Destroy(message);  // no-op when the library took it
    if (s != NATS_OK) {
      record.errors.Add(s == NATS_TIMEOUT ? "publish_stalled" : "publish_failed",
                        NatsError("publish", s));
      status = NatsStatus("publish", s);
      break;
    }
    record.published.store(i + 1, std::memory_order_relaxed);
  }
  if (status.ok()) {
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = static_cast<int64_t>(options_.timeout_seconds * 1000);
    natsStatus s = js_PublishAsyncComplete(publisher_js_, &wait);
    if (s != NATS_OK) {
      record.errors.Add("confirm_timeout", NatsError("publish acks", s));
      status = NatsStatus("waiting for the publish acks", s);
    }
  }
  // Every message consumed, or no delivery for --timeout.
  uint64_t seen = record.consumed.load();
  int64_t last_progress = SteadyNowNs();
  while (status.ok() && record.consumed.load() < record.published.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    uint64_t now_seen = record.consumed.load();
    if (now_seen != seen) {
      seen = now_seen;
      last_progress = SteadyNowNs();
    } else if (SteadyNowNs() - last_progress > quiet_limit_ns) {
      record.errors.Add("consume_timeout");
      status = Status(wire::UNREACHABLE,
                      "NATS: no delivery for " + std::to_string(options_.timeout_seconds) + " s");
    }
  }
  // Callbacks may still run until the subscription is gone: stop them from writing.
  if (subscription_ != nullptr) natsSubscription_Unsubscribe(subscription_);
  record_ = nullptr;
  return status;
}

}  // namespace aplus::bench::peers
