// One node of a pair of brokers (docs/AVAILABILITY.md): leadership through etcd, the standby
// until this node wins, then the Broker leading on the same data. Started by main for
// `aplus-broker --etcd ...`; a broker without --etcd never comes here.
#pragma once

#include <atomic>
#include <string>

#include <zmq.hpp>

#include "broker/broker_options.h"
#include "common/clock.h"
#include "common/network_config.h"

namespace aplus {

struct PairFlags {
  std::string node;
  std::string etcd_urls;
  std::string replication_listen;
  // What the other node dials (written in etcd); "" = replication_listen.
  std::string replication_advertise;
  std::string peer_key_file;
};

// Serves until `stop` or until this node can no longer serve; returns the process's exit
// status (common/exit_codes.h): 0 stopped, 1 start-up error, 75 durability lost, 76 demoted.
int RunPairNode(const NetworkConfig& config, BrokerOptions options, const PairFlags& flags,
                zmq::context_t& context, const Clock& clock, const std::atomic<bool>& stop);

}  // namespace aplus
