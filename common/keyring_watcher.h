// Tells cheaply whether a keyring directory (common/keyring.h) changed, so that the broker can
// poll it every second and re-read the entries only after an add, a remove or an edit.
//
// The signature compared between calls: whether the directory exists, its inode, mtime and
// ctime (nanoseconds; ctime also moves on chmod, which decides whether the keyring loads),
// and for every entry file (IsKeyringEntryFileName) its name, inode, size, mtime and ctime.
// One readdir and one stat per entry file: a few milliseconds for a few thousand entries.
// Limit: an in-place edit that keeps the size, within one tick of the file system's clock (a
// few milliseconds) of the previous write, can go unseen until the next change; `aplus
// keyring add` writes a new file (a new inode), which is always seen.
//
// Thread rules: not thread-safe; one owner calls Changed().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace aplus {

class KeyringWatcher {
 public:
  explicit KeyringWatcher(std::string dir);

  // Whether the signature differs from the one the previous call saw; true on the first call
  // (nothing seen yet). Call it BEFORE reading the keyring: a change made during the read
  // then shows on the next call instead of being lost.
  bool Changed();

 private:
  struct FileStamp {
    std::string name;
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct Signature {
    bool exists = false;
    ino_t inode = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    std::vector<FileStamp> files;  // sorted by name
    bool operator==(const Signature&) const = default;
  };

  Signature Read() const;

  const std::string dir_;
  bool seen_ = false;
  Signature last_;
};

}  // namespace aplus
