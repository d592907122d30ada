// `aplus keygen` and `aplus keyring add|remove|list`, run as the real program on files in a
// fresh directory: no broker, no gateway.
#include <doctest/doctest.h>

#include "tests/support/aplus_process.h"
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/keyring.h"
#include "tests/support/child_process.h"

extern char** environ;

namespace {

using aplus::testing::TempDir;

using Run = aplus::testing::AplusRun;

Run RunAplus(const std::vector<std::string>& args) { return aplus::testing::RunAplusBinary(args); }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::string PerchePath() { return std::string(APLUS_SOURCE_DIR) + "/deploy/perche.toml"; }

// A public key from a fresh pair made by `aplus keygen --json` under `prefix`.
std::string KeygenPublicKey(const std::string& prefix) {
  Run run = RunAplus({"keygen", prefix, "--json"});
  REQUIRE(run.exit_code == 0);
  return nlohmann::json::parse(run.out).at("public_key").get<std::string>();
}

TEST_CASE("aplus keygen writes a usable pair and prints its public key") {
  TempDir tmp("aplus-keygen");
  std::string prefix = tmp.Sub("mairie-noce");
  Run run = RunAplus({"keygen", prefix});
  CHECK(run.exit_code == 0);
  CHECK(run.err.empty());
  auto pair = aplus::ReadSecretKeyFile(prefix + ".key");
  REQUIRE(pair.ok());
  CHECK(Contains(run.out, "public key:  " + pair->public_key + "\n"));
  CHECK(Contains(run.out, prefix + ".key"));
  CHECK(Contains(run.out, prefix + ".pub"));
  CHECK_FALSE(Contains(run.out, pair->secret_key));
  CHECK(ModeOf(prefix + ".key") == 0600);
  CHECK(ModeOf(prefix + ".pub") == 0644);
  CHECK(*aplus::ReadPublicKey(prefix + ".pub") == pair->public_key);

  Run again = RunAplus({"keygen", prefix});
  CHECK(again.exit_code == 1);
  CHECK(again.out.empty());
  CHECK(Contains(again.err, "aplus: INVALID_ARGUMENT: " + prefix + ".key already exists"));
  CHECK(Contains(again.err, "--force"));
  CHECK(aplus::ReadSecretKeyFile(prefix + ".key")->secret_key == pair->secret_key);

  Run forced = RunAplus({"keygen", prefix, "--force", "--json"});
  CHECK(forced.exit_code == 0);
  auto json = nlohmann::json::parse(forced.out);
  CHECK(json.at("key_file") == prefix + ".key");
  CHECK(json.at("public_file") == prefix + ".pub");
  auto replaced = aplus::ReadSecretKeyFile(prefix + ".key");
  REQUIRE(replaced.ok());
  CHECK(json.at("public_key") == replaced->public_key);
  CHECK(replaced->public_key != pair->public_key);
}

TEST_CASE("aplus keyring add, list and remove") {
  TempDir tmp("aplus-keyring");
  std::string keyring = tmp.Sub("keyring");
  std::string gateway = tmp.Sub("gw");
  std::string gateway_key = KeygenPublicKey(gateway);
  std::string operator_key = KeygenPublicKey(tmp.Sub("op"));

  Run add = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "mairie-noce", "--role",
                      "agent-gateway", "--principal", "mairie-perche-en-noce", "--public-key",
                      gateway + ".pub"});
  CHECK(add.exit_code == 0);
  CHECK(Contains(add.out, "added agent-gateway mairie-perche-en-noce (key mairie-noce, " +
                              gateway_key.substr(0, 8) + "...)"));
  // A .key file gives its public key; the raw key is taken as it is.
  Run add_caf = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "caf-perche", "--role",
                          "partner-gateway", "--principal", "caf", "--territory", "perche",
                          "--public-key", tmp.Sub("op") + ".key", "--json"});
  CHECK(add_caf.exit_code == 0);
  auto added = nlohmann::json::parse(add_caf.out);
  CHECK(added.at("public_key") == operator_key);
  CHECK(added.at("territory") == "perche");
  CHECK(added.at("file") == keyring + "/caf-perche.toml");

  Run same_key = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "again", "--role",
                           "operator", "--principal", "operator", "--public-key", gateway_key});
  CHECK(same_key.exit_code == 1);
  CHECK(Contains(same_key.err, "already the key named mairie-noce"));

  Run list = RunAplus({"keyring", "list", "--keyring", keyring});
  CHECK(list.exit_code == 0);
  CHECK(list.err.empty());
  CHECK(Contains(list.out, "NAME"));
  CHECK(Contains(list.out, "caf-perche   partner-gateway  caf"));
  CHECK(Contains(list.out, "mairie-noce  agent-gateway    mairie-perche-en-noce"));
  CHECK(Contains(list.out, gateway_key.substr(0, 8) + "..."));

  Run json = RunAplus({"--json", "keyring", "list", "--keyring", keyring});
  CHECK(json.exit_code == 0);
  auto entries = nlohmann::json::parse(json.out);
  REQUIRE(entries.is_array());
  REQUIRE(entries.size() == 2);
  CHECK(entries[1].at("name") == "mairie-noce");
  CHECK(entries[1].at("role") == "agent-gateway");
  CHECK(entries[1].at("principal") == "mairie-perche-en-noce");
  CHECK(entries[1].at("territory") == "");
  CHECK(entries[1].at("public_key") == gateway_key);

  Run remove = RunAplus({"keyring", "remove", "--keyring", keyring, "caf-perche"});
  CHECK(remove.exit_code == 0);
  CHECK(Contains(remove.out, "removed key caf-perche"));
  Run remove_again = RunAplus({"keyring", "remove", "caf-perche", "--keyring", keyring});
  CHECK(remove_again.exit_code == 1);
  CHECK(Contains(remove_again.err, "no key named caf-perche in " + keyring));
  auto load = aplus::LoadKeyringDirectory(keyring);
  REQUIRE(load.entries.size() == 1);
  CHECK(load.entries[0].name == "mairie-noce");
}

TEST_CASE("aplus keyring list reports the files it skips and exits 1") {
  TempDir tmp("aplus-keyring");
  std::string keyring = tmp.Sub("keyring");
  std::string key = KeygenPublicKey(tmp.Sub("op"));
  REQUIRE(RunAplus({"keyring", "add", "--keyring", keyring, "--name", "alice", "--role", "operator",
                    "--principal", "operator", "--public-key", key})
              .exit_code == 0);
  {
    std::ofstream broken(keyring + "/broken.toml");
    broken << "role = [\n";
  }
  ::chmod((keyring + "/broken.toml").c_str(), 0644);
  Run list = RunAplus({"keyring", "list", "--keyring", keyring});
  CHECK(list.exit_code == 1);
  CHECK(Contains(list.out, "alice"));
  CHECK(Contains(list.err, "aplus: keyring: " + keyring + "/broken.toml:"));

  Run missing = RunAplus({"keyring", "list", "--keyring", tmp.Sub("none")});
  CHECK(missing.exit_code == 1);
  CHECK(Contains(missing.out, "no keys in " + tmp.Sub("none")));
  CHECK(Contains(missing.err, "No such file or directory"));
}

TEST_CASE("aplus keyring add --config checks the principal against that network") {
  TempDir tmp("aplus-keyring");
  std::string keyring = tmp.Sub("keyring");
  std::string key = KeygenPublicKey(tmp.Sub("gw"));
  std::vector<std::string> unknown = {
      "keyring", "add",           "--keyring",   keyring,          "--name",       "ghost",
      "--role",  "agent-gateway", "--principal", "mairie-nowhere", "--public-key", key};

  std::vector<std::string> checked = unknown;
  checked.insert(checked.end(), {"--config", PerchePath()});
  Run refused = RunAplus(checked);
  CHECK(refused.exit_code == 1);
  CHECK(Contains(refused.err, "UNKNOWN_CONTACT_POINT: no contact point 'mairie-nowhere'"));
  CHECK_FALSE(std::filesystem::exists(keyring + "/ghost.toml"));

  Run national = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "ft", "--role",
                           "partner-gateway", "--principal", "france-travail", "--territory",
                           "perche", "--public-key", key, "--config", PerchePath(), "--json"});
  CHECK(national.exit_code == 1);
  CHECK(nlohmann::json::parse(national.out).at("error").at("code") == "INVALID_ARGUMENT");

  Run known = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "noce", "--role",
                        "agent-gateway", "--principal", "mairie-perche-en-noce", "--public-key",
                        key, "--config", PerchePath()});
  CHECK(known.exit_code == 0);

  // Without --config nothing is checked against a network: the same unknown principal passes.
  std::string other_key = KeygenPublicKey(tmp.Sub("gw2"));
  unknown.back() = other_key;
  Run unchecked = RunAplus(unknown);
  CHECK(unchecked.exit_code == 0);
  CHECK(std::filesystem::exists(keyring + "/ghost.toml"));
}

// The pair's link (docs/AVAILABILITY.md, deploy/ha/README.md): each node's own key, principal
// = its node name, which no network config lists.
TEST_CASE("aplus keyring add admits a broker-peer key, with or without --config") {
  TempDir tmp("aplus-keyring");
  std::string keyring = tmp.Sub("keyring");
  Run add = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "broker-peer.a", "--role",
                      "broker-peer", "--principal", "a", "--public-key",
                      KeygenPublicKey(tmp.Sub("broker-peer.a")), "--config", PerchePath()});
  CHECK_MESSAGE(add.exit_code == 0, add.err);
  Run add_b = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "broker-peer.b", "--role",
                        "broker-peer", "--principal", "b", "--public-key",
                        KeygenPublicKey(tmp.Sub("broker-peer.b"))});
  CHECK_MESSAGE(add_b.exit_code == 0, add_b.err);
  auto load = aplus::LoadKeyringDirectory(keyring);
  CHECK(load.problems.empty());
  REQUIRE(load.entries.size() == 2);
  for (const auto& entry : load.entries) CHECK(entry.role == aplus::wire::BROKER_PEER);
  Run list = RunAplus({"keyring", "list", "--keyring", keyring, "--json"});
  CHECK(list.exit_code == 0);
  CHECK(nlohmann::json::parse(list.out).at(0).at("role") == "broker-peer");
}

TEST_CASE("aplus keyring add: a bad role or a bad key is refused") {
  TempDir tmp("aplus-keyring");
  std::string keyring = tmp.Sub("keyring");
  std::string key = KeygenPublicKey(tmp.Sub("gw"));
  Run role = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "x", "--role", "root",
                       "--principal", "operator", "--public-key", key});
  CHECK(role.exit_code == 2);
  Run bad_key = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "x", "--role",
                          "operator", "--principal", "operator", "--public-key", "garbage"});
  CHECK(bad_key.exit_code == 1);
  CHECK(Contains(bad_key.err, "expected a Z85 key"));
  Run bad_name = RunAplus({"keyring", "add", "--keyring", keyring, "--name", "../x", "--role",
                           "operator", "--principal", "operator", "--public-key", key});
  CHECK(bad_name.exit_code == 1);
  CHECK(Contains(bad_name.err, "is not a key name"));
  CHECK_FALSE(std::filesystem::exists(tmp.Sub("x.toml")));
}

}  // namespace
