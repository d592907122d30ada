#include "tools/bench/disk_floor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "tools/bench/broker_process.h"

namespace aplus::bench {
namespace {

// Large enough that no run at the rates measured here (at most about 20,000 appends of 2 KB
// per second for a few seconds) reaches its end, as RocksDB preallocates its WAL files.
constexpr off_t kPreallocatedBytes = 256ll << 20;

Status Errno(const std::string& what, const std::string& path) {
  return Status(wire::INTERNAL, what + " " + path + ": " + std::strerror(errno));
}

// The probe file, removed when the measurement ends whatever happened.
class ProbeFile {
 public:
  explicit ProbeFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  }
  ~ProbeFile() {
    if (fd_ < 0) return;
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  ProbeFile(const ProbeFile&) = delete;
  ProbeFile& operator=(const ProbeFile&) = delete;
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

Result<DiskFloor> MeasureDiskFloor(const DiskFloorOptions& options) {
  if (!(options.rate > 0 && options.rate <= 1e6) || !(options.seconds > 0 && options.seconds <= 3600) ||
      options.record_bytes == 0) {
    return Status(wire::INVALID_ARGUMENT, "disk floor: rate, seconds and record size must be positive");
  }
  ProbeFile file(options.directory + "/disk-floor-probe." + std::to_string(::getpid()));
  if (file.fd() < 0) return Errno("cannot create", file.path());
  // Blocks reserved, size unchanged: each append still moves the end of file, as in a WAL.
  if (::fallocate(file.fd(), FALLOC_FL_KEEP_SIZE, 0, kPreallocatedBytes) != 0 &&
      errno != EOPNOTSUPP) {
    return Errno("cannot preallocate", file.path());
  }
  auto count = static_cast<uint64_t>(options.rate * options.seconds);
  const int64_t start = SteadyNowNs() + 1'000'000;
  auto due = [&](uint64_t i) {
    return start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / options.rate);
  };
  std::vector<char> group;
  std::vector<int64_t> samples;
  samples.reserve(count);
  DiskFloor floor;
  int64_t sync_ns = 0;
  for (uint64_t next = 0; next < count;) {
    SleepUntilNs(due(next));
    // Every record due by now goes into this commit, as a group commit takes what has arrived.
    int64_t now = SteadyNowNs();
    uint64_t end = next + 1;
    while (end < count && due(end) <= now) ++end;
    group.assign((end - next) * options.record_bytes, 'w');
    if (::write(file.fd(), group.data(), group.size()) != static_cast<ssize_t>(group.size())) {
      return Errno("cannot append to", file.path());
    }
    int64_t before_sync = SteadyNowNs();
    if (::fdatasync(file.fd()) != 0) return Errno("fdatasync failed on", file.path());
    int64_t done = SteadyNowNs();
    sync_ns += done - before_sync;
    ++floor.syncs;
    for (uint64_t i = next; i < end; ++i) samples.push_back(done - due(i));
    next = end;
  }
  floor.append_sync = LatencySummary::Of(samples);
  floor.sync_ms_total = static_cast<double>(sync_ns) / 1e6;
  return floor;
}

}  // namespace aplus::bench
