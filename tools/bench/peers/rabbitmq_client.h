// RabbitMQ through librabbitmq (AMQP 0-9-1): a durable quorum queue (x-queue-type quorum, which
// fsyncs its log before the publisher confirm), persistent messages (delivery_mode 2), publisher
// confirms, and a consumer on its own connection with basic.qos prefetch acknowledging every
// message with its own basic.ack.
#pragma once

#include <memory>
#include <string>

#include "tools/bench/peers/peer_bench_options.h"
#include "tools/bench/peers/peer_client.h"

struct amqp_connection_state_t_;

namespace aplus::bench::peers {

// Thread rules: see PeerClient. Run() drives the publisher connection on the calling thread and
// the consumer connection on a thread of its own; a librabbitmq connection is never shared.
class RabbitMqClient : public PeerClient {
 public:
  explicit RabbitMqClient(const PeerBenchOptions& options);
  ~RabbitMqClient() override;

  Status Setup() override;
  Status Run(const std::optional<OpenLoopSchedule>& schedule, RunRecord& record) override;
  void Teardown() override;
  nlohmann::json SetupJson() const override;

 private:
  using Connection = amqp_connection_state_t_*;
  Result<Connection> Connect();
  void Close(Connection& connection);
  Status Consume(RunRecord& record, const std::atomic<bool>& stop);

  PeerBenchOptions options_;
  std::string host_;
  int port_ = 5672;
  std::string queue_;
  Connection publisher_ = nullptr;
  Connection consumer_ = nullptr;
};

}  // namespace aplus::bench::peers
