#include "common/keyring_watcher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/curve_keys.h"
#include "common/keyring.h"
#include "tests/support/child_process.h"

namespace aplus {
namespace {

using aplus::testing::TempDir;

KeyringEntry Operator(const std::string& name) {
  auto pair = GenerateCurveKeyPair();
  REQUIRE(pair.ok());
  return KeyringEntry{name, pair->public_key, wire::OPERATOR, "operator", ""};
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

TEST_CASE("The watcher says true once per change and false when nothing changed") {
  TempDir tmp("keyring-watcher");
  std::string dir = tmp.Sub("keyring");
  REQUIRE(AddKeyringEntry(dir, Operator("alice")).ok());
  KeyringWatcher watcher(dir);
  CHECK(watcher.Changed());  // nothing seen yet
  CHECK_FALSE(watcher.Changed());
  CHECK_FALSE(watcher.Changed());

  SUBCASE("add") {
    REQUIRE(AddKeyringEntry(dir, Operator("bob")).ok());
    CHECK(watcher.Changed());
    CHECK_FALSE(watcher.Changed());
  }
  SUBCASE("remove") {
    REQUIRE(RemoveKeyringEntry(dir, "alice").ok());
    CHECK(watcher.Changed());
    CHECK_FALSE(watcher.Changed());
  }
  SUBCASE("edit in place") {
    std::string path = KeyringEntryPath(dir, "alice");
    std::ofstream(path, std::ios::app) << "# edited\n";
    CHECK(watcher.Changed());
    CHECK_FALSE(watcher.Changed());
  }
  SUBCASE("replace by rename, same size") {
    std::string path = KeyringEntryPath(dir, "alice");
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string role_line = "role = \"operator\"";
    text.replace(text.find(role_line), role_line.size(), "role = \"OPERATOR\"");
    WriteText(dir + "/.alice.swap", text);
    REQUIRE(std::rename((dir + "/.alice.swap").c_str(), path.c_str()) == 0);
    CHECK(watcher.Changed());
    CHECK_FALSE(watcher.Changed());
  }
  SUBCASE("chmod of an entry or of the directory") {
    REQUIRE(::chmod(KeyringEntryPath(dir, "alice").c_str(), 0664) == 0);
    CHECK(watcher.Changed());
    CHECK_FALSE(watcher.Changed());
    REQUIRE(::chmod(dir.c_str(), 0770) == 0);
    CHECK(watcher.Changed());
    CHECK_FALSE(watcher.Changed());
  }
}

TEST_CASE("A keyring directory that appears or disappears is a change") {
  TempDir tmp("keyring-watcher");
  std::string dir = tmp.Sub("keyring");
  KeyringWatcher watcher(dir);
  CHECK(watcher.Changed());
  CHECK_FALSE(watcher.Changed());
  REQUIRE(AddKeyringEntry(dir, Operator("alice")).ok());
  CHECK(watcher.Changed());
  CHECK_FALSE(watcher.Changed());
  std::filesystem::remove_all(dir);
  CHECK(watcher.Changed());
  CHECK_FALSE(watcher.Changed());
}

TEST_CASE("Files that are not entries do not hide a real change") {
  TempDir tmp("keyring-watcher");
  std::string dir = tmp.Sub("keyring");
  REQUIRE(AddKeyringEntry(dir, Operator("alice")).ok());
  KeyringWatcher watcher(dir);
  CHECK(watcher.Changed());
  CHECK_FALSE(watcher.Changed());
  // A README appearing changes the directory's mtime: a harmless extra reload.
  WriteText(dir + "/README", "notes");
  CHECK(watcher.Changed());
  CHECK_FALSE(watcher.Changed());
  // Edited in place: the README is not an entry, and the directory is unchanged.
  WriteText(dir + "/README", "more notes");
  CHECK_FALSE(watcher.Changed());
}

}  // namespace
}  // namespace aplus
