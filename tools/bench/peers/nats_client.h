// NATS JetStream through libnats: a file-storage stream with work-queue retention, one
// publisher publishing asynchronously with at most --max-unconfirmed acks pending, and one
// push consumer (explicit acks, MaxAckPending --prefetch) acknowledging every message.
// nats-server does not fsync before the publish ack by default (it syncs its files every 2
// minutes; `jetstream { sync_interval: always }` makes it sync first from 2.10 on, 2.9.10
// refuses the field), so its figures are those of a store that is not durable at the moment of
// the ack: SetupJson() says so, and --server-syncs labels a run against a server set to sync.
#pragma once

#include <atomic>
#include <string>

#include "tools/bench/peers/peer_bench_options.h"
#include "tools/bench/peers/peer_client.h"

struct __natsConnection;
struct __jsCtx;
struct __natsSubscription;
struct __natsMsg;
struct jsPubAck;
struct jsPubAckErr;

namespace aplus::bench::peers {

// Thread rules: see PeerClient. The publisher runs on the calling thread; libnats calls the
// ack handler and the consumer's handler on its own threads (one each) during Run().
class NatsClient : public PeerClient {
 public:
  explicit NatsClient(const PeerBenchOptions& options);
  ~NatsClient() override;

  Status Setup() override;
  Status Run(const std::optional<OpenLoopSchedule>& schedule, RunRecord& record) override;
  void Teardown() override;
  nlohmann::json SetupJson() const override;

 private:
  static void OnPublishAck(__jsCtx* js, __natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                           void* closure);
  static void OnMessage(__natsConnection* connection, __natsSubscription* subscription,
                        __natsMsg* message, void* closure);

  PeerBenchOptions options_;
  std::string stream_;
  std::string subject_;
  __natsConnection* publisher_connection_ = nullptr;
  __natsConnection* consumer_connection_ = nullptr;
  __jsCtx* publisher_js_ = nullptr;
  __jsCtx* consumer_js_ = nullptr;
  __natsSubscription* subscription_ = nullptr;
  // The record of the run under way, for the library's callbacks (null outside Run()).
  std::atomic<RunRecord*> record_{nullptr};
};

}  // namespace aplus::bench::peers
