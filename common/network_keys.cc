#include "common/network_keys.h"

#include <sys/stat.h>

#include <filesystem>

#include "common/keyring.h"

namespace aplus {

std::string KeyNameFor(wire::Role role, const std::string& principal,
                       const std::string& territory) {
  switch (role) {
    case wire::AGENT_GATEWAY: return "cp." + principal;
    case wire::PARTNER_GATEWAY:
      return "partner." + principal + (territory.empty() ? "" : "." + territory);
    case wire::OPERATOR: return "op." + principal;
    case wire::ADMINISTRATOR: return "admin." + principal;
    case wire::CONSOLE: return "console." + principal;
    case wire::BROKER_PEER: return "broker-peer." + principal;
    default: return "";
  }
}

Result<CurveKeyPair> NetworkKeys::PairFor(const std::string& name) {
  auto known = pairs_.find(name);
  if (known != pairs_.end()) return known->second;
  std::string prefix = keys_dir_ + "/" + name;
  if (std::filesystem::exists(prefix + ".key")) {
    auto read = ReadSecretKeyFile(prefix + ".key");
    if (!read.ok()) return read.status();
    return pairs_[name] = *read;
  }
  auto pair = GenerateCurveKeyPair();
  if (!pair.ok()) return pair.status();
  Status written = WriteKeyPairFiles(prefix, *pair, /*overwrite=*/false);
  if (!written.ok()) return written;
  return pairs_[name] = *pair;
}

Result<CurveClientKeys> NetworkKeys::AddPrincipal(wire::Role role, const std::string& principal,
                                                  const std::string& territory) {
  std::string name = KeyNameFor(role, principal, territory);
  if (name.empty()) return Status(wire::INVALID_ARGUMENT, "no keys for this role");
  auto pair = PairFor(name);
  if (!pair.ok()) return pair.status();
  KeyringEntry entry{name, pair->public_key, role, principal, territory};
  if (!std::filesystem::exists(KeyringEntryPath(keyring_dir_, name))) {
    Status added = AddKeyringEntry(keyring_dir_, entry);
    if (!added.ok()) return added;
  }
  return CurveClientKeys{broker().public_key, *pair};
}

Result<NetworkKeys> NetworkKeys::Provision(const NetworkConfig& config,
                                           const std::string& keys_dir,
                                           const std::string& keyring_dir) {
  NetworkKeys keys;
  keys.keys_dir_ = keys_dir;
  keys.keyring_dir_ = keyring_dir;
  std::error_code error;
  std::filesystem::create_directories(keys_dir, error);
  if (error) return Status(wire::INVALID_ARGUMENT, "cannot create " + keys_dir + ": " + error.message());
  ::chmod(keys_dir.c_str(), 0700);
  auto broker = keys.PairFor("broker");
  if (!broker.ok()) return broker.status();
  auto add = [&](wire::Role role, const std::string& principal, const std::string& territory) {
    return keys.AddPrincipal(role, principal, territory).status();
  };
  for (const auto& point : config.contact_points) {
    if (Status s = add(wire::AGENT_GATEWAY, point.id, ""); !s.ok()) return s;
  }
  for (const auto& partner : config.partners) {
    if (Status s = add(wire::PARTNER_GATEWAY, partner.id, ""); !s.ok()) return s;
    if (!partner.per_territory) continue;
    for (const auto& territory : config.territories) {
      if (Status s = add(wire::PARTNER_GATEWAY, partner.id, territory.id); !s.ok()) return s;
    }
  }
  for (const auto& op : config.operators) {
    if (Status s = add(wire::OPERATOR, op.id, ""); !s.ok()) return s;
    if (!op.administrator) continue;  // administrator keys only for administrators
    if (Status s = add(wire::ADMINISTRATOR, op.id, ""); !s.ok()) return s;
  }
  // The operator console (aplus-console --console-id console, its default).
  if (Status s = add(wire::CONSOLE, std::string(kDefaultConsoleId), ""); !s.ok()) return s;
  return keys;
}

std::optional<CurveClientKeys> NetworkKeys::ClientKeys(wire::Role role,
                                                       const std::string& principal,
                                                       const std::string& territory) const {
  auto pair = pairs_.find(KeyNameFor(role, principal, territory));
  if (pair == pairs_.end()) return std::nullopt;
  return CurveClientKeys{broker().public_key, pair->second};
}

}  // namespace aplus
