#include "tools/bench/proc_stats.h"

#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace aplus::bench {

Result<double> ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) {
    return Status(wire::UNAVAILABLE, "no process " + std::to_string(pid));
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the
  // last ')'. Field 3 (state) is token 0, so utime (14) is token 11 and stime (15) token 12.
  auto close = line.rfind(')');
  if (close == std::string::npos) return Status(wire::INTERNAL, "unreadable /proc stat");
  std::istringstream fields(line.substr(close + 1));
  std::vector<std::string> tokens;
  std::string token;
  while (fields >> token) tokens.push_back(token);
  if (tokens.size() < 13) return Status(wire::INTERNAL, "short /proc stat");
  double ticks = std::stod(tokens[11]) + std::stod(tokens[12]);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Result<ProcessMemory> ReadProcessMemory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return Status(wire::UNAVAILABLE, "no process " + std::to_string(pid));
  ProcessMemory memory;
  std::string line;
  auto kilobytes = [](const std::string& text) {
    return std::stoull(text.substr(text.find(':') + 1)) * 1024;  // "VmRSS:   1234 kB"
  };
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) memory.rss_bytes = kilobytes(line);
    if (line.rfind("VmHWM:", 0) == 0) memory.peak_bytes = kilobytes(line);
  }
  return memory;
}

MachineCpu ReadMachineCpu() {
  std::ifstream in("/proc/stat");
  std::string label;
  MachineCpu cpu;
  if (!(in >> label) || label != "cpu") return cpu;
  double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  double values[8] = {};
  for (double& value : values) in >> value;
  double total = 0;
  for (double value : values) total += value;
  cpu.total_seconds = total / ticks_per_second;
  cpu.busy_seconds = (total - values[3] - values[4]) / ticks_per_second;
  return cpu;
}

double LoadAverage1() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  in >> load;
  return load;
}

int OnlineCores() { return static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)); }

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat info;
    if (::lstat(it->path().c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
      total += static_cast<uint64_t>(info.st_blocks) * 512;
    }
  }
  return total;
}

std::string FilesystemType(const std::string& path) {
  struct statfs info;
  if (::statfs(path.c_str(), &info) != 0) return "unknown";
  switch (static_cast<unsigned long>(info.f_type)) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794C7630: return "overlay";
    default: {
      std::ostringstream hex;
      hex << "0x" << std::hex << static_cast<unsigned long>(info.f_type);
      return hex.str();
    }
  }
}

}  // namespace aplus::bench
