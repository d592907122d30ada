// Test support: a real etcd cluster (1 or 3 members of /usr/bin/etcd) on free loopback ports,
// with its data directories in a temporary directory; every member is killed and the
// directory removed when the object dies.
//
//   if (!EtcdCluster::Available()) { MESSAGE(std::string(EtcdCluster::kMissing)); return; }
//   EtcdCluster etcd(3);                 // started, every member answering
//   Leadership::Start({.etcd_urls = etcd.urls(), ...});
//   etcd.Stop(0); ... etcd.Cont(0);      // SIGSTOP / SIGCONT: frozen, not dead
//   etcd.Kill(1); etcd.Restart(1);       // SIGKILL, then the same member on its data again
//   etcd.Kill(etcd.RaftLeader());        // the member raft elected (an election follows)
//
// The raft timings are short (heartbeat 100 ms, election 1 s) so that a lost member's
// replacement leader is elected within a few seconds, and long enough for a loaded 2-core
// machine not to hold spurious elections.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/etcd_client.h"
#include "tests/support/child_process.h"

namespace aplus::testing {

class EtcdCluster {
 public:
  static constexpr const char* kProgram = "/usr/bin/etcd";
  static constexpr const char* kMissing =
      "skipped: /usr/bin/etcd is not installed (deploy/install-deps.sh installs etcd-server)";
  // Whether etcd is installed; tests that need it are skipped (with kMissing) otherwise.
  static bool Available() { return ::access(kProgram, X_OK) == 0; }

  // Starts `members` members (1 or 3) and waits until each answers a read (up to 30 s).
  // Throws std::runtime_error if they do not.
  explicit EtcdCluster(int members = 1, const std::string& label = "etcd") : dir_(label) {
    if (members < 1) throw std::runtime_error("an etcd cluster needs a member");
    std::string initial_cluster;
    for (int i = 0; i < members; ++i) {
      Member member;
      member.name = "m" + std::to_string(i);
      member.client_url = "http://127.0.0.1:" + std::to_string(FreePort());
      member.peer_url = "http://127.0.0.1:" + std::to_string(FreePort());
      initial_cluster += (i ? "," : "") + member.name + "=" + member.peer_url;
      members_.push_back(std::move(member));
    }
    for (auto& member : members_) member.initial_cluster = initial_cluster;
    for (int i = 0; i < members; ++i) Launch(i);
    for (int i = 0; i < members; ++i) {
      if (!WaitReady(i, 30000)) {
        throw std::runtime_error("etcd member " + members_[i].name + " did not answer:\n" +
                                 members_[i].process->Log());
      }
    }
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  // Every member's client URL, comma-separated (what --etcd and LeadershipOptions take).
  std::string urls() const {
    std::string out;
    for (const auto& member : members_) out += (out.empty() ? "" : ",") + member.client_url;
    return out;
  }
  std::string url(int i) const { return members_.at(i).client_url; }

  // SIGKILL member i (and reap it).
  void Kill(int i) { members_.at(i).process->Kill(); }
  // SIGSTOP / SIGCONT member i: it keeps its ports but answers nothing until continued. Stop
  // is true once every thread of the member has stopped (ChildProcess::Pause).
  [[nodiscard]] bool Stop(int i) { return members_.at(i).process->Pause(); }
  void Cont(int i) { members_.at(i).process->Resume(); }
  // Kills member i if it runs and starts it again on its data directory; true once it answers
  // (which needs a quorum of the cluster running) within `timeout_ms`.
  bool Restart(int i, int timeout_ms = 30000) {
    members_.at(i).process->Kill();
    Launch(i);
    return WaitReady(i, timeout_ms);
  }
  // Whether member i answers a read within `timeout_ms` (it has a leader and a quorum).
  bool WaitReady(int i, int timeout_ms) {
    auto client = EtcdClient::Create(url(i), 1000);
    if (!client.ok()) return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if ((*client)->Get("/aplus-test/ready").ok()) return true;
      if (!members_.at(i).process->Running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::string Log(int i) const { return members_.at(i).process->Log(); }
  // The member raft elected leader, as the running members say; -1 when none answers.
  int RaftLeader() const {
    std::vector<std::string> ids(members_.size());
    std::string leader;
    for (size_t i = 0; i < members_.size(); ++i) {
      auto status = MemberStatus(members_[i].client_url);
      if (!status.is_object() || !status.contains("header")) continue;
      ids[i] = status["header"].value("member_id", "");
      if (status.contains("leader") && status["leader"].is_string()) {
        leader = status["leader"].get<std::string>();
      }
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!leader.empty() && ids[i] == leader) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  struct Member {
    std::string name;
    std::string client_url;
    std::string peer_url;
    std::string initial_cluster;
    std::unique_ptr<ChildProcess> process;
  };

  // etcd's /v3/maintenance/status of the member at `url` (curl, 2 s at most), or discarded.
  static nlohmann::json MemberStatus(const std::string& url) {
    std::string command = "curl -s -m 2 -X POST " + url + "/v3/maintenance/status -d '{}'";
    std::string out;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
      char buffer[4096];
      size_t n;
      while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
      ::pclose(pipe);
    }
    return nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  }

  void Launch(int i) {
    Member& member = members_.at(i);
    std::vector<std::string> args = {
        "--name", member.name,
        "--data-dir", dir_.Sub(member.name),
        "--listen-client-urls", member.client_url,
        "--advertise-client-urls", member.client_url,
        "--listen-peer-urls", member.peer_url,
        "--initial-advertise-peer-urls", member.peer_url,
        "--initial-cluster", member.initial_cluster,
        "--initial-cluster-state", "new",  // ignored once the data directory exists
        "--initial-cluster-token", "aplus-test",
        "--heartbeat-interval", "100",
        "--election-timeout", "1000",
        "--log-level", "warn"};
    member.process = std::make_unique<ChildProcess>(kProgram, std::move(args),
                                                    dir_.Sub(member.name + ".log"));
  }

  TempDir dir_;  // first: destroyed after the members are killed
  std::vector<Member> members_;
};

}  // namespace aplus::testing
