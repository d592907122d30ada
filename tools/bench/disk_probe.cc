#include "tools/bench/disk_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include "tools/bench/steady_clock.h"

namespace aplus::bench {
namespace {

// A bound on one probe: 10 million records (20 GB at the default size) is far past any run.
constexpr uint64_t kMaxRecords = 10'000'000;

Status SystemError(const std::string& what, const std::string& path, int error) {
  return Status(wire::INTERNAL, what + " " + path + ": " + std::strerror(error));
}

// The probe file, removed when the measurement ends whatever happened.
class ProbeFile {
 public:
  explicit ProbeFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) open_error_ = errno;
  }
  ~ProbeFile() {
    if (fd_ < 0) return;
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  ProbeFile(const ProbeFile&) = delete;
  ProbeFile& operator=(const ProbeFile&) = delete;
  int fd() const { return fd_; }
  int open_error() const { return open_error_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  int open_error_ = 0;
};

}  // namespace

Result<DiskProbe> ProbeDisk(const DiskProbeOptions& options) {
  const double records = options.rate * options.seconds;
  if (!(options.rate > 0) || !(options.seconds > 0) || options.record_bytes == 0 ||
      options.record_bytes > (1u << 20) || !(records >= 1 && records <= kMaxRecords)) {
    return Status(wire::INVALID_ARGUMENT,
                  "disk probe: rate x seconds must give 1 to 10,000,000 records of 1 B to 1 MiB");
  }
  const auto count = static_cast<uint64_t>(records);
  ProbeFile file(options.directory + "/disk-probe." + std::to_string(::getpid()));
  if (file.fd() < 0) return SystemError("cannot create", file.path(), file.open_error());
  DiskProbe probe;
  // Blocks reserved for the whole run, size unchanged: each append still moves the end of file,
  // as in a WAL. A file system that refuses (tmpfs, a full disk) is probed without.
  const auto reserve = static_cast<off_t>(count * options.record_bytes + (1 << 20));
  probe.preallocated = ::fallocate(file.fd(), FALLOC_FL_KEEP_SIZE, 0, reserve) == 0;
  // Random bytes, so that a compressing file system writes what a WAL of bodies would.
  std::vector<char> bytes(options.record_bytes * 64);
  std::mt19937_64 random(std::random_device{}());
  for (auto& byte : bytes) byte = static_cast<char>(random());
  const OpenLoopSchedule schedule(SteadyNowNs() + 1'000'000, options.rate);
  std::vector<char> group;
  std::vector<int64_t> samples;
  samples.reserve(count);
  int64_t sync_ns = 0;
  for (uint64_t next = 0; next < count;) {
    SleepUntilNs(schedule.DueNs(next));
    // Every record due by now goes into this commit, as a group commit takes what has arrived.
    const int64_t now = SteadyNowNs();
    uint64_t end = next + 1;
    while (end < count && schedule.DueNs(end) <= now) ++end;
    group.clear();
    for (uint64_t i = next; i < end; ++i) {
      size_t offset = (i % 64) * options.record_bytes;
      group.insert(group.end(), bytes.begin() + offset, bytes.begin() + offset + options.record_bytes);
    }
    ssize_t written = ::write(file.fd(), group.data(), group.size());
    if (written < 0) return SystemError("cannot append to", file.path(), errno);
    if (static_cast<size_t>(written) != group.size()) {
      return Status(wire::INTERNAL, "short append to " + file.path() + " (disk full?)");
    }
    const int64_t before_sync = SteadyNowNs();
    if (::fdatasync(file.fd()) != 0) return SystemError("fdatasync failed on", file.path(), errno);
    const int64_t done = SteadyNowNs();
    sync_ns += done - before_sync;
    ++probe.syncs;
    for (uint64_t i = next; i < end; ++i) samples.push_back(done - schedule.DueNs(i));
    next = end;
  }
  probe.append_sync = LatencySummary::Of(samples);
  probe.sync_ms_total = static_cast<double>(sync_ns) / 1e6;
  return probe;
}

}  // namespace aplus::bench
