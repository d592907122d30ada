// An aplus-broker started by the benchmark as a child process, on loopback ports of its own
// (requests and SLA alert publications: two brokers on one machine never collide), with its
// output in a log file. The child dies with the benchmark (PR_SET_PDEATHSIG), and the
// destructor stops it, so no broker outlives a run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "tools/bench/steady_clock.h"

namespace aplus::bench {

// Thread rules: one thread (the benchmark's main thread).
class BrokerProcess {
 public:
  // Nothing runs until Start(). `config_path` empty: the broker's built-in network.
  BrokerProcess(std::string binary, std::string data_dir, std::string endpoint,
                std::string alerts_endpoint, std::string config_path, std::string log_path);
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // fork + exec; returns as soon as the child exists (steady ns of the exec in exec_ns(), wall
  // clock ms in exec_wall_ms(): the broker stamps alerts with the wall clock).
  Status Start();
  // Flags added to every start (keys, keyring).
  void AddArguments(std::vector<std::string> arguments) {
    for (auto& argument : arguments) extra_args_.push_back(std::move(argument));
  }
  // Serve /metrics on 127.0.0.1:`port` (the default is no HTTP listener at all): the latency
  // runner reads the broker's own commit times from it. Before Start().
  void set_metrics_port(int port) { metrics_port_ = port; }
  int metrics_port() const { return metrics_port_; }
  // Waits until the broker prints its ready line, up to `timeout_ms`. An error when it exits
  // or stays silent; the message quotes the end of its log.
  Status WaitReady(int timeout_ms);
  // Waits until the log holds `text` (a pair's node says it is in its pair, leads, named its
  // standby), up to `timeout_ms`; errors as WaitReady.
  Status WaitForLog(const std::string& text, int timeout_ms);
  // Whether the log holds `text` now.
  bool LogContains(const std::string& text) const;
  // SIGTERM, then waits up to `timeout_ms` for a clean exit (SIGKILL after that). Returns the
  // exit status as the shell would show it (0 = clean).
  int Stop(int timeout_ms);

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  int64_t exec_ns() const { return exec_ns_; }
  int64_t exec_wall_ms() const { return exec_wall_ms_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& alerts_endpoint() const { return alerts_endpoint_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }
  std::string LogTail(size_t bytes) const;

 private:
  const std::string binary_;
  const std::string data_dir_;
  const std::string endpoint_;
  const std::string alerts_endpoint_;
  const std::string config_path_;
  const std::string log_path_;
  std::vector<std::string> extra_args_;
  int metrics_port_ = 0;  // 0: --http-listen off
  pid_t pid_ = -1;
  int64_t exec_ns_ = 0;
  int64_t exec_wall_ms_ = 0;
};

// A loopback TCP port that was free a moment ago (the kernel's choice for port 0).
int PickFreeLoopbackPort();
// `count` such ports, all different (picks made one by one could name the same port twice).
// INTERNAL "no free loopback port" when they cannot be found.
Result<std::vector<int>> PickFreeLoopbackPorts(int count);

}  // namespace aplus::bench
