#include "common/keyring_watcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "common/keyring.h"

namespace aplus {
namespace {

int64_t Nanoseconds(const struct timespec& time) {
  return static_cast<int64_t>(time.tv_sec) * 1000000000 + time.tv_nsec;
}

}  // namespace

KeyringWatcher::KeyringWatcher(std::string dir) : dir_(std::move(dir)) {}

bool KeyringWatcher::Changed() {
  Signature now = Read();
  bool changed = !seen_ || !(now == last_);
  seen_ = true;
  last_ = std::move(now);
  return changed;
}

KeyringWatcher::Signature KeyringWatcher::Read() const {
  Signature signature;
  DIR* handle = ::opendir(dir_.c_str());
  if (handle == nullptr) return signature;  // missing or unreadable: "does not exist"
  int dir_fd = ::dirfd(handle);
  struct stat info {};
  if (::fstat(dir_fd, &info) == 0) {
    signature.exists = true;
    signature.inode = info.st_ino;
    signature.mtime_ns = Nanoseconds(info.st_mtim);
    signature.ctime_ns = Nanoseconds(info.st_ctim);  // also moves on chmod: load may refuse
  }
  while (const dirent* entry = ::readdir(handle)) {
    if (!IsKeyringEntryFileName(entry->d_name)) continue;
    FileStamp stamp;
    stamp.name = entry->d_name;
    // A file removed between readdir and stat keeps a zero stamp: the next call sees it gone.
    if (::fstatat(dir_fd, entry->d_name, &info, 0) == 0) {
      stamp.inode = info.st_ino;
      stamp.size = info.st_size;
      stamp.mtime_ns = Nanoseconds(info.st_mtim);
      stamp.ctime_ns = Nanoseconds(info.st_ctim);
    }
    signature.files.push_back(std::move(stamp));
  }
  ::closedir(handle);
  std::sort(signature.files.begin(), signature.files.end(),
            [](const FileStamp& a, const FileStamp& b) { return a.name < b.name; });
  return signature;
}

}  // namespace aplus
