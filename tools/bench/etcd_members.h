// The etcd cluster of `aplus-bench --mode pair`: three members of /usr/bin/etcd on loopback
// ports of their own, data directories under the run's directory, started as ChildPrograms
// (they die with the benchmark; the destructor stops them). The flags are those of
// tests/support/etcd_cluster.h (short raft timings that still hold on a loaded 2-core machine).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tools/bench/child_program.h"

namespace aplus::bench {

// Thread rules: one thread (the benchmark's main thread).
class EtcdMembers {
 public:
  static constexpr const char* kProgram = "/usr/bin/etcd";
  // Whether etcd is installed (deploy/install-deps.sh installs etcd-server).
  static bool Available();

  // `ports`: two free loopback ports per member (client, peer); `dir`: their data and logs.
  EtcdMembers(std::string dir, const std::vector<int>& ports);
  ~EtcdMembers();
  EtcdMembers(const EtcdMembers&) = delete;
  EtcdMembers& operator=(const EtcdMembers&) = delete;

  // Starts every member and waits until each answers a read (it has a leader and a quorum),
  // up to `timeout_ms` in all. UNAVAILABLE, quoting a member's log, when one does not.
  Status Start(int timeout_ms);
  // SIGTERM to every member (SIGKILL after `timeout_ms`).
  void Stop(int timeout_ms);

  // Every member's client URL, comma-separated (what --etcd takes).
  std::string urls() const;
  std::vector<pid_t> pids() const;
  size_t size() const { return client_urls_.size(); }

 private:
  std::string dir_;
  std::vector<std::string> names_, client_urls_, peer_urls_;
  std::vector<std::unique_ptr<ChildProgram>> members_;
};

}  // namespace aplus::bench
