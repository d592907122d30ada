#include "common/entry_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/text.h"

namespace aplus {
namespace {

constexpr mode_t kEntryDirectoryMode = 0700;

Result<std::string> ReadEntryFile(int dir_fd, const std::string& file_name,
                                  const std::string& path, const EntryDirectoryRules& rules) {
  auto invalid = [](std::string why) { return Status(wire::INVALID_ARGUMENT, std::move(why)); };
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | (rules.follow_symlinks ? 0 : O_NOFOLLOW);
  int fd = ::openat(dir_fd, file_name.c_str(), flags);
  if (fd < 0) return invalid(std::string("cannot read: ") + std::strerror(errno));
  struct stat info {};
  std::string contents;
  Status status;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    status = invalid("not a regular file");
  } else if ((info.st_mode & 022) != 0) {
    status = invalid("writable by group or others (mode " + ModeText(info.st_mode) +
                     "): anyone could " + std::string(rules.file_grants) +
                     "; run chmod go-w " + path);
  } else {
    char buffer[4096];
    while (status.ok()) {
      ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) status = invalid(std::string("cannot read: ") + std::strerror(errno));
      if (n <= 0) break;
      contents.append(buffer, static_cast<size_t>(n));
      if (contents.size() > rules.max_entry_bytes) {
        status = invalid("too large to be a " + std::string(rules.entry_kind));
      }
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
}

}  // namespace

std::string ModeText(unsigned mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", mode & 07777);
  return text;
}

EntryDirectoryScan ScanEntryDirectory(const std::string& dir, const EntryDirectoryRules& rules) {
  EntryDirectoryScan scan;
  const std::string label(rules.label);
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) {
    int error = errno;
    scan.missing = error == ENOENT;
    scan.dir_problem = label + " " + dir + ": " + std::strerror(error);
    return scan;
  }
  int dir_fd = ::dirfd(handle);
  struct stat info {};
  if (::fstat(dir_fd, &info) == 0 && (info.st_mode & 022) != 0) {
    scan.dir_problem = label + " " + dir + " is writable by group or others (mode " +
                       ModeText(info.st_mode) + "): anyone could " +
                       std::string(rules.dir_grants) + "; nothing loaded; run chmod go-w " + dir;
    ::closedir(handle);
    return scan;
  }
  std::vector<std::string> names;
  errno = 0;  // readdir() tells its end from an error only by errno
  while (const dirent* entry = ::readdir(handle)) {
    if (IsEntryFileName(entry->d_name)) names.emplace_back(entry->d_name);
  }
  if (errno != 0) {
    scan.dir_problem = label + " " + dir + ": cannot list: " + std::strerror(errno);
    ::closedir(handle);
    return scan;
  }
  std::sort(names.begin(), names.end());
  for (auto& name : names) {
    std::string path = dir + "/" + name;
    auto text = ReadEntryFile(dir_fd, name, path, rules);
    scan.files.push_back(EntryFile{std::move(name), std::move(path), std::move(text)});
  }
  ::closedir(handle);
  return scan;
}

bool IsEntryFileName(std::string_view file_name) {
  return file_name.size() > kEntryFileSuffix.size() && file_name[0] != '.' &&
         file_name.substr(file_name.size() - kEntryFileSuffix.size()) == kEntryFileSuffix;
}

// A name becomes a file name: no '/', and no leading '.' (the scan would take the file for a
// temporary one and skip it) or '-' (it would read as a flag on a command line).
bool IsEntryName(std::string_view name) {
  if (name.empty() || name.size() > kMaxEntryNameLength) return false;
  if (!std::all_of(name.begin(), name.end(), IsIdChar)) return false;
  return name[0] != '.' && name[0] != '-';
}

std::string EntryFilePath(const std::string& dir, std::string_view name) {
  return dir + "/" + std::string(name) + std::string(kEntryFileSuffix);
}

std::string_view EntryNameOfFile(std::string_view file_name) {
  if (file_name.size() < kEntryFileSuffix.size()) return file_name;
  return file_name.substr(0, file_name.size() - kEntryFileSuffix.size());
}

Result<toml::table> ParseEntryFile(const EntryFile& file) {
  if (!file.text.ok()) return InvalidArgument(file.path + ": " + file.text.status().message());
  try {
    return toml::parse(std::string_view(*file.text), std::string_view(file.path));
  } catch (const toml::parse_error& error) {
    const auto& where = error.source().begin;
    return InvalidArgument(file.path + ":" + std::to_string(where.line) + ":" +
                           std::to_string(where.column) + ": " + std::string(error.description()));
  }
}

Status CheckEntryKeys(const EntryFile& file, const toml::table& table,
                      std::span<const std::string_view> known_keys, EntryValueCheck check_value) {
  for (const auto& [key, node] : table) {
    if (std::find(known_keys.begin(), known_keys.end(), key.str()) == known_keys.end()) {
      return InvalidArgument(file.path + ": unknown key '" + std::string(key.str()) + "'");
    }
    if (check_value == nullptr) continue;
    std::string problem = check_value(key.str(), node);
    if (!problem.empty()) return InvalidArgument(file.path + ": " + problem);
  }
  return Status::Ok();
}

Status CheckEntryNameIsFileName(const EntryFile& file, std::string_view name) {
  std::string_view stem = EntryNameOfFile(file.file_name);
  if (name == stem) return Status::Ok();
  return InvalidArgument(file.path + ": name '" + std::string(name) + "' is not the file name '" +
                         std::string(stem) + "'");
}

Status CreateEntryDirectory(const std::string& dir, const EntryDirectoryRules& rules) {
  // The parents' errors show in mkdir's own.
  std::error_code ignored;
  std::filesystem::path path(dir);
  // "a/tokens/" names "a/tokens": its parent is "a", not "a/tokens" itself (which
  // create_directories would make with the umask's mode instead of 0700).
  if (!path.has_filename()) path = path.parent_path();
  std::filesystem::path parent = path.parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
  if (::mkdir(dir.c_str(), kEntryDirectoryMode) != 0 && errno != EEXIST) {
    int error = errno;
    return InvalidArgument("cannot create " + std::string(rules.dir_noun) + " " + dir + ": " +
                           std::strerror(error));
  }
  return Status::Ok();
}

Status RemoveEntryFile(const std::string& dir, const std::string& name,
                       const EntryDirectoryRules& rules) {
  const std::string none = "no " + std::string(rules.entry_noun) + " named ";
  if (!IsEntryName(name)) return InvalidArgument(none + name.substr(0, 64) + " in " + dir);
  std::string path = EntryFilePath(dir, name);
  if (::unlink(path.c_str()) != 0) {
    int error = errno;
    if (error == ENOENT) return InvalidArgument(none + name + " in " + dir);
    return InvalidArgument("cannot remove " + path + ": " + std::strerror(error));
  }
  return SyncDirectory(dir);
}

}  // namespace aplus
