#include "common/atomic_file.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace aplus {
namespace {

using aplus::testing::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::vector<std::string> Names(const TempDir& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Sets the process umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

TEST_CASE("WriteFileAtomically creates the file with exactly the mode asked, whatever the umask") {
  TempDir dir("atomic-file");
  std::string open_file = dir.Sub("open");
  std::string secret = dir.Sub("secret");
  {
    ScopedUmask umask(077);
    REQUIRE(WriteFileAtomically(open_file, "shared\n", 0644, false).ok());
  }
  {
    ScopedUmask umask(0);
    REQUIRE(WriteFileAtomically(secret, "mine\n", 0600, false).ok());
  }
  CHECK(ModeOf(open_file) == 0644);
  CHECK(ModeOf(secret) == 0600);
  CHECK(ReadAll(open_file) == "shared\n");
  CHECK(ReadAll(secret) == "mine\n");
  CHECK(Names(dir) == std::vector<std::string>{"open", "secret"});  // no temporary file left
}

TEST_CASE("Without overwrite an existing file is refused and left as it was") {
  TempDir dir("atomic-file");
  std::string path = dir.Sub("entry.toml");
  REQUIRE(WriteFileAtomically(path, "first\n", 0644, false).ok());
  Status again = WriteFileAtomically(path, "second\n", 0644, false);
  CHECK(again.code() == wire::INVALID_ARGUMENT);
  CHECK(again.message() == path + " already exists");
  CHECK(ReadAll(path) == "first\n");
  CHECK(Names(dir) == std::vector<std::string>{"entry.toml"});

  REQUIRE(WriteFileAtomically(path, "second\n", 0600, true).ok());
  CHECK(ReadAll(path) == "second\n");
  CHECK(ModeOf(path) == 0600);
  CHECK(Names(dir) == std::vector<std::string>{"entry.toml"});
}

TEST_CASE("A pending file is invisible until committed and removed when abandoned") {
  TempDir dir("atomic-file");
  std::string path = dir.Sub("key");
  {
    auto pending = PendingFile::Create(path, "content", 0600);
    REQUIRE(pending.ok());
    auto names = Names(dir);
    REQUIRE(names.size() == 1);
    CHECK(names[0].rfind(".key.", 0) == 0);  // a dotfile beside the target
    CHECK(!std::filesystem::exists(path));
  }
  CHECK(Names(dir).empty());

  auto pending = PendingFile::Create(path, "content", 0600);
  REQUIRE(pending.ok());
  PendingFile moved = std::move(pending).value();
  REQUIRE(moved.Commit(false).ok());
  CHECK(ReadAll(path) == "content");
  CHECK(Names(dir) == std::vector<std::string>{"key"});
}

TEST_CASE("A directory that does not exist is an error, not a crash") {
  TempDir dir("atomic-file");
  Status status = WriteFileAtomically(dir.Sub("missing/file"), "x", 0644, false);
  CHECK(status.code() == wire::INVALID_ARGUMENT);
  CHECK(status.message().find("cannot create") != std::string::npos);
  CHECK(SyncDirectory(dir.Sub("missing")).code() == wire::INVALID_ARGUMENT);
  CHECK(SyncDirectory(dir.path().string()).ok());
}

TEST_CASE("DirectoryOf") {
  CHECK(DirectoryOf("key") == ".");
  CHECK(DirectoryOf("keys/mairie.key") == "keys");
  CHECK(DirectoryOf("/etc/aplus/mairie.key") == "/etc/aplus");
  CHECK(DirectoryOf("/mairie.key") == "/");
}

}  // namespace
}  // namespace aplus
