#include "broker/pair_node.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "broker/broker.h"
#include "broker/leadership.h"
#include "broker/standby_node.h"
#include "common/exit_codes.h"
#include "store/node_state.h"

namespace aplus {
namespace {

// Start-up: what an earlier run may have left beside the data directory. A checkpoint being
// sent or received holds copies (hard links) of erased data: removed. A copy swapped out by a
// full resync (`.old`) is put back when the swap did not finish (the data directory is
// missing), else removed.
Status TidyPairDirectories(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  const std::string old_copy = data_dir + ".old";
  if (!fs::exists(data_dir, error) && fs::exists(old_copy, error)) {
    fs::rename(old_copy, data_dir, error);
    if (error) return Status(wire::UNAVAILABLE, "cannot restore " + old_copy + ": " + error.message());
    spdlog::warn("restored {} from {} (a full copy was being swapped in)", data_dir, old_copy);
  }
  for (const char* leftover : {".old", ".incoming", ".checkpoint", ".checkpoint.tmp"}) {
    fs::remove_all(data_dir + leftover, error);
    if (error) {
      return Status(wire::UNAVAILABLE,
                    "cannot remove " + data_dir + leftover + ": " + error.message());
    }
  }
  return Status::Ok();
}

}  // namespace

int RunPairNode(const NetworkConfig& config, BrokerOptions options, const PairFlags& flags,
                zmq::context_t& context, const Clock& clock, const std::atomic<bool>& stop) {
  LeadershipOptions leadership_options;
  leadership_options.etcd_urls = flags.etcd_urls;
  leadership_options.prefix = "/aplus/" + config.name + "/";
  leadership_options.node = flags.node;
  leadership_options.endpoint = options.listen_endpoint;
  leadership_options.alerts = options.alerts_endpoint;
  leadership_options.replication =
      flags.replication_advertise.empty() ? flags.replication_listen : flags.replication_advertise;
  leadership_options.lease_ttl_s = config.availability.lease_ttl_s;
  leadership_options.margin_ms = config.availability.lease_margin_ms;
  auto leadership = Leadership::Start(leadership_options);
  if (!leadership.ok()) {
    std::cerr << "aplus-broker: " << leadership.status().message() << std::endl;
    return kExitStartupError;
  }

  // Whether this node may campaign is the standby's decision (StandbyNode::MayLead): it
  // depends on the copy it holds, known once the data directory is checked below.
  Status tidied = TidyPairDirectories(options.data_dir);
  if (!tidied.ok()) {
    std::cerr << "aplus-broker: " << tidied.message() << std::endl;
    return kExitStartupError;
  }
  StandbyOptions standby_options;
  standby_options.node = flags.node;
  standby_options.data_dir = options.data_dir;
  standby_options.listen_endpoint = options.listen_endpoint;
  standby_options.key_file = options.key_file;
  standby_options.peer_key_file = flags.peer_key_file;
  standby_options.keyring_dir = options.keyring_dir;
  standby_options.insecure = options.insecure;
  standby_options.http = HttpSettings(options);
  standby_options.process_started_ms = options.process_started_ms;
  standby_options.takeover_window_ms =
      config.availability.lease_ttl_s * 1000 + config.availability.lease_margin_ms + 1000;
  {
    auto standby = StandbyNode::Create(config, standby_options, context, **leadership);
    if (!standby.ok()) {
      std::cerr << "aplus-broker: " << standby.status().message() << std::endl;
      return kExitStartupError;
    }
    std::cout << "aplus-broker node " << flags.node << " in its pair (etcd " << flags.etcd_urls
              << "), answering NOT_LEADER on " << options.listen_endpoint
              << " until it leads" << std::endl;
    auto outcome = (*standby)->Run(stop);
    if (!outcome.ok()) {
      spdlog::critical("standby stopped: {}; exit status {}", outcome.status().ToString(),
                       kExitDurabilityLost);
      return kExitDurabilityLost;
    }
    if (*outcome == StandbyNode::Outcome::kStopped) {
      spdlog::info("stopped cleanly");
      return kExitOk;
    }
  }
  // Won: from now on this node's data is the pair's history; written down first, so that a
  // restart of this node never resumes as a standby from it (docs/AVAILABILITY.md).
  LeadershipView view = (*leadership)->View();
  if (view.role != NodeRole::kLeader || view.epoch == 0) {
    // Won, then lost before serving anything (the lease lapsed meanwhile).
    spdlog::critical("leadership lost right after it was won; exit status {}", kExitDemoted);
    return kExitDemoted;
  }
  Status saved = SaveNodeState(options.data_dir, NodeState{view.epoch, /*was_leader=*/true});
  if (!saved.ok()) {
    spdlog::critical("cannot record the node's state: {}", saved.ToString());
    return kExitDurabilityLost;
  }
  PairSettings pair;
  pair.leadership = leadership->get();
  pair.epoch = view.epoch;
  pair.node = flags.node;
  pair.replication_listen = flags.replication_listen;
  pair.peer_key_file = flags.peer_key_file;
  pair.availability = config.availability;
  options.pair = pair;
  auto broker = Broker::Create(config, options, context, clock);
  if (!broker.ok()) {
    spdlog::critical("cannot lead: {}", broker.status().ToString());
    return kExitDurabilityLost;
  }
  std::cout << "aplus-broker node " << flags.node << " leads (epoch " << view.epoch << ") on "
            << (*broker)->endpoint() << std::endl;
  Status served = (*broker)->Run(stop);
  broker.value().reset();
  if (served.ok()) {
    spdlog::info("stopped cleanly; leadership released");
    return kExitOk;
  }
  if (served.code() == wire::NOT_LEADER) return kExitDemoted;
  spdlog::critical("stopped: {}; exit status {}", served.ToString(), kExitDurabilityLost);
  return kExitDurabilityLost;
}

}  // namespace aplus
