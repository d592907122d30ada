// A directory of small entry files that grant access — the broker's keyring (common/keyring.h)
// and the gateways' API tokens (common/token_store.h) — read, created and removed by one
// implementation with one set of rules (each caller writes its own entries' text): a directory
// or a file writable by group or others is refused (anyone could add or change an entry), only
// regular files named like entries (IsEntryFileName) are read, each at most max_entry_bytes, in
// file-name order. An entry is "<name>.toml", a TOML table
// whose `name` is that file name without ".toml" and whose keys are all known to its reader.
// What the entries mean is the caller's.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <type_traits>
#include <vector>

#include "common/status.h"

namespace aplus {

// An entry is a few lines; anything bigger is not one, and is not read into memory.
inline constexpr size_t kMaxEntryFileBytes = 64 * 1024;
// An entry's name may be this long (it becomes a file name).
inline constexpr size_t kMaxEntryNameLength = 128;
inline constexpr std::string_view kEntryFileSuffix = ".toml";

struct EntryDirectoryRules {
  std::string_view label;        // starts directory problems: "keyring", "tokens"
  std::string_view dir_grants;   // "add a key": "... anyone could add a key; ..."
  std::string_view file_grants;  // "change who this key is"
  std::string_view entry_kind;   // "keyring entry": "too large to be a keyring entry"
  std::string_view dir_noun;     // "keyring": "cannot create keyring DIR: why"
  std::string_view entry_noun;   // "key": "no key named X in DIR"
  bool follow_symlinks = true;   // false: an entry that is a symbolic link is refused
  size_t max_entry_bytes = kMaxEntryFileBytes;
};

struct EntryFile {
  std::string file_name;     // "caf.toml"
  std::string path;          // dir + "/" + file_name
  Result<std::string> text;  // its contents, or why it cannot be used (without the path)
};

struct EntryDirectoryScan {
  bool missing = false;          // the directory does not exist
  std::string dir_problem;       // "" = the directory is usable
  std::vector<EntryFile> files;  // sorted by file name; empty when dir_problem is set
};

EntryDirectoryScan ScanEntryDirectory(const std::string& dir, const EntryDirectoryRules& rules);

// Whether a file of an entry directory is an entry: "*.toml" not starting with '.' (temporary
// files of atomic writes start with '.').
bool IsEntryFileName(std::string_view file_name);

// Whether `name` may name an entry: letters, digits, '.', '_', '-', at most
// kMaxEntryNameLength, not starting with '.' or '-' (kEntryNameRule says it to users).
bool IsEntryName(std::string_view name);
inline constexpr std::string_view kEntryNameRule =
    "letters, digits, '.', '_', '-', not starting with '.' or '-', at most 128 characters";

// "<dir>/<name>.toml".
std::string EntryFilePath(const std::string& dir, std::string_view name);

// The entry name a file holds: its name without ".toml" ("caf.toml" -> "caf").
std::string_view EntryNameOfFile(std::string_view file_name);

// The file's text as a TOML table. INVALID_ARGUMENT "path: why" when the file could not be
// read, "path:line:column: description" when it is not TOML.
Result<toml::table> ParseEntryFile(const EntryFile& file);

// "" when `value` suits `key`, else the problem ("'role' must be a string").
using EntryValueCheck = std::string (*)(std::string_view key, const toml::node& value);

// Refuses, key by key in the table's order, a key not in `known_keys` (INVALID_ARGUMENT "path:
// unknown key 'x'") or, when `check_value` is given, a value it finds wrong ("path: <problem>").
// An unknown key is refused, not ignored: misspelt, it would be a restriction silently dropped.
Status CheckEntryKeys(const EntryFile& file, const toml::table& table,
                      std::span<const std::string_view> known_keys,
                      EntryValueCheck check_value = nullptr);

// INVALID_ARGUMENT "path: name 'a' is not the file name 'b'" unless `name` is the file's. A
// copied file keeps its old name inside: which one the operator meant is unknown.
Status CheckEntryNameIsFileName(const EntryFile& file, std::string_view name);

// Creates `dir` with mode 0700 (its parents as needed), for the first entry of a directory
// that does not exist yet. INVALID_ARGUMENT "cannot create <dir_noun> DIR: why".
Status CreateEntryDirectory(const std::string& dir, const EntryDirectoryRules& rules);

// Removes "<dir>/<name>.toml" and syncs `dir`. INVALID_ARGUMENT "no <entry_noun> named X in
// DIR" when there is none or `name` is not an entry name (so that it never reaches outside
// `dir`), "cannot remove PATH: why" when the file stays.
Status RemoveEntryFile(const std::string& dir, const std::string& name,
                       const EntryDirectoryRules& rules);

// A directory's entries as a caller reads them: `Entry` is what its reader makes of one file
// (the entry, or why it cannot be used).
template <typename Entry>
struct EntryDirectoryRead {
  bool missing = false;      // the directory does not exist
  std::string dir_problem;   // "" = the directory is usable
  std::vector<Entry> files;  // sorted by file name; empty when dir_problem is set
};

// ScanEntryDirectory, each file then read by `read(const EntryFile&)`.
template <typename Read>
auto ReadEntryDirectory(const std::string& dir, const EntryDirectoryRules& rules, Read&& read) {
  EntryDirectoryScan scan = ScanEntryDirectory(dir, rules);
  EntryDirectoryRead<std::invoke_result_t<Read&, const EntryFile&>> result{
      scan.missing, std::move(scan.dir_problem), {}};
  for (const auto& file : scan.files) result.files.push_back(read(file));
  return result;
}

// What adding an entry reads first: the directory as ReadEntryDirectory gives it, created
// (CreateEntryDirectory) when missing. INVALID_ARGUMENT when it cannot be created, or with its
// problem when it is not usable (writable by group or others...).
template <typename Read>
auto ReadEntryDirectoryToAdd(const std::string& dir, const EntryDirectoryRules& rules, Read&& read)
    -> Result<EntryDirectoryRead<std::invoke_result_t<Read&, const EntryFile&>>> {
  auto entries = ReadEntryDirectory(dir, rules, read);
  if (entries.missing) {
    Status created = CreateEntryDirectory(dir, rules);
    if (!created.ok()) return created;
    entries = ReadEntryDirectory(dir, rules, read);
  }
  if (!entries.dir_problem.empty()) return InvalidArgument(entries.dir_problem);
  return entries;
}

// "0644", for messages about modes.
std::string ModeText(unsigned mode);

}  // namespace aplus
