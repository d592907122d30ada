// API tokens of the HTTP front doors: who may call the gateways' REST API, and for which
// agents. A token is "aplus_" + 64 hex digits (256 random bits), shown once by `aplus tokens
// add` and never stored: the store keeps its SHA-256 only. A fast hash is right here (unlike
// passwords): the token has 256 bits of entropy, so no dictionary or brute force can find it
// from its hash, and hashing stays cheap on every request.
//
// On disk the store is a directory holding one TOML file per token, "<name>.toml":
//   # A+ API token. Written by `aplus tokens add`; only the token's SHA-256 is kept.
//   name = "front-desk"                 # = the file name without ".toml"
//   sha256 = "<64 hex digits>"          # SHA-256 of the whole token text
//   created-at = 2026-11-29T21:00:00Z   # UTC
//   agents = ["agent-noce-1"]           # optional: only these agents (agent gateway)
// File naming is the keyring's (common/entry_directory.h): files starting with '.' (temporary
// files of atomic writes) or not ending in ".toml" are not entries, so common/keyring_watcher.h
// tells cheaply when the directory changed; a server then reloads it with LoadTokenDirectory and
// replaces its TokenStore snapshot whole (common/live_token_store.h does both). Since a file
// of the directory grants access, the directory and its files must not be writable by group or
// others (as ssh's StrictModes): such a directory loads no token, such a file is skipped.
//
// Thread rules: the free functions share no state. A TokenStore is immutable after
// construction: any number of threads may call Authenticate.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace aplus {

// Where the gateways and `aplus tokens` look when no flag says otherwise.
inline constexpr const char* kDefaultTokenDir = "./aplus-data/tokens";

struct TokenEntry {
  std::string name;           // IsEntryName (common/entry_directory.h)
  std::string sha256_hex;     // 64 lowercase hex digits
  int64_t created_ms = 0;     // Unix milliseconds UTC, whole seconds
  std::vector<std::string> agents;  // empty = every agent; ids of [A-Za-z0-9._/@:-], <= 128
};

// Who a request's token belongs to.
struct TokenIdentity {
  std::string name;
  std::vector<std::string> agents;  // empty = every agent

  // Whether this token may act for `agent` (always true when agents is empty).
  bool AllowsAgent(std::string_view agent) const;
};

// The rules every entry obeys (name, hash, agents). INVALID_ARGUMENT naming the first broken one.
Status ValidateTokenEntry(const TokenEntry& entry);

// "<dir>/<name>.toml".
std::string TokenEntryPath(const std::string& dir, std::string_view name);

struct TokenLoad {
  std::vector<TokenEntry> entries;  // sorted by name
  // One line per file skipped ("<path>: why": not TOML, a missing, unknown or wrong-typed
  // key, a bad value, a name other than its file name, writable by group or others), or one
  // line about the directory itself (missing, unreadable, writable by group or others: then no
  // token is loaded).
  std::vector<std::string> problems;
};

// Reads every entry of `dir`. Never fails as a whole: what cannot be used is in `problems`.
TokenLoad LoadTokenDirectory(const std::string& dir);

// A new token for `name` (restricted to `agents` when not empty), created at `now_ms`: draws
// 256 random bits, writes "<dir>/<name>.toml" (mode 0600) atomically (common/atomic_file.h),
// creating `dir` with mode 0700 when it is missing, and returns the token text: the only time
// it exists outside the caller's hands. INVALID_ARGUMENT when the name or an agent is not
// valid, a token of that name exists ("a token named X already exists in DIR"), the directory
// is writable by group or others or cannot be written; INTERNAL when no random bytes are
// available.
Result<std::string> AddToken(const std::string& dir, const std::string& name,
                             const std::vector<std::string>& agents, int64_t now_ms);

// Removes "<dir>/<name>.toml" and syncs the directory. INVALID_ARGUMENT "no token named X in
// DIR" when there is none (or `name` is not a token name: it never reaches outside `dir`).
Status RemoveToken(const std::string& dir, const std::string& name);

// "sha256 hex" of `token`: what an entry stores.
std::string HashToken(std::string_view token);

// An immutable snapshot for the authentication path.
class TokenStore {
 public:
  TokenStore() = default;
  explicit TokenStore(std::vector<TokenEntry> entries);

  // The identity `token` (the text after "Bearer ") belongs to. NOT_AUTHENTICATED "unknown
  // token" otherwise (also for an empty or oversized token). The presented token's hash is
  // compared with every entry's in constant time, without stopping at a match: the time taken
  // depends on the number of tokens only.
  Result<TokenIdentity> Authenticate(std::string_view token) const;

  const std::vector<TokenEntry>& entries() const { return entries_; }

 private:
  std::vector<TokenEntry> entries_;
  std::vector<std::string> digests_;  // raw SHA-256 of each entry, same order
};

}  // namespace aplus
