#include "common/keyring.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <toml++/toml.h>

#include "common/atomic_file.h"
#include "common/curve_keys.h"
#include "common/entry_directory.h"
#include "common/text.h"

namespace aplus {
namespace {

constexpr mode_t kKeyringFileMode = 0644;

struct RoleSpelling {
  wire::Role role;
  std::string_view name;
};
constexpr RoleSpelling kRoles[] = {{wire::AGENT_GATEWAY, "agent-gateway"},
                                   {wire::PARTNER_GATEWAY, "partner-gateway"},
                                   {wire::OPERATOR, "operator"},
                                   {wire::ADMINISTRATOR, "administrator"},
                                   {wire::CONSOLE, "console"},
                                   {wire::BROKER_PEER, "broker-peer"}};

constexpr std::string_view kKeyringKnownKeys[] = {"name", "public-key", "role", "principal",
                                                  "territory"};

constexpr EntryDirectoryRules kKeyringDirectoryRules{.label = "keyring",
                                                     .dir_grants = "add a key",
                                                     .file_grants = "change who this key is",
                                                     .entry_kind = "keyring entry",
                                                     .dir_noun = "keyring",
                                                     .entry_noun = "key",
                                                     .follow_symlinks = true};

// As network config ids (common/network_config.h).
bool IsId(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsIdChar);
}

std::string KeyPrefix(std::string_view key) {
  return std::string(key.substr(0, 8)) + (key.size() > 8 ? "..." : "");
}

std::string KeyringEntryText(const KeyringEntry& entry) {
  // Every value was checked by ValidateKeyringEntry: ids, Z85 and role names have no '"',
  // '\\' or control character, so they go into TOML basic strings unescaped.
  std::string text = "# A+ keyring entry. Written by `aplus keyring add`.\n";
  text += "name = \"" + entry.name + "\"\n";
  text += "public-key = \"" + entry.public_key + "\"\n";
  text += "role = \"" + RoleName(entry.role) + "\"\n";
  text += "principal = \"" + entry.principal + "\"\n";
  if (!entry.territory.empty()) text += "territory = \"" + entry.territory + "\"\n";
  return text;
}

// What one entry file holds, or why it cannot be used. `public_key` is the key the file
// claims even when the entry is refused for another reason, so that an add never hands out a
// key some broken file already holds.
struct KeyringFileRead {
  std::string path;
  KeyringEntry entry;
  std::string problem;     // "" = the entry is good
  std::string public_key;  // as written in the file, "" when unreadable
};

// Every value of a keyring entry is a string.
std::string KeyringValueProblem(std::string_view key, const toml::node& value) {
  return value.is_string() ? std::string() : "'" + std::string(key) + "' must be a string";
}

// Reads and checks one "<name>.toml". Problems start with the path, or "path:line:column".
KeyringFileRead ReadKeyringFile(const EntryFile& file) {
  KeyringFileRead read;
  read.path = file.path;
  Result<toml::table> parsed = ParseEntryFile(file);
  if (!parsed.ok()) {
    read.problem = parsed.status().message();
    return read;
  }
  const toml::table& table = *parsed;
  if (const auto* key = table.get_as<std::string>("public-key")) read.public_key = key->get();

  // "teritory" ignored would give a gateway every territory of its partner.
  Status keys = CheckEntryKeys(file, table, kKeyringKnownKeys, KeyringValueProblem);
  if (!keys.ok()) {
    read.problem = keys.message();
    return read;
  }
  auto text_of = [&table](std::string_view key) {
    const auto* value = table.get_as<std::string>(key);
    return value ? value->get() : std::string();
  };
  for (std::string_view required : {"name", "public-key", "role", "principal"}) {
    if (!table.contains(required)) {
      read.problem = read.path + ": missing key '" + std::string(required) + "'";
      return read;
    }
  }
  auto role = ParseRoleName(text_of("role"));
  if (!role.ok()) {
    read.problem = read.path + ": " + role.status().message();
    return read;
  }
  read.entry = KeyringEntry{text_of("name"), text_of("public-key"), *role, text_of("principal"),
                            text_of("territory")};
  Status valid = ValidateKeyringEntry(read.entry);
  if (!valid.ok()) {
    read.problem = read.path + ": " + valid.message();
    return read;
  }
  Status named = CheckEntryNameIsFileName(file, read.entry.name);
  if (!named.ok()) read.problem = named.message();
  return read;
}

}  // namespace

Result<wire::Role> ParseRoleName(std::string_view name) {
  for (const auto& spelling : kRoles) {
    if (spelling.name == name) return spelling.role;
  }
  return InvalidArgument(
      "unknown role " + QuotedExcerpt(name) +
      " (expected agent-gateway, partner-gateway, operator, administrator, console or "
      "broker-peer)");
}

std::string RoleName(wire::Role role) {
  for (const auto& spelling : kRoles) {
    if (spelling.role == role) return std::string(spelling.name);
  }
  return "unspecified";
}

std::string DescribeEntry(const KeyringEntry& entry) {
  std::string who = entry.principal;
  if (!entry.territory.empty()) who += "/" + entry.territory;
  return RoleName(entry.role) + " " + who + " (key " + entry.name + ", " +
         KeyPrefix(entry.public_key) + ")";
}

Status ValidateKeyringEntry(const KeyringEntry& entry) {
  if (!IsEntryName(entry.name)) {
    return InvalidArgument(QuotedExcerpt(entry.name) + " is not a key name (" +
                           std::string(kEntryNameRule) + ")");
  }
  if (!IsZ85Key(entry.public_key)) {
    return InvalidArgument("key " + entry.name +
                           ": the public key is not a Z85 key of 40 characters");
  }
  if (RoleName(entry.role) == "unspecified") {
    return InvalidArgument("key " + entry.name + ": no role");
  }
  if (!IsId(entry.principal)) {
    return InvalidArgument("key " + entry.name + ": the principal " +
                           QuotedExcerpt(entry.principal) +
                           " is not an id (letters, digits, '.', '_', '-')");
  }
  if (!entry.territory.empty()) {
    if (entry.role != wire::PARTNER_GATEWAY) {
      return InvalidArgument("key " + entry.name + ": only a partner gateway has a territory");
    }
    if (!IsId(entry.territory)) {
      return InvalidArgument("key " + entry.name + ": the territory " +
                             QuotedExcerpt(entry.territory) +
                             " is not an id (letters, digits, '.', '_', '-')");
    }
  }
  return Status::Ok();
}

Status CheckEntryAgainstNetwork(const KeyringEntry& entry, const NetworkConfig& config) {
  const std::string in_network = " in network " + config.name;
  switch (entry.role) {
    case wire::AGENT_GATEWAY:
      if (config.FindContactPoint(entry.principal) == nullptr) {
        return Status(wire::UNKNOWN_CONTACT_POINT,
                      "no contact point '" + entry.principal + "'" + in_network);
      }
      return Status::Ok();
    case wire::PARTNER_GATEWAY: {
      const Partner* partner = config.FindPartner(entry.principal);
      if (partner == nullptr) {
        return Status(wire::UNKNOWN_PARTNER, "no partner '" + entry.principal + "'" + in_network);
      }
      if (entry.territory.empty()) return Status::Ok();
      if (!partner->per_territory) {
        return InvalidArgument("partner '" + entry.principal +
                               "' is national (one queue): its gateways take no territory");
      }
      if (config.FindTerritory(entry.territory) == nullptr) {
        return InvalidArgument("no territory '" + entry.territory + "'" + in_network);
      }
      return Status::Ok();
    }
    case wire::OPERATOR:
    case wire::ADMINISTRATOR: {
      const Operator* op = config.FindOperator(entry.principal);
      if (op == nullptr)
        return InvalidArgument("no operator '" + entry.principal + "'" + in_network);
      // The config is the one source of who reads personal data, for keys as for the console.
      if (entry.role == wire::ADMINISTRATOR && !op->administrator) {
        return InvalidArgument("operator '" + entry.principal +
                               "' is not an administrator (administrator = true in [[operators]])");
      }
      return Status::Ok();
    }
    case wire::CONSOLE:
      // Any id: a console holds no rights of its own, each of its requests names a person of
      // [[operators]] and is granted that person's role (proto Role.CONSOLE).
      return Status::Ok();
    case wire::BROKER_PEER:
      // The other broker of a pair (docs/AVAILABILITY.md): principal = its --node name, which
      // the network config does not list (nodes are a deployment's choice, not the network's).
      return Status::Ok();
    default:
      return InvalidArgument("key " + entry.name + ": no role");
  }
}

bool IsKeyringEntryFileName(std::string_view file_name) { return IsEntryFileName(file_name); }

std::string KeyringEntryPath(const std::string& dir, std::string_view name) {
  return EntryFilePath(dir, name);
}

KeyringLoad LoadKeyringDirectory(const std::string& dir) {
  KeyringLoad load;
  auto scan = ReadEntryDirectory(dir, kKeyringDirectoryRules, ReadKeyringFile);
  if (!scan.dir_problem.empty()) {
    load.problems.push_back(scan.dir_problem);
    return load;
  }
  std::map<std::string, int> holders;  // public key -> files that hold it, good or not
  for (const auto& file : scan.files) {
    if (!file.public_key.empty()) ++holders[file.public_key];
  }
  for (const auto& file : scan.files) {
    if (!file.problem.empty()) {
      load.problems.push_back(file.problem);
    } else if (holders[file.public_key] > 1) {
      load.problems.push_back(file.path + ": public key " + KeyPrefix(file.public_key) +
                              " is held by " + std::to_string(holders[file.public_key]) +
                              " files of the keyring; none of them is used");
    } else {
      load.entries.push_back(file.entry);  // file names sorted, and name = file name
    }
  }
  return load;
}

Status AddKeyringEntry(const std::string& dir, const KeyringEntry& entry) {
  Status valid = ValidateKeyringEntry(entry);
  if (!valid.ok()) return valid;
  auto scan = ReadEntryDirectoryToAdd(dir, kKeyringDirectoryRules, ReadKeyringFile);
  if (!scan.ok()) return scan.status();
  std::string path = KeyringEntryPath(dir, entry.name);
  for (const auto& file : scan->files) {
    if (file.path == path) {
      return InvalidArgument("a key named " + entry.name + " already exists in " + dir);
    }
    if (file.public_key == entry.public_key) {
      std::string_view file_name = std::string_view(file.path).substr(dir.size() + 1);
      return InvalidArgument("public key " + KeyPrefix(entry.public_key) +
                             " is already the key named " +
                             std::string(EntryNameOfFile(file_name)) + " in " + dir);
    }
  }
  // overwrite=false: an entry of that name created since the scan is still refused, and said
  // so as if the scan had seen it.
  Status written =
      WriteFileAtomically(path, KeyringEntryText(entry), kKeyringFileMode, /*overwrite=*/false);
  if (!written.ok() && ::access(path.c_str(), F_OK) == 0) {
    return InvalidArgument("a key named " + entry.name + " already exists in " + dir);
  }
  return written;
}

Status RemoveKeyringEntry(const std::string& dir, const std::string& name) {
  return RemoveEntryFile(dir, name, kKeyringDirectoryRules);
}

Keyring::Keyring(std::vector<KeyringEntry> entries) : entries_(std::move(entries)) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    by_public_key_.emplace(entries_[i].public_key, i);  // emplace keeps the first
    by_name_.emplace(entries_[i].name, i);
  }
}

const KeyringEntry* Keyring::FindByPublicKey(std::string_view z85) const {
  auto it = by_public_key_.find(z85);
  return it == by_public_key_.end() ? nullptr : &entries_[it->second];
}

const KeyringEntry* Keyring::FindByName(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

}  // namespace aplus
