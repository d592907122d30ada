// Small files replaced all at once: a reader sees the old content or the new one, never a
// mix, and a crash leaves no half-written file under the final name. Used for key files and
// keyring entries.
//
// The new content is written and fsynced under a temporary name in the target's directory
// (".<file name>.<random>.tmp": a leading dot, so directory scanners that skip dotfiles never
// pick it up), then put in place with rename() (replace) or link() (create only: fails if the
// name exists, atomically, with no window between the check and the creation), and the
// directory is fsynced so that the new name survives a crash.
//
// Thread rules: none of these functions share state; a PendingFile belongs to one thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace aplus {

// New content waiting under its temporary name. Move-only; the destructor removes the
// temporary file when Commit() was not called or failed.
class PendingFile {
 public:
  // Creates the temporary file with exactly `mode` (the umask cannot widen or narrow it; the
  // file is never readable more widely than `mode`, even for a moment), writes `contents` and
  // fsyncs it. INVALID_ARGUMENT when the directory cannot be written (errno text included).
  static Result<PendingFile> Create(std::string path, std::string_view contents, mode_t mode);

  PendingFile(PendingFile&& other) noexcept;
  PendingFile& operator=(PendingFile&& other) noexcept;
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  ~PendingFile();

  // Puts the content in place under path() and fsyncs the directory. Without `overwrite`, an
  // existing file is left untouched and the answer is INVALID_ARGUMENT "PATH already exists".
  Status Commit(bool overwrite);

  const std::string& path() const { return path_; }

 private:
  PendingFile(std::string path, std::string temp_path)
      : path_(std::move(path)), temp_path_(std::move(temp_path)) {}

  std::string path_;
  std::string temp_path_;  // "" once committed or moved from
};

// PendingFile::Create then Commit.
Status WriteFileAtomically(const std::string& path, std::string_view contents, mode_t mode,
                           bool overwrite);

// fsync of a directory, so that names created, renamed or removed in it are durable.
Status SyncDirectory(const std::string& dir);

// The directory part of `path` ("." for a bare file name).
std::string DirectoryOf(const std::string& path);

}  // namespace aplus
