#include "common/keyring.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/curve_keys.h"
#include "common/network_config.h"
#include "tests/support/child_process.h"

namespace aplus {
namespace {

using aplus::testing::TempDir;

std::string NewPublicKey() {
  auto pair = GenerateCurveKeyPair();
  REQUIRE(pair.ok());
  return pair->public_key;
}

KeyringEntry Entry(std::string name, wire::Role role, std::string principal,
                   std::string territory = "") {
  return KeyringEntry{std::move(name), NewPublicKey(), role, std::move(principal),
                      std::move(territory)};
}

void WriteText(const std::string& path, const std::string& text, mode_t mode = 0644) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

std::string EntryToml(const std::string& name, const std::string& key, const std::string& role,
                      const std::string& principal) {
  return "name = \"" + name + "\"\npublic-key = \"" + key + "\"\nrole = \"" + role +
         "\"\nprincipal = \"" + principal + "\"\n";
}

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool SameEntry(const KeyringEntry& a, const KeyringEntry& b) {
  return a.name == b.name && a.public_key == b.public_key && a.role == b.role &&
         a.principal == b.principal && a.territory == b.territory;
}

// The problem of the load that mentions `file`, or "".
std::string ProblemAbout(const KeyringLoad& load, const std::string& file) {
  for (const auto& problem : load.problems) {
    if (Contains(problem, "/" + file)) return problem;
  }
  return {};
}

TEST_CASE("Role names read and print both ways") {
  for (wire::Role role :
       {wire::AGENT_GATEWAY, wire::PARTNER_GATEWAY, wire::OPERATOR, wire::ADMINISTRATOR}) {
    auto parsed = ParseRoleName(RoleName(role));
    REQUIRE(parsed.ok());
    CHECK(*parsed == role);
  }
  CHECK(RoleName(wire::AGENT_GATEWAY) == "agent-gateway");
  CHECK(RoleName(wire::PARTNER_GATEWAY) == "partner-gateway");
  CHECK(RoleName(wire::OPERATOR) == "operator");
  CHECK(RoleName(wire::ADMINISTRATOR) == "administrator");
  CHECK(RoleName(wire::ROLE_UNSPECIFIED) == "unspecified");
  for (const char* bad : {"", "Operator", "admin", "unspecified", "agent_gateway"}) {
    CAPTURE(bad);
    auto parsed = ParseRoleName(bad);
    CHECK(parsed.status().code() == wire::INVALID_ARGUMENT);
  }
}

TEST_CASE("ValidateKeyringEntry keeps names to file-safe ids and territories to partners") {
  KeyringEntry good = Entry("mairie-perche-en-noce", wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  CHECK(ValidateKeyringEntry(good).ok());
  for (const std::string& name :
       {std::string(""), std::string(".hidden"), std::string("-flag"), std::string("a/b"),
        std::string("../up"), std::string("é"), std::string("a b"), std::string(129, 'a')}) {
    CAPTURE(name);
    KeyringEntry entry = good;
    entry.name = name;
    CHECK(ValidateKeyringEntry(entry).code() == wire::INVALID_ARGUMENT);
  }
  KeyringEntry longest = good;
  longest.name = std::string(128, 'a');
  CHECK(ValidateKeyringEntry(longest).ok());

  KeyringEntry bad_key = good;
  bad_key.public_key = "not a key";
  CHECK(ValidateKeyringEntry(bad_key).code() == wire::INVALID_ARGUMENT);
  KeyringEntry no_role = good;
  no_role.role = wire::ROLE_UNSPECIFIED;
  CHECK(ValidateKeyringEntry(no_role).code() == wire::INVALID_ARGUMENT);
  KeyringEntry no_principal = good;
  no_principal.principal = "";
  CHECK(ValidateKeyringEntry(no_principal).code() == wire::INVALID_ARGUMENT);
  KeyringEntry quoted_principal = good;
  quoted_principal.principal = "a\"b";
  CHECK(ValidateKeyringEntry(quoted_principal).code() == wire::INVALID_ARGUMENT);

  KeyringEntry agent_with_territory = good;
  agent_with_territory.territory = "perche";
  Status refused = ValidateKeyringEntry(agent_with_territory);
  CHECK(refused.code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(refused.message(), "only a partner gateway has a territory"));
  CHECK(ValidateKeyringEntry(Entry("caf-perche", wire::PARTNER_GATEWAY, "caf", "perche")).ok());
  CHECK(ValidateKeyringEntry(Entry("caf-x", wire::PARTNER_GATEWAY, "caf", "per che")).code() ==
        wire::INVALID_ARGUMENT);
}

TEST_CASE("Entries added are listed, looked up and removed") {
  TempDir tmp("keyring");
  std::string dir = tmp.Sub("nested/keyring");  // created by the first add
  KeyringEntry mairie = Entry("mairie-noce", wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  KeyringEntry caf = Entry("caf-perche", wire::PARTNER_GATEWAY, "caf", "perche");
  KeyringEntry admin = Entry("alice", wire::ADMINISTRATOR, "operator");
  REQUIRE(AddKeyringEntry(dir, mairie).ok());
  REQUIRE(AddKeyringEntry(dir, caf).ok());
  REQUIRE(AddKeyringEntry(dir, admin).ok());

  CHECK(ModeOf(dir) == 0700);
  CHECK(ModeOf(KeyringEntryPath(dir, "caf-perche")) == 0644);
  KeyringLoad load = LoadKeyringDirectory(dir);
  CHECK(load.problems.empty());
  REQUIRE(load.entries.size() == 3);
  CHECK(SameEntry(load.entries[0], admin));  // sorted by name
  CHECK(SameEntry(load.entries[1], caf));
  CHECK(SameEntry(load.entries[2], mairie));

  Keyring keyring(load.entries);
  const KeyringEntry* found = keyring.FindByPublicKey(std::string_view(caf.public_key));
  REQUIRE(found != nullptr);
  CHECK(found->name == "caf-perche");
  CHECK(found->territory == "perche");
  REQUIRE(keyring.FindByName("alice") != nullptr);
  CHECK(keyring.FindByName("alice")->role == wire::ADMINISTRATOR);
  CHECK(keyring.FindByPublicKey(NewPublicKey()) == nullptr);
  CHECK(keyring.FindByName("bob") == nullptr);
  CHECK(keyring.entries().size() == 3);

  REQUIRE(RemoveKeyringEntry(dir, "caf-perche").ok());
  load = LoadKeyringDirectory(dir);
  CHECK(load.problems.empty());
  REQUIRE(load.entries.size() == 2);
  CHECK(load.entries[0].name == "alice");
  CHECK(load.entries[1].name == "mairie-noce");
  CHECK(Keyring(load.entries).FindByPublicKey(caf.public_key) == nullptr);

  Status again = RemoveKeyringEntry(dir, "caf-perche");
  CHECK(again.code() == wire::INVALID_ARGUMENT);
  CHECK(again.message() == "no key named caf-perche in " + dir);
}

TEST_CASE("A name or a public key already in the keyring is refused") {
  TempDir tmp("keyring");
  std::string dir = tmp.Sub("keyring");
  KeyringEntry first = Entry("mairie-noce", wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  REQUIRE(AddKeyringEntry(dir, first).ok());

  KeyringEntry same_name = Entry("mairie-noce", wire::AGENT_GATEWAY, "mairie-berdhuis");
  Status name_taken = AddKeyringEntry(dir, same_name);
  CHECK(name_taken.code() == wire::INVALID_ARGUMENT);
  CHECK(name_taken.message() == "a key named mairie-noce already exists in " + dir);

  KeyringEntry same_key = first;
  same_key.name = "other";
  same_key.principal = "mairie-berdhuis";
  Status key_taken = AddKeyringEntry(dir, same_key);
  CHECK(key_taken.code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(key_taken.message(), "is already the key named mairie-noce"));

  // Even a file the loader skips still holds its key: the key is not handed out twice.
  std::string orphan_key = NewPublicKey();
  WriteText(dir + "/broken.toml", EntryToml("broken", orphan_key, "nobody-role", "x"));
  KeyringEntry reuse = Entry("reuse", wire::OPERATOR, "operator");
  reuse.public_key = orphan_key;
  CHECK(Contains(AddKeyringEntry(dir, reuse).message(), "already the key named broken"));

  KeyringLoad load = LoadKeyringDirectory(dir);
  REQUIRE(load.entries.size() == 1);
  CHECK(SameEntry(load.entries[0], first));
}

TEST_CASE("Bad entry files are reported as problems and skipped; good ones still load") {
  TempDir tmp("keyring");
  std::string dir = tmp.Sub("keyring");
  KeyringEntry good = Entry("good", wire::OPERATOR, "operator");
  REQUIRE(AddKeyringEntry(dir, good).ok());
  std::string shared_key = NewPublicKey();

  WriteText(dir + "/not-toml.toml", "name = \n");
  WriteText(dir + "/bad-role.toml", EntryToml("bad-role", NewPublicKey(), "superuser", "operator"));
  WriteText(dir + "/bad-key.toml", EntryToml("bad-key", "tooshort", "operator", "operator"));
  WriteText(dir + "/renamed.toml", EntryToml("original", NewPublicKey(), "operator", "operator"));
  WriteText(dir + "/typo.toml", EntryToml("typo", NewPublicKey(), "partner-gateway", "caf") +
                                    "teritory = \"perche\"\n");
  WriteText(dir + "/no-principal.toml", "name = \"no-principal\"\npublic-key = \"" +
                                            NewPublicKey() + "\"\nrole = \"operator\"\n");
  WriteText(dir + "/number.toml",
            EntryToml("number", NewPublicKey(), "operator", "operator") + "territory = 7\n");
  WriteText(dir + "/agent-territory.toml",
            EntryToml("agent-territory", NewPublicKey(), "agent-gateway", "mairie-remalard") +
                "territory = \"perche\"\n");
  WriteText(dir + "/open.toml", EntryToml("open", NewPublicKey(), "operator", "operator"), 0666);
  WriteText(dir + "/twin-a.toml", EntryToml("twin-a", shared_key, "operator", "operator"));
  WriteText(dir + "/twin-b.toml", EntryToml("twin-b", shared_key, "administrator", "operator"));
  // Not entries at all: silently ignored.
  WriteText(dir + "/.good.1234.tmp", "garbage");
  WriteText(dir + "/.hidden.toml", "garbage");
  WriteText(dir + "/README", "garbage");
  WriteText(dir + "/notes.toml.bak", "garbage");
  std::filesystem::create_directory(dir + "/subdir");

  KeyringLoad load = LoadKeyringDirectory(dir);
  REQUIRE(load.entries.size() == 1);
  CHECK(SameEntry(load.entries[0], good));
  CHECK(load.problems.size() == 11);
  CHECK(Contains(ProblemAbout(load, "not-toml.toml"), "not-toml.toml:1:"));
  CHECK(Contains(ProblemAbout(load, "bad-role.toml"), "unknown role 'superuser'"));
  CHECK(Contains(ProblemAbout(load, "bad-key.toml"), "not a Z85 key"));
  CHECK(Contains(ProblemAbout(load, "renamed.toml"),
                 "name 'original' is not the file name 'renamed'"));
  CHECK(Contains(ProblemAbout(load, "typo.toml"), "unknown key 'teritory'"));
  CHECK(Contains(ProblemAbout(load, "no-principal.toml"), "missing key 'principal'"));
  CHECK(Contains(ProblemAbout(load, "number.toml"), "'territory' must be a string"));
  CHECK(Contains(ProblemAbout(load, "agent-territory.toml"), "only a partner gateway"));
  CHECK(Contains(ProblemAbout(load, "open.toml"), "writable by group or others (mode 0666)"));
  CHECK(Contains(ProblemAbout(load, "twin-a.toml"), "held by 2 files"));
  CHECK(Contains(ProblemAbout(load, "twin-b.toml"), "held by 2 files"));
  CHECK(ProblemAbout(load, "README").empty());
  CHECK(ProblemAbout(load, ".hidden.toml").empty());
}

TEST_CASE("A missing or group-writable keyring directory loads nothing, with one problem") {
  TempDir tmp("keyring");
  KeyringLoad missing = LoadKeyringDirectory(tmp.Sub("none"));
  CHECK(missing.entries.empty());
  REQUIRE(missing.problems.size() == 1);
  CHECK(Contains(missing.problems[0], "No such file or directory"));

  std::string dir = tmp.Sub("keyring");
  REQUIRE(AddKeyringEntry(dir, Entry("alice", wire::OPERATOR, "operator")).ok());
  REQUIRE(::chmod(dir.c_str(), 0770) == 0);
  KeyringLoad open = LoadKeyringDirectory(dir);
  CHECK(open.entries.empty());
  REQUIRE(open.problems.size() == 1);
  CHECK(Contains(open.problems[0], "writable by group or others (mode 0770)"));
  CHECK(Contains(AddKeyringEntry(dir, Entry("bob", wire::OPERATOR, "operator")).message(),
                 "writable by group or others"));

  REQUIRE(::chmod(dir.c_str(), 0755) == 0);
  CHECK(LoadKeyringDirectory(dir).entries.size() == 1);
}

TEST_CASE("RemoveKeyringEntry never reaches outside the keyring") {
  TempDir tmp("keyring");
  std::string dir = tmp.Sub("keyring");
  REQUIRE(AddKeyringEntry(dir, Entry("alice", wire::OPERATOR, "operator")).ok());
  WriteText(tmp.Sub("outside.toml"), "keep me");
  CHECK(RemoveKeyringEntry(dir, "../outside").code() == wire::INVALID_ARGUMENT);
  CHECK(std::filesystem::exists(tmp.Sub("outside.toml")));
  CHECK(LoadKeyringDirectory(dir).entries.size() == 1);
}

TEST_CASE("DescribeEntry names the role, the principal, the entry and the key's start") {
  KeyringEntry entry{"caf-perche", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
                     wire::PARTNER_GATEWAY, "caf", "perche"};
  CHECK(DescribeEntry(entry) == "partner-gateway caf/perche (key caf-perche, Yne@$w-v...)");
  entry.role = wire::AGENT_GATEWAY;
  entry.principal = "mairie-x";
  entry.territory = "";
  entry.name = "mairie-x";
  CHECK(DescribeEntry(entry) == "agent-gateway mairie-x (key mairie-x, Yne@$w-v...)");
}

TEST_CASE("CheckEntryAgainstNetwork finds the principal for its role") {
  NetworkConfig config = DefaultNetworkConfig();
  auto check = [&config](wire::Role role, std::string principal, std::string territory = "") {
    return CheckEntryAgainstNetwork(Entry("k", role, std::move(principal), std::move(territory)),
                                    config);
  };
  CHECK(check(wire::AGENT_GATEWAY, "mairie-perche-en-noce").ok());
  CHECK(check(wire::AGENT_GATEWAY, "caf").code() == wire::UNKNOWN_CONTACT_POINT);
  CHECK(check(wire::PARTNER_GATEWAY, "france-travail").ok());
  CHECK(check(wire::PARTNER_GATEWAY, "mairie-perche-en-noce").code() == wire::UNKNOWN_PARTNER);
  CHECK(check(wire::PARTNER_GATEWAY, "caf").ok());  // every territory of the partner
  CHECK(check(wire::PARTNER_GATEWAY, "caf", "perche").ok());
  Status nowhere = check(wire::PARTNER_GATEWAY, "caf", "nowhere");
  CHECK(nowhere.code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(nowhere.message(), "no territory 'nowhere'"));
  Status national = check(wire::PARTNER_GATEWAY, "france-travail", "perche");
  CHECK(national.code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(national.message(), "national"));
  CHECK(check(wire::OPERATOR, "operator").ok());
  CHECK(check(wire::ADMINISTRATOR, "administration").ok());
  // An administrator key only for a person the config marks administrator = true.
  CHECK(check(wire::ADMINISTRATOR, "operator").code() == wire::INVALID_ARGUMENT);
  CHECK(check(wire::OPERATOR, "nobody").code() == wire::INVALID_ARGUMENT);
  CHECK(check(wire::ADMINISTRATOR, "mairie-perche-en-noce").code() == wire::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace aplus
