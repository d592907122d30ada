#include "store/node_state.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"

namespace aplus {

namespace {

// The file's roles: the text stored, and what it means.
struct RoleName {
  const char* text;
  bool was_leader;
};
constexpr RoleName kRoles[] = {{"leader", true}, {"standby", false}};

Status Corrupt(const std::string& path, const std::string& why) {
  return Status(wire::INVALID_ARGUMENT, "node state " + path + ": " + why +
                                            " (remove it to make this node resync whole)");
}

}  // namespace

std::string NodeStatePath(const std::string& data_dir) {
  std::string dir = data_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + ".node";
}

Result<std::optional<NodeState>> LoadNodeState(const std::string& data_dir) {
  const std::string path = NodeStatePath(data_dir);
  std::error_code error;
  const bool exists = std::filesystem::exists(path, error);
  if (error) return Corrupt(path, "cannot be read: " + error.message());
  if (!exists) return std::optional<NodeState>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Corrupt(path, std::string("cannot be read: ") + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return Corrupt(path, "cannot be read");
  nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return Corrupt(path, "not a JSON object");
  auto epoch = json.find("epoch");
  if (epoch == json.end() || !epoch->is_number_integer() || epoch->get<int64_t>() < 0) {
    return Corrupt(path, "\"epoch\" is not an integer >= 0");
  }
  auto role = json.find("role");
  if (role == json.end() || !role->is_string()) return Corrupt(path, "\"role\" is not a string");
  NodeState state;
  state.epoch = epoch->get<int64_t>();
  const std::string role_text = role->get<std::string>();
  for (const auto& known : kRoles) {
    if (role_text == known.text) {
      state.was_leader = known.was_leader;
      return std::optional<NodeState>(state);
    }
  }
  return Corrupt(path, "unknown role \"" + role_text + "\" (leader or standby)");
}

Status SaveNodeState(const std::string& data_dir, const NodeState& state) {
  if (state.epoch < 0) return Status(wire::INVALID_ARGUMENT, "an epoch is >= 0");
  nlohmann::json json;
  json["epoch"] = state.epoch;
  for (const auto& known : kRoles) {
    if (known.was_leader == state.was_leader) json["role"] = known.text;
  }
  auto status = WriteFileAtomically(NodeStatePath(data_dir), json.dump() + "\n", 0600,
                                    /*overwrite=*/true);
  // A failed write leaves the previous state whole; the caller must not go on as if the new
  // one were recorded.
  if (!status.ok()) return Status(wire::UNAVAILABLE, status.message());
  return Status::Ok();
}

}  // namespace aplus
