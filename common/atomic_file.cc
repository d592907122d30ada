#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>

namespace aplus {
namespace {

Status ErrnoStatus(const std::string& what, int error) {
  return Status(wire::INVALID_ARGUMENT, what + ": " + std::strerror(error));
}

// ".<name>.<16 hex digits>.tmp" beside `path`.
std::string TempPathFor(const std::string& path) {
  size_t name_start = path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1;
  std::random_device device;
  uint64_t random = (uint64_t{device()} << 32) | device();
  char suffix[24];
  std::snprintf(suffix, sizeof(suffix), ".%016llx.tmp", static_cast<unsigned long long>(random));
  return path.substr(0, name_start) + "." + path.substr(name_start) + suffix;
}

// Closes `fd` on every path out of a function.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now and reports the error close() may carry (delayed write errors on some file
  // systems).
  int Close() {
    int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

}  // namespace

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<PendingFile> PendingFile::Create(std::string path, std::string_view contents, mode_t mode) {
  std::string temp_path = TempPathFor(path);
  // O_EXCL: a name someone else prepared (a symlink to a file of theirs) is never written.
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return ErrnoStatus("cannot create " + temp_path, errno);
  FdCloser closer(fd);
  PendingFile pending(std::move(path), temp_path);  // from here, the destructor cleans up
  // The umask may only have removed bits; fchmod gives exactly `mode` (a .pub file stays
  // world-readable under umask 077, a secret never gets more than asked for).
  if (::fchmod(fd, mode) != 0) return ErrnoStatus("cannot set the mode of " + temp_path, errno);
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot write " + temp_path, errno);
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return ErrnoStatus("cannot sync " + temp_path, errno);
  if (closer.Close() != 0) return ErrnoStatus("cannot close " + temp_path, errno);
  return pending;
}

PendingFile::PendingFile(PendingFile&& other) noexcept
    : path_(std::move(other.path_)), temp_path_(std::exchange(other.temp_path_, {})) {}

PendingFile& PendingFile::operator=(PendingFile&& other) noexcept {
  if (this != &other) {
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    path_ = std::move(other.path_);
    temp_path_ = std::exchange(other.temp_path_, {});
  }
  return *this;
}

PendingFile::~PendingFile() {
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Status PendingFile::Commit(bool overwrite) {
  if (temp_path_.empty()) return Status(wire::INTERNAL, path_ + ": nothing to commit");
  if (overwrite) {
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      return ErrnoStatus("cannot rename " + temp_path_ + " to " + path_, errno);
    }
  } else {
    // link() refuses an existing name atomically, where rename() would replace it.
    if (::link(temp_path_.c_str(), path_.c_str()) != 0) {
      int error = errno;
      if (error == EEXIST) return Status(wire::INVALID_ARGUMENT, path_ + " already exists");
      return ErrnoStatus("cannot create " + path_, error);
    }
    ::unlink(temp_path_.c_str());
  }
  temp_path_.clear();
  return SyncDirectory(DirectoryOf(path_));
}

Status WriteFileAtomically(const std::string& path, std::string_view contents, mode_t mode,
                           bool overwrite) {
  auto pending = PendingFile::Create(path, contents, mode);
  if (!pending.ok()) return pending.status();
  return pending->Commit(overwrite);
}

Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory " + dir, errno);
  FdCloser closer(fd);
  if (::fsync(fd) != 0) return ErrnoStatus("cannot sync directory " + dir, errno);
  return Status::Ok();
}

}  // namespace aplus
