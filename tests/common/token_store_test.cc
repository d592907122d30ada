// API tokens: add, load, authenticate, remove; files and directories writable by others
// refused; hand-edited files checked; live reload seen by the keyring watcher.
#include "common/token_store.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/keyring_watcher.h"
#include "tests/support/child_process.h"

namespace {

using aplus::testing::TempDir;

constexpr int64_t kNow = 1795773600123;  // 2026-11-27T10:00:00.123Z

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string HashLine() { return "sha256 = \"" + aplus::HashToken("aplus_x") + "\"\n"; }

}  // namespace

TEST_CASE("a token added is stored as its hash only, and authenticates as its name") {
  TempDir tmp("tokens");
  std::string dir = tmp.Sub("tokens");
  auto token = aplus::AddToken(dir, "front-desk", {}, kNow);
  REQUIRE(token.ok());
  CHECK(token->size() == 70);
  CHECK(token->rfind("aplus_", 0) == 0);
  auto other = aplus::AddToken(dir, "noce", {"agent-noce-1", "mairie/agent-2"}, kNow);
  REQUIRE(other.ok());
  CHECK(*other != *token);

  struct stat info {};
  REQUIRE(::stat(dir.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0700);
  std::string path = aplus::TokenEntryPath(dir, "front-desk");
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0600);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_FALSE(Contains(text, token->substr(6)));
  CHECK(Contains(text, "sha256 = \"" + aplus::HashToken(*token) + "\""));
  CHECK(Contains(text, "created-at = 2026-11-27T10:00:00Z"));

  aplus::TokenLoad load = aplus::LoadTokenDirectory(dir);
  CHECK(load.problems.empty());
  REQUIRE(load.entries.size() == 2);
  CHECK(load.entries[0].name == "front-desk");
  CHECK(load.entries[0].created_ms == 1795773600000);
  CHECK(load.entries[0].agents.empty());
  CHECK(load.entries[1].agents == std::vector<std::string>{"agent-noce-1", "mairie/agent-2"});

  aplus::TokenStore store(load.entries);
  auto who = store.Authenticate(*token);
  REQUIRE(who.ok());
  CHECK(who->name == "front-desk");
  CHECK(who->AllowsAgent("anyone"));
  auto noce = store.Authenticate(*other);
  REQUIRE(noce.ok());
  CHECK(noce->name == "noce");
  CHECK(noce->AllowsAgent("agent-noce-1"));
  CHECK_FALSE(noce->AllowsAgent("agent-noce-3"));

  for (std::string bad : {std::string(), std::string("aplus_"), token->substr(0, 69),
                          *token + "0", std::string(10000, 'a'), aplus::HashToken(*token)}) {
    CHECK(store.Authenticate(bad).status().code() == aplus::wire::NOT_AUTHENTICATED);
  }
  CHECK(aplus::TokenStore().Authenticate(*token).status().code() ==
        aplus::wire::NOT_AUTHENTICATED);

  CHECK(aplus::AddToken(dir, "front-desk", {}, kNow).status().message() ==
        "a token named front-desk already exists in " + dir);
  REQUIRE(aplus::RemoveToken(dir, "front-desk").ok());
  CHECK(aplus::RemoveToken(dir, "front-desk").message() ==
        "no token named front-desk in " + dir);
  CHECK(aplus::RemoveToken(dir, "../tokens/noce").code() == aplus::wire::INVALID_ARGUMENT);
  aplus::TokenStore after(aplus::LoadTokenDirectory(dir).entries);
  CHECK_FALSE(after.Authenticate(*token).ok());
  CHECK(after.Authenticate(*other).ok());
}

TEST_CASE("bad names and agents are refused before anything is written") {
  TempDir tmp("tokens-bad");
  std::string dir = tmp.Sub("tokens");
  for (const char* name : {"", ".hidden", "-flag", "a/b", "a b", "é"}) {
    CAPTURE(name);
    CHECK(aplus::AddToken(dir, name, {}, kNow).status().code() == aplus::wire::INVALID_ARGUMENT);
  }
  CHECK_FALSE(aplus::AddToken(dir, std::string(129, 'a'), {}, kNow).ok());
  for (const char* agent : {"", "a b", "a\"b", "a,b", "a\\b"}) {
    CAPTURE(agent);
    CHECK(aplus::AddToken(dir, "ok", {agent}, kNow).status().code() ==
          aplus::wire::INVALID_ARGUMENT);
  }
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("a directory or a file writable by group or others grants nothing") {
  TempDir tmp("tokens-modes");
  std::string dir = tmp.Sub("tokens");
  auto token = aplus::AddToken(dir, "front-desk", {}, kNow);
  REQUIRE(token.ok());

  std::string path = aplus::TokenEntryPath(dir, "front-desk");
  REQUIRE(::chmod(path.c_str(), 0620) == 0);
  aplus::TokenLoad load = aplus::LoadTokenDirectory(dir);
  CHECK(load.entries.empty());
  REQUIRE(load.problems.size() == 1);
  CHECK(Contains(load.problems[0], path + ": writable by group or others (mode 0620)"));
  REQUIRE(::chmod(path.c_str(), 0600) == 0);

  REQUIRE(::chmod(dir.c_str(), 0702) == 0);
  load = aplus::LoadTokenDirectory(dir);
  CHECK(load.entries.empty());
  REQUIRE(load.problems.size() == 1);
  CHECK(Contains(load.problems[0], "writable by group or others (mode 0702)"));
  CHECK(aplus::AddToken(dir, "other", {}, kNow).status().code() == aplus::wire::INVALID_ARGUMENT);
  REQUIRE(::chmod(dir.c_str(), 0700) == 0);
  CHECK(aplus::LoadTokenDirectory(dir).entries.size() == 1);

  load = aplus::LoadTokenDirectory(tmp.Sub("missing"));
  CHECK(load.entries.empty());
  CHECK(load.problems.size() == 1);
}

TEST_CASE("hand-edited files: each mistake skips that file, with the reason") {
  TempDir tmp("tokens-edits");
  std::string dir = tmp.Sub("tokens");
  REQUIRE(aplus::AddToken(dir, "good", {}, kNow).ok());
  const std::string when = "created-at = 2026-01-01T00:00:00+01:00\n";
  struct Case {
    const char* name;
    std::string text;
    const char* problem;
  };
  std::vector<Case> cases = {
      {"syntax", "name = \"syntax\"\nsha256 = \n", "syntax.toml:2:"},
      {"unknown", "name = \"unknown\"\n" + HashLine() + when + "agent = [\"a\"]\n",
       "unknown key 'agent'"},
      {"noname", HashLine() + when, "'name' must be a string"},
      {"nohash", "name = \"nohash\"\n" + when, "'sha256' must be a string"},
      {"badhash", "name = \"badhash\"\nsha256 = \"ABC\"\n" + when, "not 64 lowercase hex"},
      {"nodate", "name = \"nodate\"\n" + HashLine(), "'created-at' must be a date-time"},
      {"localdate", "name = \"localdate\"\n" + HashLine() + "created-at = 2026-01-01T00:00:00\n",
       "'created-at' must be a date-time"},
      {"agents", "name = \"agents\"\n" + HashLine() + when + "agents = \"a\"\n",
       "'agents' must be a list"},
      {"agents2", "name = \"agents2\"\n" + HashLine() + when + "agents = [1]\n",
       "'agents' must be a list"},
      {"copied", "name = \"other\"\n" + HashLine() + when, "is not the file name 'copied'"},
  };
  for (const auto& c : cases) WriteFile(aplus::TokenEntryPath(dir, c.name), c.text);
  WriteFile(dir + "/.tmp.toml", "garbage");  // a temporary file: not an entry
  WriteFile(dir + "/README", "garbage");
  WriteFile(aplus::TokenEntryPath(dir, "offset"),
            "name = \"offset\"\n" + HashLine() + when + "agents = []\n");

  aplus::TokenLoad load = aplus::LoadTokenDirectory(dir);
  REQUIRE(load.entries.size() == 2);
  CHECK(load.entries[0].name == "good");
  CHECK(load.entries[1].name == "offset");
  CHECK(load.entries[1].created_ms == 1767222000000);  // 2025-12-31T23:00:00Z
  REQUIRE(load.problems.size() == cases.size());
  for (const auto& c : cases) {
    CAPTURE(c.name);
    bool found = false;
    for (const auto& problem : load.problems) {
      if (Contains(problem, aplus::TokenEntryPath(dir, c.name)) && Contains(problem, c.problem)) {
        found = true;
      }
    }
    CHECK(found);
  }
  CHECK(aplus::TokenStore(load.entries).Authenticate("aplus_x")->name == "offset");
}

TEST_CASE("live reload: the keyring watcher sees tokens added, removed and chmodded") {
  TempDir tmp("tokens-watch");
  std::string dir = tmp.Sub("tokens");
  aplus::KeyringWatcher watcher(dir);
  CHECK(watcher.Changed());
  CHECK_FALSE(watcher.Changed());
  REQUIRE(aplus::AddToken(dir, "a", {}, kNow).ok());
  CHECK(watcher.Changed());
  CHECK_FALSE(watcher.Changed());
  REQUIRE(::chmod(aplus::TokenEntryPath(dir, "a").c_str(), 0644) == 0);
  CHECK(watcher.Changed());
  REQUIRE(aplus::RemoveToken(dir, "a").ok());
  CHECK(watcher.Changed());
  CHECK_FALSE(watcher.Changed());
}
