#include "common/entry_directory.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace aplus {
namespace {

constexpr EntryDirectoryRules kRules{.label = "things",
                                     .dir_grants = "add a thing",
                                     .file_grants = "change a thing",
                                     .entry_kind = "thing entry",
                                     .dir_noun = "thing directory",
                                     .entry_noun = "thing",
                                     .follow_symlinks = false,
                                     .max_entry_bytes = 16};

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

// An entry file as a scan gives it, without a directory.
EntryFile Entry(const std::string& file_name, std::string text) {
  return EntryFile{file_name, "/things/" + file_name, std::move(text)};
}

mode_t ModeOf(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

constexpr std::string_view kKnownKeys[] = {"name", "colour"};

std::string StringsOnly(std::string_view key, const toml::node& value) {
  return value.is_string() ? std::string() : "'" + std::string(key) + "' must be a string";
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

TEST_CASE("entry names become file names: no '/', no leading '.' or '-', at most 128") {
  for (std::string_view name : {"caf-perche", "a", "A.b_c-d", "9lives", "_underscore"}) {
    CAPTURE(name);
    CHECK(IsEntryName(name));
  }
  for (std::string_view name : {"", ".hidden", "-flag", "a/b", "../up", "a b", "é", "a\"b"}) {
    CAPTURE(name);
    CHECK_FALSE(IsEntryName(name));
  }
  CHECK(IsEntryName(std::string(128, 'a')));
  CHECK_FALSE(IsEntryName(std::string(129, 'a')));

  CHECK(EntryFilePath("/etc/things", "caf") == "/etc/things/caf.toml");
  CHECK(EntryNameOfFile("caf.toml") == "caf");
  CHECK(IsEntryFileName("caf.toml"));
  for (std::string_view file : {".toml", ".caf.toml", "caf.toml.bak", "caf", "README"}) {
    CAPTURE(file);
    CHECK_FALSE(IsEntryFileName(file));
  }
}

TEST_CASE("an entry that is not TOML is refused with its line and column") {
  auto parsed = ParseEntryFile(Entry("a.toml", "name = \"a\"\ncolour = \n"));
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.status().code() == wire::INVALID_ARGUMENT);
  // Line 2, column 10: the end of "colour = ", where a value was expected; then toml++'s words.
  const std::string where = "/things/a.toml:2:10: ";
  CHECK(parsed.status().message().rfind(where, 0) == 0);
  CHECK(parsed.status().message().size() > where.size());

  auto good = ParseEntryFile(Entry("a.toml", "name = \"a\"\n"));
  REQUIRE(good.ok());
  CHECK(good->get_as<std::string>("name")->get() == "a");

  // A file the scan could not read: its reason, after the path.
  EntryFile unreadable{"b.toml", "/things/b.toml",
                       InvalidArgument("too large to be a thing entry")};
  CHECK(ParseEntryFile(unreadable).status().message() ==
        "/things/b.toml: too large to be a thing entry");
}

TEST_CASE("an unknown key is refused; values are checked key by key in the table's order") {
  EntryFile file = Entry("a.toml", "");
  auto table = toml::parse("name = \"a\"\ncolor = \"red\"\n");
  Status unknown = CheckEntryKeys(file, table, kKnownKeys);
  CHECK(unknown.code() == wire::INVALID_ARGUMENT);
  CHECK(unknown.message() == "/things/a.toml: unknown key 'color'");

  CHECK(CheckEntryKeys(file, toml::parse("name = 7\ncolour = \"red\"\n"), kKnownKeys).ok());
  // 'colour' comes before 'name' in the table (keys are sorted), and before 'zz'.
  Status number =
      CheckEntryKeys(file, toml::parse("name = 7\ncolour = 8\nzz = 1\n"), kKnownKeys, StringsOnly);
  CHECK(number.message() == "/things/a.toml: 'colour' must be a string");
  Status first = CheckEntryKeys(file, toml::parse("name = 7\nabc = 1\n"), kKnownKeys, StringsOnly);
  CHECK(first.message() == "/things/a.toml: unknown key 'abc'");
  CHECK(CheckEntryKeys(file, toml::parse("name = \"a\"\n"), kKnownKeys, StringsOnly).ok());
}

TEST_CASE("an entry's name must be its file name") {
  EntryFile file = Entry("renamed.toml", "");
  CHECK(CheckEntryNameIsFileName(file, "renamed").ok());
  Status copied = CheckEntryNameIsFileName(file, "original");
  CHECK(copied.code() == wire::INVALID_ARGUMENT);
  CHECK(copied.message() == "/things/renamed.toml: name 'original' is not the file name 'renamed'");
}

TEST_CASE("a missing directory is created with mode 0700, its parents as needed") {
  auto base = FreshDir("create");
  std::string dir = (base / "nested" / "things").string();
  REQUIRE(CreateEntryDirectory(dir, kRules).ok());
  CHECK(std::filesystem::is_directory(dir));
  CHECK(ModeOf(dir) == 0700);
  CHECK(CreateEntryDirectory(dir, kRules).ok());  // already there: nothing to do

  // Named with a trailing '/': the directory itself is still made by mkdir, mode 0700 (not by
  // the parents' creation with the umask's mode).
  std::string slashed = (base / "slashed" / "things").string() + "/";
  REQUIRE(CreateEntryDirectory(slashed, kRules).ok());
  CHECK(ModeOf(base / "slashed" / "things") == 0700);

  Write(base / "file", "not a directory");
  std::string below_file = (base / "file" / "things").string();
  Status refused = CreateEntryDirectory(below_file, kRules);
  CHECK(refused.code() == wire::INVALID_ARGUMENT);
  CHECK(refused.message() == "cannot create thing directory " + below_file + ": Not a directory");
  std::filesystem::remove_all(base);
}

TEST_CASE("removing an entry: gone once, then 'no thing named'; never outside the directory") {
  auto base = FreshDir("remove");
  std::string dir = (base / "things").string();
  REQUIRE(CreateEntryDirectory(dir, kRules).ok());
  Write(EntryFilePath(dir, "a"), "name = \"a\"\n");
  Write(base / "outside.toml", "keep me");

  REQUIRE(RemoveEntryFile(dir, "a", kRules).ok());
  CHECK_FALSE(std::filesystem::exists(EntryFilePath(dir, "a")));
  Status again = RemoveEntryFile(dir, "a", kRules);
  CHECK(again.code() == wire::INVALID_ARGUMENT);
  CHECK(again.message() == "no thing named a in " + dir);
  Status outside = RemoveEntryFile(dir, "../outside", kRules);
  CHECK(outside.message() == "no thing named ../outside in " + dir);
  CHECK(std::filesystem::exists(base / "outside.toml"));
  CHECK(RemoveEntryFile(dir, std::string(200, 'x'), kRules).message() ==
        "no thing named " + std::string(64, 'x') + " in " + dir);
  std::filesystem::remove_all(base);
}

TEST_CASE("an entry directory read by its caller's reader; to add, created first when missing") {
  auto base = FreshDir("read");
  std::string dir = (base / "things").string();
  auto file_names = [](const EntryFile& file) { return file.file_name; };

  auto missing = ReadEntryDirectory(dir, kRules, file_names);
  CHECK(missing.missing);
  CHECK(missing.files.empty());

  auto to_add = ReadEntryDirectoryToAdd(dir, kRules, file_names);
  REQUIRE(to_add.ok());
  CHECK_FALSE(to_add->missing);
  CHECK(ModeOf(dir) == 0700);
  Write(std::filesystem::path(dir) / "b.toml", "b");
  Write(std::filesystem::path(dir) / "a.toml", "a");
  auto read = ReadEntryDirectory(dir, kRules, file_names);
  CHECK(read.files == std::vector<std::string>{"a.toml", "b.toml"});

  // A directory anyone in the group could write to is not added to.
  ::chmod(dir.c_str(), 0770);
  auto refused = ReadEntryDirectoryToAdd(dir, kRules, file_names);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == wire::INVALID_ARGUMENT);
  CHECK(ReadEntryDirectory(dir, kRules, file_names).files.empty());
  std::filesystem::remove_all(base);
}

}  // namespace aplus
