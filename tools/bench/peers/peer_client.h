// What aplus-peer-bench needs of a peer (a broker A+ is compared with): set up a durable queue
// fresh, run the pinned workload through it, tear it down. Implementations: RabbitMqClient
// (quorum queue, librabbitmq) and NatsClient (JetStream file-storage work-queue stream,
// libnats).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "common/status.h"
#include "tools/bench/peers/peer_run.h"

namespace aplus::bench::peers {

// Thread rules: every method is called from the main thread; Run() starts and joins whatever
// threads it needs (the client libraries may run callbacks on their own threads while Run()
// is under way, never after it returns).
class PeerClient {
 public:
  virtual ~PeerClient() = default;

  // Connects the publisher's and the consumer's connections and creates the queue (or stream
  // and consumer) fresh. UNREACHABLE when the server does not answer by the deadline,
  // INTERNAL when it refuses.
  [[nodiscard]] virtual Status Setup() = 0;

  // Publishes PlannedMessages() (at `schedule`'s times in an open loop, else as fast as the
  // window of unconfirmed messages allows), consumes and acknowledges each one, and returns
  // when every published message is confirmed and consumed. UNREACHABLE when no confirm or
  // delivery arrives for --timeout seconds; INTERNAL when the server closes the channel.
  // Every error seen is also counted in `record.errors`.
  [[nodiscard]] virtual Status Run(const std::optional<OpenLoopSchedule>& schedule,
                                   RunRecord& record) = 0;

  // Deletes the queue or stream and closes the connections; best effort, never blocks longer
  // than --timeout.
  virtual void Teardown() = 0;

  // The pinned settings of this peer and what its acknowledgement promises (durability).
  virtual nlohmann::json SetupJson() const = 0;
};

}  // namespace aplus::bench::peers
