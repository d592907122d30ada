#include "tools/bench/etcd_members.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/etcd_client.h"

namespace aplus::bench {

bool EtcdMembers::Available() { return ::access(kProgram, X_OK) == 0; }

EtcdMembers::EtcdMembers(std::string dir, const std::vector<int>& ports) : dir_(std::move(dir)) {
  for (size_t i = 0; i + 1 < ports.size(); i += 2) {
    names_.push_back("m" + std::to_string(i / 2));
    client_urls_.push_back("http://127.0.0.1:" + std::to_string(ports[i]));
    peer_urls_.push_back("http://127.0.0.1:" + std::to_string(ports[i + 1]));
  }
}

EtcdMembers::~EtcdMembers() { Stop(5000); }

std::string EtcdMembers::urls() const {
  std::string out;
  for (const auto& url : client_urls_) out += (out.empty() ? "" : ",") + url;
  return out;
}

std::vector<pid_t> EtcdMembers::pids() const {
  std::vector<pid_t> out;
  for (const auto& member : members_) out.push_back(member->pid());
  return out;
}

Status EtcdMembers::Start(int timeout_ms) {
  std::string initial_cluster;
  for (size_t i = 0; i < names_.size(); ++i) {
    initial_cluster += (i ? "," : "") + names_[i] + "=" + peer_urls_[i];
  }
  for (size_t i = 0; i < names_.size(); ++i) {
    members_.push_back(std::make_unique<ChildProgram>(
        kProgram,
        std::vector<std::string>{"--name", names_[i], "--data-dir", dir_ + "/" + names_[i],
                                 "--listen-client-urls", client_urls_[i],
                                 "--advertise-client-urls", client_urls_[i],
                                 "--listen-peer-urls", peer_urls_[i],
                                 "--initial-advertise-peer-urls", peer_urls_[i],
                                 "--initial-cluster", initial_cluster,
                                 "--initial-cluster-state", "new",
                                 "--initial-cluster-token", "aplus-bench",
                                 "--heartbeat-interval", "100", "--election-timeout", "1000",
                                 "--log-level", "warn"},
        dir_ + "/" + names_[i] + ".log"));
    if (Status started = members_.back()->Start(); !started.ok()) return started;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (size_t i = 0; i < members_.size(); ++i) {
    auto client = EtcdClient::Create(client_urls_[i], 1000);
    if (!client.ok()) return client.status();
    while (!(*client)->Get("/aplus-bench/ready").ok()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status(wire::UNAVAILABLE, "etcd member " + names_[i] + " did not answer: " +
                                             members_[i]->LogTail(600));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return Status::Ok();
}

void EtcdMembers::Stop(int timeout_ms) {
  for (auto& member : members_) {
    if (member->pid() > 0) member->Stop(timeout_ms);
  }
}

}  // namespace aplus::bench
