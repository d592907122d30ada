#include "tools/aplus/key_commands.h"

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/curve_keys.h"
#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

nlohmann::json EntryJson(const KeyringEntry& entry) {
  return {{"name", entry.name},
          {"role", RoleName(entry.role)},
          {"principal", entry.principal},
          {"territory", entry.territory},
          {"public_key", entry.public_key}};
}

}  // namespace

std::string RenderKeyringTable(const std::vector<KeyringEntry>& entries) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : entries) {
    rows.push_back({entry.name, RoleName(entry.role), entry.principal,
                    entry.territory.empty() ? "-" : entry.territory,
                    entry.public_key.substr(0, 8) + "..."});
  }
  return RenderTable({"NAME", "ROLE", "PRINCIPAL", "TERRITORY", "KEY"}, rows);
}

int RunKeygen(const GlobalOptions& options, const std::string& prefix, bool force) {
  auto pair = GenerateCurveKeyPair();
  if (!pair.ok()) return ReportFailure(options, pair.status());
  std::string key_file = prefix + ".key";
  std::string public_file = prefix + ".pub";
  Status written = WriteKeyPairFiles(prefix, *pair, force);
  if (!written.ok()) {
    std::error_code ignored;
    if (!force && (std::filesystem::exists(key_file, ignored) ||
                   std::filesystem::exists(public_file, ignored))) {
      // Most likely a second run by mistake: say how to replace the pair on purpose.
      written = Status(written.code(), written.message() + " (--force replaces the pair)");
    }
    return ReportFailure(options, written);
  }
  if (options.json) {
    std::cout << DumpJson({{"public_key", pair->public_key},
                           {"key_file", key_file},
                           {"public_file", public_file}})
              << std::endl;
  } else {
    std::cout << "public key:  " << pair->public_key << "\n"
              << "secret key:  " << key_file << " (mode 0600: keep it on this machine only)\n"
              << "public file: " << public_file << " (give it to the keyring's administrator)\n"
              << std::flush;
  }
  return kExitOk;
}

int RunKeyringAdd(const GlobalOptions& options, const KeyringAddArgs& args) {
  auto role = ParseRoleName(args.role);
  if (!role.ok()) {
    ReportFailure(options, role.status());
    return kExitUsage;
  }
  auto public_key = ReadPublicKey(args.public_key);
  if (!public_key.ok()) return ReportFailure(options, public_key.status());
  KeyringEntry entry{args.name, *public_key, *role, args.principal, args.territory};
  if (!options.config_path.empty()) {
    auto config = LoadNetworkConfig(options.config_path);
    if (!config.ok()) {
      ReportFailure(options, config.status());
      return kExitUsage;
    }
    Status known = CheckEntryAgainstNetwork(entry, *config);
    if (!known.ok()) return ReportFailure(options, known);
  }
  Status added = AddKeyringEntry(args.keyring_dir, entry);
  if (!added.ok()) return ReportFailure(options, added);
  std::string file = KeyringEntryPath(args.keyring_dir, entry.name);
  if (options.json) {
    nlohmann::json answer = EntryJson(entry);
    answer["file"] = file;
    std::cout << DumpJson(answer) << std::endl;
  } else {
    std::cout << "added " << DescribeEntry(entry) << " as " << file << "\n" << std::flush;
  }
  return kExitOk;
}

int RunKeyringRemove(const GlobalOptions& options, const std::string& keyring_dir,
                     const std::string& name) {
  Status removed = RemoveKeyringEntry(keyring_dir, name);
  if (!removed.ok()) return ReportFailure(options, removed);
  std::string file = KeyringEntryPath(keyring_dir, name);
  if (options.json) {
    std::cout << DumpJson({{"removed", name}, {"file", file}}) << std::endl;
  } else {
    std::cout << "removed key " << name << " (" << file << ")\n" << std::flush;
  }
  return kExitOk;
}

int RunKeyringList(const GlobalOptions& options, const std::string& keyring_dir) {
  KeyringLoad load = LoadKeyringDirectory(keyring_dir);
  if (options.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& entry : load.entries) array.push_back(EntryJson(entry));
    std::cout << DumpJson(array) << std::endl;
  } else if (load.entries.empty()) {
    std::cout << "no keys in " << keyring_dir << "\n" << std::flush;
  } else {
    std::cout << RenderKeyringTable(load.entries) << std::flush;
  }
  // The broker skips these files too: whoever lists the keyring must see why.
  for (const auto& problem : load.problems) {
    std::cerr << "aplus: keyring: " << OneLine(problem) << std::endl;
  }
  return load.problems.empty() ? kExitOk : kExitErrorAnswer;
}

}  // namespace aplus::cli
