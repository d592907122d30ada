// `aplus keygen` and `aplus keyring add|remove|list`: CURVE key pairs and the keyring of the
// broker (common/curve_keys.h, common/keyring.h). Local file work only: no broker needed.
//
// JSON (--json), keys in snake_case:
//   keygen        {"public_key": ..., "key_file": ..., "public_file": ...}
//   keyring add   {"name", "role", "principal", "territory", "public_key", "file"}
//   keyring list  an array of {"name", "role", "principal", "territory", "public_key"}
//   keyring remove {"removed": NAME, "file": PATH}
// Failures: {"error": {...}} on stdout under --json, else one line on stderr (ReportFailure).
#pragma once

#include <string>
#include <vector>

#include "common/keyring.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

struct KeyringAddArgs {
  std::string keyring_dir;
  std::string name;
  std::string role;  // a name ParseRoleName reads
  std::string principal;
  std::string territory;   // "" = none
  std::string public_key;  // a Z85 key, a .pub file or a .key file (ReadPublicKey)
};

// Generates a pair and writes PREFIX.key and PREFIX.pub (replacing them only with `force`);
// prints the public key and both paths. Exit 1 when a file exists or cannot be written.
int RunKeygen(const GlobalOptions& options, const std::string& prefix, bool force);

// Adds an entry. With the global --config, the principal (and territory) must exist in that
// network for the role (CheckEntryAgainstNetwork; exit 1 otherwise, 2 when the config cannot
// be read). Without --config, nothing is checked against a network.
int RunKeyringAdd(const GlobalOptions& options, const KeyringAddArgs& args);

// Removes the entry `name`; exit 1 when there is none.
int RunKeyringRemove(const GlobalOptions& options, const std::string& keyring_dir,
                     const std::string& name);

// Prints the entries (a table, or a JSON array); each problem of the load goes to stderr as
// "aplus: keyring: <problem>", and any problem makes the exit code 1.
int RunKeyringList(const GlobalOptions& options, const std::string& keyring_dir);

// NAME, ROLE, PRINCIPAL, TERRITORY ("-" when none), KEY (the first 8 characters and "...").
std::string RenderKeyringTable(const std::vector<KeyringEntry>& entries);

}  // namespace aplus::cli
