#include "common/entry_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/keyring.h"

namespace aplus {
namespace {

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
    if (IsKeyringEntryFileName(entry->d_name)) names.emplace_back(entry->d_name);
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

}  // namespace aplus
