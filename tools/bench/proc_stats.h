// What the kernel says about a process and a directory: CPU time, memory, bytes on disk.
// Linux only (/proc). Thread rules: free functions, safe from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace aplus::bench {

// Bytes as mebibytes, for the reports.
inline double Mb(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

struct ProcessMemory {
  uint64_t rss_bytes = 0;   // VmRSS: resident now
  uint64_t peak_bytes = 0;  // VmHWM: the resident high-water mark since the process started
};

// User + system CPU seconds of every thread of `pid` so far (/proc/<pid>/stat utime + stime;
// resolution one clock tick, 10 ms). UNAVAILABLE when the process is gone.
Result<double> ProcessCpuSeconds(pid_t pid);

// VmRSS and VmHWM of `pid` (/proc/<pid>/status). UNAVAILABLE when the process is gone.
Result<ProcessMemory> ReadProcessMemory(pid_t pid);

// CPU seconds the whole machine spent busy (every state but idle and iowait) and in total,
// summed over all cores (/proc/stat): busy minus broker minus benchmark is what other
// processes took from the run.
struct MachineCpu {
  double busy_seconds = 0;
  double total_seconds = 0;
};
MachineCpu ReadMachineCpu();
// The 1-minute load average and the number of online cores.
double LoadAverage1();
int OnlineCores();

// Bytes allocated on disk under `path`, like `du -s` (st_blocks * 512), following no links.
uint64_t DirectoryBytes(const std::string& path);

// "ext4", "tmpfs", "xfs", "btrfs", "overlay" or the magic number in hex: fsync on tmpfs costs
// nothing, so the report names the filesystem the broker wrote to.
std::string FilesystemType(const std::string& path);

}  // namespace aplus::bench
