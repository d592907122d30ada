#include "common/token_store.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <toml++/toml.h>

#include "common/atomic_file.h"
#include "common/entry_directory.h"
#include "common/text.h"

namespace aplus {
namespace {

constexpr std::string_view kTokenPrefix = "aplus_";
constexpr size_t kTokenRandomBytes = 32;
// A token is 70 characters; anything much longer is not one and is not hashed.
constexpr size_t kMaxTokenLength = 256;
constexpr size_t kMaxAgentLength = 128;
constexpr size_t kMaxAgents = 1000;
constexpr mode_t kTokenFileMode = 0600;
constexpr std::string_view kTokenKnownKeys[] = {"name", "sha256", "created-at", "agents"};

constexpr EntryDirectoryRules kTokenDirectoryRules{.label = "tokens",
                                                   .dir_grants = "add a token",
                                                   .file_grants = "grant a token",
                                                   .entry_kind = "token entry",
                                                   .dir_noun = "token directory",
                                                   .entry_noun = "token",
                                                   .follow_symlinks = false};

// Agent ids as the network config writes them ("mairie-x/agent-1"); none of these characters
// needs escaping in a TOML basic string.
bool IsAgentId(std::string_view agent) {
  if (agent.empty() || agent.size() > kMaxAgentLength) return false;
  return std::all_of(agent.begin(), agent.end(), [](char c) {
    return IsIdChar(c) || c == '/' || c == '@' || c == ':';
  });
}

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Of a lowercase hex digit (IsLowerHex checked it).
int HexDigit(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

std::string Hex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    text += kDigits[bytes[i] >> 4];
    text += kDigits[bytes[i] & 15];
  }
  return text;
}

std::string RawSha256(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string UtcText(int64_t ms) {
  time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm parts {};
  ::gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string TokenEntryText(const TokenEntry& entry) {
  // Every value was checked by ValidateTokenEntry: no '"', '\\' or control character.
  std::string text =
      "# A+ API token. Written by `aplus tokens add`; only the token's SHA-256 is kept.\n";
  text += "name = \"" + entry.name + "\"\n";
  text += "sha256 = \"" + entry.sha256_hex + "\"\n";
  text += "created-at = " + UtcText(entry.created_ms) + "\n";
  if (!entry.agents.empty()) {
    text += "agents = [";
    for (size_t i = 0; i < entry.agents.size(); ++i) {
      text += (i == 0 ? "\"" : ", \"") + entry.agents[i] + "\"";
    }
    text += "]\n";
  }
  return text;
}

// Reads and checks one "<name>.toml": the entry, or the problem, starting with the path.
Result<TokenEntry> ReadTokenFile(const EntryFile& file) {
  const std::string& path = file.path;
  auto problem = [&path](const std::string& why) { return InvalidArgument(path + ": " + why); };
  Result<toml::table> parsed = ParseEntryFile(file);
  if (!parsed.ok()) return parsed.status();
  const toml::table& table = *parsed;
  // "agent" for "agents" ignored would give the token every agent.
  Status keys = CheckEntryKeys(file, table, kTokenKnownKeys);
  if (!keys.ok()) return keys;
  TokenEntry entry;
  const auto* name = table.get_as<std::string>("name");
  const auto* sha256 = table.get_as<std::string>("sha256");
  const auto* created = table.get_as<toml::date_time>("created-at");
  if (name == nullptr) return problem("'name' must be a string");
  if (sha256 == nullptr) return problem("'sha256' must be a string");
  if (created == nullptr || !created->get().offset) {
    return problem("'created-at' must be a date-time with its offset (e.g. 2026-01-01T00:00:00Z)");
  }
  entry.name = name->get();
  entry.sha256_hex = sha256->get();
  const toml::date_time& when = created->get();
  struct tm parts {};
  parts.tm_year = when.date.year - 1900;
  parts.tm_mon = when.date.month - 1;
  parts.tm_mday = when.date.day;
  parts.tm_hour = when.time.hour;
  parts.tm_min = when.time.minute;
  parts.tm_sec = when.time.second;
  entry.created_ms =
      (static_cast<int64_t>(::timegm(&parts)) - int64_t{when.offset->minutes} * 60) * 1000;
  if (table.contains("agents")) {
    const auto* agents = table.get_as<toml::array>("agents");
    if (agents == nullptr) return problem("'agents' must be a list of agent ids");
    for (const auto& agent : *agents) {
      const auto* id = agent.as_string();
      if (id == nullptr) return problem("'agents' must be a list of agent ids");
      entry.agents.push_back(id->get());
    }
  }
  Status valid = ValidateTokenEntry(entry);
  if (!valid.ok()) return problem(valid.message());
  Status named = CheckEntryNameIsFileName(file, entry.name);
  if (!named.ok()) return named;
  return entry;
}

}  // namespace

bool TokenIdentity::AllowsAgent(std::string_view agent) const {
  return agents.empty() || std::find(agents.begin(), agents.end(), agent) != agents.end();
}

Status ValidateTokenEntry(const TokenEntry& entry) {
  if (!IsEntryName(entry.name)) {
    return InvalidArgument(QuotedExcerpt(entry.name) + " is not a token name (" +
                           std::string(kEntryNameRule) + ")");
  }
  if (entry.sha256_hex.size() != 2 * SHA256_DIGEST_LENGTH || !IsLowerHex(entry.sha256_hex)) {
    return InvalidArgument("token " + entry.name + ": sha256 is not 64 lowercase hex digits");
  }
  if (entry.agents.size() > kMaxAgents) {
    return InvalidArgument("token " + entry.name + ": more than 1000 agents");
  }
  for (const auto& agent : entry.agents) {
    if (!IsAgentId(agent)) {
      return InvalidArgument("token " + entry.name + ": " + QuotedExcerpt(agent) +
                             " is not an agent id (letters, digits, '.', '_', '-', '/', '@', ':')");
    }
  }
  return Status::Ok();
}

std::string TokenEntryPath(const std::string& dir, std::string_view name) {
  return EntryFilePath(dir, name);
}

TokenLoad LoadTokenDirectory(const std::string& dir) {
  TokenLoad load;
  auto scan = ReadEntryDirectory(dir, kTokenDirectoryRules, ReadTokenFile);
  if (!scan.dir_problem.empty()) {
    load.problems.push_back(scan.dir_problem);
    return load;
  }
  for (auto& file : scan.files) {
    if (file.ok()) {
      load.entries.push_back(std::move(*file));
    } else {
      load.problems.push_back(file.status().message());
    }
  }
  return load;
}

std::string HashToken(std::string_view token) {
  std::string digest = RawSha256(token);
  return Hex(reinterpret_cast<const unsigned char*>(digest.data()), digest.size());
}

Result<std::string> AddToken(const std::string& dir, const std::string& name,
                             const std::vector<std::string>& agents, int64_t now_ms) {
  unsigned char random[kTokenRandomBytes];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return Status(wire::INTERNAL, "no random bytes for a token");
  }
  std::string token = std::string(kTokenPrefix) + Hex(random, sizeof(random));
  OPENSSL_cleanse(random, sizeof(random));
  TokenEntry entry{name, HashToken(token), now_ms / 1000 * 1000, agents};
  Status valid = ValidateTokenEntry(entry);
  if (!valid.ok()) return valid;
  // The entries themselves are not needed: a name is checked by its file (below).
  auto usable =
      ReadEntryDirectoryToAdd(dir, kTokenDirectoryRules, [](const EntryFile&) { return true; });
  if (!usable.ok()) return usable.status();
  std::string path = TokenEntryPath(dir, name);
  if (::access(path.c_str(), F_OK) == 0) {
    return InvalidArgument("a token named " + name + " already exists in " + dir);
  }
  // overwrite=false: a token of that name created since the check is still refused.
  Status written = WriteFileAtomically(path, TokenEntryText(entry), kTokenFileMode, false);
  if (!written.ok()) {
    if (::access(path.c_str(), F_OK) == 0) {
      return InvalidArgument("a token named " + name + " already exists in " + dir);
    }
    return written;
  }
  return token;
}

Status RemoveToken(const std::string& dir, const std::string& name) {
  return RemoveEntryFile(dir, name, kTokenDirectoryRules);
}

TokenStore::TokenStore(std::vector<TokenEntry> entries) : entries_(std::move(entries)) {
  digests_.reserve(entries_.size());
  for (const auto& entry : entries_) {
    // An entry that breaks ValidateTokenEntry keeps an all-zero digest: no token hashes to it
    // (finding one would be a SHA-256 preimage).
    std::string raw(SHA256_DIGEST_LENGTH, '\0');
    if (ValidateTokenEntry(entry).ok()) {
      for (size_t i = 0; i < raw.size(); ++i) {
        raw[i] = static_cast<char>(HexDigit(entry.sha256_hex[2 * i]) * 16 +
                                   HexDigit(entry.sha256_hex[2 * i + 1]));
      }
    }
    digests_.push_back(std::move(raw));
  }
}

Result<TokenIdentity> TokenStore::Authenticate(std::string_view token) const {
  Status unknown(wire::NOT_AUTHENTICATED, "unknown token");
  if (token.empty() || token.size() > kMaxTokenLength) return unknown;
  std::string digest = RawSha256(token);
  size_t match = entries_.size();
  for (size_t i = 0; i < digests_.size(); ++i) {
    // No early exit and no branch on secret data beyond this select.
    bool equal = CRYPTO_memcmp(digest.data(), digests_[i].data(), digest.size()) == 0;
    match = equal ? i : match;
  }
  if (match == entries_.size()) return unknown;
  return TokenIdentity{entries_[match].name, entries_[match].agents};
}

}  // namespace aplus
