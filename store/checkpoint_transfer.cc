#include "store/checkpoint_transfer.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc 2.28)
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <spdlog/spdlog.h>

#include "common/atomic_file.h"
#include "store/read_only_db.h"

namespace aplus {

namespace {

namespace fs = std::filesystem;

Status ErrnoStatus(ErrorCode code, const std::string& what, int error) {
  return Status(code, what + ": " + std::strerror(error));
}

// Closes `fd` on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A checkpoint is flat (RocksDB writes table files, MANIFEST, CURRENT, OPTIONS and log files
// in one directory): a name is one path component, never one that leaves the staging
// directory.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

Status RemoveAll(const std::string& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) return Status(wire::UNAVAILABLE, "cannot remove " + path + ": " + error.message());
  return Status::Ok();
}

Status Sync(const std::string& dir) {
  auto status = SyncDirectory(dir);
  if (!status.ok()) return Status(wire::UNAVAILABLE, status.message());
  return Status::Ok();
}

// The exact last sequence of the checkpoint in `dir`, by opening it read-only (which replays
// its log in memory and writes nothing to it).
Result<uint64_t> SequenceOfCheckpoint(const std::string& dir) {
  auto opened = ReadOnlyDb::Open(dir);
  if (!opened.ok()) {
    return Status(wire::UNAVAILABLE, "cannot read the checkpoint: " + opened.status().message());
  }
  return (*opened)->db().GetLatestSequenceNumber();
}

Result<CheckpointManifest> MakeCheckpointIn(RocksDb& db, const std::string& dir);

}  // namespace

Result<CheckpointManifest> MakeCheckpoint(RocksDb& db, const std::string& dir) {
  auto made = MakeCheckpointIn(db, dir);
  if (!made.ok()) {
    // Whatever was made holds hard links to table files (purged data included): not kept.
    for (const auto& path : {dir, dir + ".tmp"}) (void)RemoveAll(path);
  }
  return made;
}

namespace {

Result<CheckpointManifest> MakeCheckpointIn(RocksDb& db, const std::string& dir) {
  // RocksDB builds the checkpoint in "<dir>.tmp" and renames it; it wants `dir` absent.
  for (const auto& path : {dir, dir + ".tmp"}) {
    auto removed = RemoveAll(path);
    if (!removed.ok()) return removed;
  }
  rocksdb::Checkpoint* raw = nullptr;
  auto status = rocksdb::Checkpoint::Create(db.raw(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (!status.ok()) {
    return Status(wire::UNAVAILABLE, "cannot make a checkpoint: " + status.ToString());
  }
  // log_size_for_flush 0: every family is flushed first, so the copy is table files (hard
  // links) and at most the log written since the flush (copied).
  uint64_t sequence = 0;
  status = checkpoint->CreateCheckpoint(dir, 0, &sequence);
  if (!status.ok()) {
    return Status(wire::UNAVAILABLE, "cannot make a checkpoint in " + dir + ": " +
                                         status.ToString());
  }
  // RocksDB reports the latest sequence read BEFORE it flushed and copied (a lower bound:
  // "guaranteed to be part of the DB, not necessarily the latest"). When nothing was written
  // meanwhile it is exact; otherwise the copy may hold later batches, and the sequence the
  // log must resume from is read from the copy itself.
  if (db.raw()->GetLatestSequenceNumber() != sequence) {
    auto exact = SequenceOfCheckpoint(dir);
    if (!exact.ok()) return exact.status();
    sequence = *exact;
  }

  CheckpointManifest manifest;
  manifest.dir = dir;
  manifest.sequence = sequence;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (!entry.is_regular_file(error) || error) {
      return Status(wire::INTERNAL, "unexpected entry in a checkpoint: " + entry.path().string());
    }
    CheckpointFile file;
    file.name = entry.path().filename().string();
    file.size = entry.file_size(error);
    if (error) break;
    manifest.total_bytes += file.size;
    manifest.files.push_back(std::move(file));
  }
  if (error) {
    return Status(wire::UNAVAILABLE, "cannot list the checkpoint " + dir + ": " + error.message());
  }
  std::sort(manifest.files.begin(), manifest.files.end(),
            [](const CheckpointFile& a, const CheckpointFile& b) { return a.name < b.name; });
  return manifest;
}

}  // namespace

Status RemoveCheckpoint(const CheckpointManifest& manifest) {
  if (manifest.dir.empty()) return Status::Ok();
  return RemoveAll(manifest.dir);
}

Result<std::string> ReadCheckpointChunk(const CheckpointManifest& manifest,
                                        const std::string& file, uint64_t offset,
                                        size_t length) {
  auto it = std::find_if(manifest.files.begin(), manifest.files.end(),
                         [&](const CheckpointFile& f) { return f.name == file; });
  if (it == manifest.files.end()) {
    return Status(wire::INVALID_ARGUMENT, "no file " + file + " in the checkpoint");
  }
  if (offset > it->size) {
    return Status(wire::INVALID_ARGUMENT, "offset " + std::to_string(offset) + " past the end of " +
                                              file + " (" + std::to_string(it->size) + " bytes)");
  }
  // Never past the size listed: the file (hard-linked, or the copied log) does not change,
  // but what was listed is what the standby expects.
  length = static_cast<size_t>(std::min<uint64_t>(length, it->size - offset));
  const std::string path = manifest.dir + "/" + file;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(wire::UNAVAILABLE, "cannot open " + path, errno);
  std::string data(length, '\0');
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd.get(), data.data() + done, length - done,
                        static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(wire::UNAVAILABLE, "cannot read " + path, errno);
    if (n == 0) {
      return Status(wire::UNAVAILABLE, path + " is shorter than the checkpoint listed");
    }
    done += static_cast<size_t>(n);
  }
  return data;
}

Result<std::unique_ptr<CheckpointReceiver>> CheckpointReceiver::Begin(
    const std::string& data_dir, const std::vector<std::string>& files) {
  if (data_dir.empty()) return Status(wire::INVALID_ARGUMENT, "no data directory");
  std::vector<std::string> sorted = files;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (!IsPlainFileName(sorted[i])) {
      return Status(wire::INVALID_ARGUMENT, "not a plain file name in a checkpoint: \"" +
                                                sorted[i] + "\"");
    }
    if (i > 0 && sorted[i] == sorted[i - 1]) {
      return Status(wire::INVALID_ARGUMENT, "file listed twice in a checkpoint: " + sorted[i]);
    }
  }
  std::unique_ptr<CheckpointReceiver> receiver(new CheckpointReceiver());
  receiver->data_dir_ = data_dir;
  while (receiver->data_dir_.size() > 1 && receiver->data_dir_.back() == '/') {
    receiver->data_dir_.pop_back();
  }
  receiver->staging_ = receiver->data_dir_ + ".incoming";
  // Leftovers of an interrupted transfer or install: never a whole copy at data_dir.
  for (const auto& path : {receiver->staging_, receiver->data_dir_ + ".old"}) {
    auto removed = RemoveAll(path);
    if (!removed.ok()) return removed;
  }
  std::error_code error;
  fs::create_directory(receiver->staging_, error);
  if (error) {
    return Status(wire::UNAVAILABLE,
                  "cannot create " + receiver->staging_ + ": " + error.message());
  }
  // Every expected file exists from the start (an empty one is never sent a chunk).
  for (const auto& name : files) {
    const std::string path = receiver->staging_ + "/" + name;
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoStatus(wire::UNAVAILABLE, "cannot create " + path, errno);
  }
  receiver->expected_ = files;
  receiver->next_offset_.assign(files.size(), 0);
  return receiver;
}

Status CheckpointReceiver::Write(const std::string& file, uint64_t offset,
                                 std::string_view data) {
  if (installed_) return Status(wire::INTERNAL, "checkpoint already installed");
  auto it = std::find(expected_.begin(), expected_.end(), file);
  if (it == expected_.end()) {
    return Status(wire::INVALID_ARGUMENT, "file " + file + " is not in the checkpoint");
  }
  uint64_t& next = next_offset_[static_cast<size_t>(it - expected_.begin())];
  if (offset != next) {
    return Status(wire::INVALID_ARGUMENT, "chunk of " + file + " at " + std::to_string(offset) +
                                              ", expected at " + std::to_string(next));
  }
  const std::string path = staging_ + "/" + file;
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(wire::UNAVAILABLE, "cannot open " + path, errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd.get(), data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(wire::UNAVAILABLE, "cannot write " + path, errno);
    done += static_cast<size_t>(n);
  }
  next += data.size();
  received_bytes_ += data.size();
  return Status::Ok();
}

Status CheckpointReceiver::Install() {
  if (installed_) return Status(wire::INTERNAL, "checkpoint already installed");
  for (const auto& name : expected_) {
    const std::string path = staging_ + "/" + name;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoStatus(wire::UNAVAILABLE, "cannot open " + path, errno);
    // A failed fsync is not retried (common/fail_stop.h): the copy is abandoned, and a new
    // transfer starts from Begin.
    if (::fsync(fd.get()) != 0) return ErrnoStatus(wire::UNAVAILABLE, "cannot sync " + path, errno);
  }
  auto status = Sync(staging_);
  if (!status.ok()) return status;
  const std::string parent = DirectoryOf(data_dir_);

  std::error_code error;
  const bool exists = fs::exists(data_dir_, error);
  if (error) {
    return Status(wire::UNAVAILABLE, "cannot look at " + data_dir_ + ": " + error.message());
  }
  std::string old_copy;
  if (!exists) {
    if (::rename(staging_.c_str(), data_dir_.c_str()) != 0) {
      return ErrnoStatus(wire::UNAVAILABLE, "cannot rename " + staging_, errno);
    }
  } else if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, data_dir_.c_str(),
                         RENAME_EXCHANGE) == 0) {
    // One atomic swap: data_dir is the old copy or the new one at every instant, and the old
    // one is now under the staging name (removed at the next Begin if we crash before).
    old_copy = staging_;
  } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
    // A file system without RENAME_EXCHANGE: two renames. Between them data_dir is absent;
    // the old copy is whole under "<data_dir>.old" and the new one under the staging name.
    old_copy = data_dir_ + ".old";
    if (::rename(data_dir_.c_str(), old_copy.c_str()) != 0) {
      return ErrnoStatus(wire::UNAVAILABLE, "cannot rename " + data_dir_, errno);
    }
    if (::rename(staging_.c_str(), data_dir_.c_str()) != 0) {
      return ErrnoStatus(wire::UNAVAILABLE, "cannot rename " + staging_, errno);
    }
  } else {
    return ErrnoStatus(wire::UNAVAILABLE, "cannot swap " + staging_ + " and " + data_dir_, errno);
  }
  status = Sync(parent);
  if (!status.ok()) return status;
  installed_ = true;
  // The old copy may hold personal data purged since on the leader: it goes now.
  // The new copy is in place whatever happens here: a failure is logged, and what is left
  // goes at the next Begin.
  if (!old_copy.empty()) {
    status = RemoveAll(old_copy);
    if (status.ok()) status = Sync(parent);
    if (!status.ok()) spdlog::error("the replaced copy stays until the next transfer: {}", status.ToString());
  }
  spdlog::info("installed a checkpoint of {} files, {} bytes, in {}", expected_.size(),
               received_bytes_, data_dir_);
  return Status::Ok();
}

}  // namespace aplus
