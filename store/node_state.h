// What a node of a pair remembers about where its data came from (docs/AVAILABILITY.md, "Node
// state"): `<data-dir>.node`, an atomic file beside the data directory. It decides whether the
// node may resume from its last sequence or must fetch a whole copy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace aplus {

struct NodeState {
  int64_t epoch = 0;
  bool was_leader = false;  // written as "leader" when the node wins, "standby" when it follows
};

// The path of the state file of `data_dir`.
std::string NodeStatePath(const std::string& data_dir);
// nullopt when the file is absent; INVALID_ARGUMENT (with the path and what is wrong) when it
// cannot be read or is not {"epoch": integer >= 0, "role": "leader" or "standby"}.
Result<std::optional<NodeState>> LoadNodeState(const std::string& data_dir);
// Writes the file atomically and durably (common/atomic_file.h): {"epoch": N, "role":
// "leader" or "standby"}. UNAVAILABLE when it cannot (the previous file stays whole);
// INVALID_ARGUMENT for a negative epoch.
Status SaveNodeState(const std::string& data_dir, const NodeState& state);

}  // namespace aplus
