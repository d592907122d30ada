// The keyring: which CURVE public keys the broker accepts, and who each one is. The broker's
// ZAP handler looks the client's key up here and takes the session's role and principal from
// the entry, never from what the client says.
//
// On disk a keyring is a directory holding one TOML file per key, "<name>.toml":
//   # A+ keyring entry. Written by `aplus keyring add`.
//   name = "mairie-perche-en-noce"        # = the file name without ".toml"
//   public-key = "<40 chars of Z85>"
//   role = "agent-gateway"                # agent-gateway | partner-gateway | operator |
//                                         # administrator | console
//   principal = "mairie-perche-en-noce"   # contact point id, partner id, operator id, or
//                                         # console id (any id: aplus-console)
//   territory = "perche"                  # optional: partner gateways of per-territory
//                                         # partners only
// Files whose name starts with '.' (temporary files of atomic writes) or does not end in
// ".toml" are not entries. Since the directory grants access to the broker, it and its
// entries must not be writable by group or others (as ssh's StrictModes).
//
// Thread rules: the free functions share no state. A Keyring is immutable after construction:
// any number of threads may read it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aplus.pb.h"
#include "common/network_config.h"
#include "common/status.h"

namespace aplus {

// Where the programs look for the keyring when no flag says otherwise.
inline constexpr const char* kDefaultKeyringDir = "./aplus-data/keyring";

struct KeyringEntry {
  std::string name;        // IsEntryName (common/entry_directory.h)
  std::string public_key;  // Z85, 40 characters
  wire::Role role = wire::ROLE_UNSPECIFIED;
  std::string principal;  // contact point id, partner id or operator id
  std::string territory;  // "" = none (always "" for roles other than PARTNER_GATEWAY)
};

// "agent-gateway" | "partner-gateway" | "operator" | "administrator" | "console" -> the role
// (exact spelling); INVALID_ARGUMENT naming the five otherwise.
Result<wire::Role> ParseRoleName(std::string_view name);
// The name ParseRoleName reads; "unspecified" for ROLE_UNSPECIFIED and unknown values.
std::string RoleName(wire::Role role);

// For logs: "agent-gateway mairie-x (key mairie-x, Xk3mQ9a2...)"; a territory follows the
// principal as "caf/perche".
std::string DescribeEntry(const KeyringEntry& entry);

// The rules every entry obeys: the name's syntax, a Z85 public key, a role, a principal (and a
// territory, when given) spelled as network config ids [A-Za-z0-9._-]+, a territory only for
// a partner gateway. INVALID_ARGUMENT naming the first broken rule.
Status ValidateKeyringEntry(const KeyringEntry& entry);

// Whether `entry` names someone `config` knows: a contact point for an agent gateway
// (UNKNOWN_CONTACT_POINT), a partner for a partner gateway (UNKNOWN_PARTNER), and then its
// territory must be a territory of the network served per territory by that partner
// (INVALID_ARGUMENT), an operator for operators and administrators (INVALID_ARGUMENT); a
// console's id is any id (it acts only for the persons its requests name).
Status CheckEntryAgainstNetwork(const KeyringEntry& entry, const NetworkConfig& config);

// Whether a file of the keyring directory is an entry: "*.toml" not starting with '.'.
bool IsKeyringEntryFileName(std::string_view file_name);

// "<dir>/<name>.toml".
std::string KeyringEntryPath(const std::string& dir, std::string_view name);

struct KeyringLoad {
  std::vector<KeyringEntry> entries;  // sorted by name; names and public keys are unique
  // One line per file skipped, "<path>: why" (a file that is not TOML, lacks a key, has an
  // unknown key, a bad value, a name other than its file name, is writable by group or
  // others, or shares its public key with another file: then every file holding that key is
  // skipped, since nobody can tell which one is right), or one line about the directory
  // itself (missing, unreadable, writable by group or others: then no entry is loaded).
  std::vector<std::string> problems;
};

// Reads every entry of `dir`. Never fails as a whole: what cannot be used is in `problems`.
KeyringLoad LoadKeyringDirectory(const std::string& dir);

// Adds `entry` as "<dir>/<name>.toml" (mode 0644), written atomically (common/atomic_file.h),
// creating `dir` with mode 0700 when it is missing (its parents as needed).
// INVALID_ARGUMENT when the entry breaks ValidateKeyringEntry, when a key of that name exists
// ("a key named X already exists in DIR"), when a file of the keyring already holds that
// public key ("public key ... is already the key named Y in DIR"), when the directory is
// writable by group or others, or when it cannot be written. Two concurrent adds of the same
// name are safe (one fails); of the same key under two names they may both succeed, and
// LoadKeyringDirectory then skips both.
Status AddKeyringEntry(const std::string& dir, const KeyringEntry& entry);

// Removes "<dir>/<name>.toml" and syncs the directory. INVALID_ARGUMENT "no key named X in
// DIR" when there is none (or `name` is not a key name: it never reaches outside `dir`).
Status RemoveKeyringEntry(const std::string& dir, const std::string& name);

// An immutable snapshot for lookups on the authentication path: O(1) by key or by name.
class Keyring {
 public:
  Keyring() = default;
  // `entries` should have distinct names and public keys, as LoadKeyringDirectory gives them;
  // when two share one, lookups find the first.
  explicit Keyring(std::vector<KeyringEntry> entries);

  // nullptr when unknown. The pointer lives as long as this Keyring.
  const KeyringEntry* FindByPublicKey(std::string_view z85) const;
  const KeyringEntry* FindByName(std::string_view name) const;

  const std::vector<KeyringEntry>& entries() const { return entries_; }

 private:
  // Heterogeneous lookup: a string_view from the ZAP request is looked up without a copy.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  using Index = std::unordered_map<std::string, size_t, Hash, std::equal_to<>>;

  std::vector<KeyringEntry> entries_;
  Index by_public_key_;  // -> position in entries_
  Index by_name_;
};

}  // namespace aplus
