#include "common/entry_directory.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace aplus {
namespace {

constexpr EntryDirectoryRules kRules{"things", "add a thing", "change a thing", "thing entry",
                                     /*follow_symlinks=*/false, /*max_entry_bytes=*/16};

std::filesystem::path FreshDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("aplus-entry-dir-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  return dir;
}

void Write(const std::filesystem::path& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

}  // namespace

TEST_CASE("entries are read in file-name order; only entry files; each checked alone") {
  auto dir = FreshDir("order");
  Write(dir / "b.toml", "second");
  Write(dir / "a.toml", "first");
  Write(dir / ".hidden.toml", "skipped");
  Write(dir / "notes.txt", "skipped");
  Write(dir / "big.toml", "more than sixteen bytes");
  Write(dir / "open.toml", "x", 0620);
  std::filesystem::create_symlink(dir / "a.toml", dir / "link.toml");
  auto scan = ScanEntryDirectory(dir.string(), kRules);
  CHECK(scan.dir_problem.empty());
  REQUIRE(scan.files.size() == 5);
  CHECK(scan.files[0].file_name == "a.toml");
  CHECK(*scan.files[0].text == "first");
  CHECK(scan.files[1].file_name == "b.toml");
  CHECK(scan.files[2].file_name == "big.toml");
  CHECK(scan.files[2].text.status().message() == "too large to be a thing entry");
  CHECK(scan.files[3].file_name == "link.toml");
  CHECK_FALSE(scan.files[3].text.ok());  // a symbolic link, refused by these rules
  CHECK(scan.files[4].file_name == "open.toml");
  CHECK(scan.files[4].text.status().message().find("anyone could change a thing") !=
        std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a directory writable by group or others loads nothing; a missing one says so") {
  auto dir = FreshDir("open-dir");
  Write(dir / "a.toml", "first");
  ::chmod(dir.c_str(), 0770);
  auto scan = ScanEntryDirectory(dir.string(), kRules);
  CHECK(scan.files.empty());
  CHECK(scan.dir_problem.find("anyone could add a thing") != std::string::npos);
  CHECK(scan.dir_problem.find("chmod go-w") != std::string::npos);
  std::filesystem::remove_all(dir);
  auto missing = ScanEntryDirectory(dir.string(), kRules);
  CHECK(missing.missing);
  CHECK(missing.dir_problem.rfind("things ", 0) == 0);
}

}  // namespace aplus
