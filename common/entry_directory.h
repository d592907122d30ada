// A directory of small entry files that grant access — the broker's keyring (common/keyring.h)
// and the gateways' API tokens (common/token_store.h) — read by one implementation with one set
// of rules: a directory or a file writable by group or others is refused (anyone could add or
// change an entry), only regular files named like entries (IsKeyringEntryFileName) are read,
// each at most max_entry_bytes, in file-name order. What the entries mean is the caller's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace aplus {

struct EntryDirectoryRules {
  std::string_view label;        // starts directory problems: "keyring", "tokens"
  std::string_view dir_grants;   // "add a key": "... anyone could add a key; ..."
  std::string_view file_grants;  // "change who this key is"
  std::string_view entry_kind;   // "keyring entry": "too large to be a keyring entry"
  bool follow_symlinks = true;   // false: an entry that is a symbolic link is refused
  size_t max_entry_bytes = 64 * 1024;
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

// "0644", for messages about modes.
std::string ModeText(unsigned mode);

}  // namespace aplus
