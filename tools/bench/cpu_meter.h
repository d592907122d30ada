// CPU use over a measured interval: the broker's (when its pid is known), the benchmark's, and
// everyone else's on this machine, so a run disturbed by other work says so. Linux only.
// Thread rules: one thread.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/bench/broker_process.h"
#include "tools/bench/proc_stats.h"

namespace aplus::bench {

// User + system CPU seconds of this process so far.
inline double SelfCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

class CpuMeter {
 public:
  explicit CpuMeter(pid_t broker_pid) : broker_pid_(broker_pid) {}
  // Another process of the run (a pair's standby, an etcd member), metered like the broker and
  // reported under cpu["programs"][name]; its CPU no longer counts as "other processes".
  // Before Start().
  void AddProcess(std::string name, pid_t pid) { programs_.push_back({std::move(name), pid, {}}); }
  void Start() {
    start_ns_ = SteadyNowNs();
    load_start_ = LoadAverage1();
    self_start_ = SelfCpuSeconds();
    machine_start_ = ReadMachineCpu();
    if (broker_pid_ > 0) {
      auto cpu = ProcessCpuSeconds(broker_pid_);
      if (cpu.ok()) broker_start_ = *cpu;
    }
    for (auto& program : programs_) {
      auto cpu = ProcessCpuSeconds(program.pid);
      program.start = cpu.ok() ? std::optional<double>(*cpu) : std::nullopt;
    }
  }
  // `escalations`: accepted submits in the interval, for the CPU cost of one.
  nlohmann::json Finish(uint64_t escalations) const {
    double seconds = static_cast<double>(SteadyNowNs() - start_ns_) / 1e9;
    MachineCpu machine = ReadMachineCpu();
    double self = SelfCpuSeconds() - self_start_;
    double machine_busy = machine.busy_seconds - machine_start_.busy_seconds;
    nlohmann::json cpu = {{"cores", OnlineCores()},
                {"load_average_start", load_start_},
                {"load_average_end", LoadAverage1()},
                {"bench_cores", self / seconds},
                {"machine_busy_cores", machine_busy / seconds}};
    double others = machine_busy - self;
    if (!programs_.empty()) {
      nlohmann::json programs = nlohmann::json::object();
      for (const auto& program : programs_) {
        auto now = ProcessCpuSeconds(program.pid);
        if (!program.start || !now.ok()) continue;
        double used = *now - *program.start;
        others -= used;
        programs[program.name] = {
            {"pid", program.pid},
            {"cores", used / seconds},
            {"us_per_escalation",
             escalations == 0 ? 0.0 : used * 1e6 / static_cast<double>(escalations)}};
      }
      cpu["programs"] = programs;
    }
    if (broker_start_) {
      auto now = ProcessCpuSeconds(broker_pid_);
      if (now.ok()) {
        double broker = *now - *broker_start_;
        cpu["broker_cpu_seconds"] = broker;
        cpu["broker_cores"] = broker / seconds;
        cpu["broker_us_per_escalation"] =
            escalations == 0 ? 0.0 : broker * 1e6 / static_cast<double>(escalations);
        others -= broker;
        cpu["other_processes_cores"] = std::max(0.0, others / seconds);
      }
    }
    return cpu;
  }

 private:
  struct Program {
    std::string name;
    pid_t pid;
    std::optional<double> start;
  };
  pid_t broker_pid_;
  std::vector<Program> programs_;
  int64_t start_ns_ = 0;
  double load_start_ = 0;
  double self_start_ = 0;
  MachineCpu machine_start_;
  std::optional<double> broker_start_;
};

}  // namespace aplus::bench
