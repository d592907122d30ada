#include "broker/zap_authenticator.h"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include <set>

#include "common/clock.h"

namespace aplus {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr int64_t kRefusalLogEveryMs = 60000;

bool SameEntry(const KeyringEntry& a, const KeyringEntry& b) {
  return a.role == b.role && a.principal == b.principal && a.territory == b.territory &&
         a.name == b.name;
}

}  // namespace

ZapAuthenticator::ZapAuthenticator(zmq::context_t& context, std::string keyring_dir,
                                   const NetworkConfig& config)
    : socket_(context, zmq::socket_type::rep),
      keyring_dir_(std::move(keyring_dir)),
      config_(config),
      watcher_(keyring_dir_) {
  socket_.set(zmq::sockopt::linger, 0);
}

Status ZapAuthenticator::Start() {
  // A standby promoted in this process has just closed its own handler, which libzmq
  // releases asynchronously: the endpoint may be taken for a moment.
  for (int attempt = 0;; ++attempt) {
    try {
      socket_.bind(kZapEndpoint);
      break;
    } catch (const zmq::error_t& e) {
      if (e.num() != EADDRINUSE || attempt >= 40) {
        return Status(wire::INTERNAL, std::string("cannot bind the ZAP handler: ") + e.what());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  watcher_.Changed();  // the signature of what is read now
  bool readable = false;
  keyring_ = LoadChecked(&readable);
  if (!readable) {
    return Status(wire::INVALID_ARGUMENT,
                  "cannot read the keyring " + keyring_dir_ +
                      " (create it with `aplus keyring add`; it must not be writable by group "
                      "or others)");
  }
  spdlog::info("keyring {}: {} keys admitted", keyring_dir_, keyring_.entries().size());
  return Status::Ok();
}

Keyring ZapAuthenticator::LoadChecked(bool* readable) {
  KeyringLoad load = LoadKeyringDirectory(keyring_dir_);
  *readable = !(load.entries.empty() && !load.problems.empty() &&
                load.problems.front().rfind("keyring " + keyring_dir_, 0) == 0);
  for (const auto& problem : load.problems) spdlog::error("keyring: {} (skipped)", problem);
  std::vector<KeyringEntry> admitted;
  for (auto& entry : load.entries) {
    Status known = CheckEntryAgainstNetwork(entry, config_);
    if (!known.ok()) {
      spdlog::error("keyring: {} does not fit this network: {} (skipped)",
                    DescribeEntry(entry), known.message());
      continue;
    }
    admitted.push_back(std::move(entry));
  }
  return Keyring(std::move(admitted));
}

std::vector<std::string> ZapAuthenticator::ReloadIfChanged() {
  if (!watcher_.Changed()) return {};
  bool readable = false;
  Keyring fresh = LoadChecked(&readable);
  std::vector<std::string> revoked;
  for (const auto& entry : keyring_.entries()) {
    const KeyringEntry* now = fresh.FindByPublicKey(entry.public_key);
    if (!now || !SameEntry(*now, entry)) {
      spdlog::warn("keyring: {} {}: its connections are cut", DescribeEntry(entry),
                   now ? "changed" : "removed");
      revoked.push_back(entry.public_key);
    }
  }
  size_t added = 0;
  for (const auto& entry : fresh.entries()) {
    if (!keyring_.FindByPublicKey(entry.public_key)) ++added;
  }
  keyring_ = std::move(fresh);
  spdlog::info("keyring reloaded: {} keys admitted ({} new, {} revoked)",
               keyring_.entries().size(), added, revoked.size());
  return revoked;
}

void ZapAuthenticator::LogRefusal(const std::string& public_key, const std::string& address,
                                  const std::string& why) {
  int64_t now = SteadyNowMs();
  auto [it, inserted] = last_refusal_logged_ms_.try_emplace(public_key, now);
  if (!inserted && now - it->second < kRefusalLogEveryMs) return;
  it->second = now;
  if (last_refusal_logged_ms_.size() > 10000) last_refusal_logged_ms_.clear();  // bounded
  spdlog::warn("refused CURVE handshake from {} with key {}: {}", address, public_key, why);
}

void ZapAuthenticator::AnswerRequests() {
  while (true) {
    // A request: version, request id, domain, address, routing id, mechanism, credentials.
    std::vector<zmq::message_t> frames;
    try {
      zmq::message_t first;
      if (!socket_.recv(first, zmq::recv_flags::dontwait)) return;
      bool more = first.more();
      frames.push_back(std::move(first));
      while (more) {
        zmq::message_t next;
        if (!socket_.recv(next, zmq::recv_flags::none)) break;
        more = next.more();
        frames.push_back(std::move(next));
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("ZAP receive failed: {}", e.what());
      return;
    }
    std::string status = "400", text, user_id;
    if (frames.size() < 6 || frames[0].to_string() != "1.0") {
      text = "malformed ZAP request";
      spdlog::error("ZAP: malformed request ({} frames)", frames.size());
    } else {
      std::string domain = frames[2].to_string();
      std::string address = frames[3].to_string();
      std::string mechanism = frames[5].to_string();
      if (mechanism != "CURVE" || frames.size() < 7 || frames[6].size() != 32) {
        text = "CURVE required";
        LogRefusal("(none: mechanism " + mechanism + ")", address, "CURVE required");
      } else {
        char z85[41] = {};
        zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
        std::string key(z85);
        const KeyringEntry* entry = Find(key);
        if (!entry) {
          text = "unknown key";
          LogRefusal(key, address, "not in the keyring");
        } else if ((domain == kReplicationZapDomain) != (entry->role == wire::BROKER_PEER)) {
          text = domain == kReplicationZapDomain ? "the replication link is for broker-peer keys"
                                                 : "a broker-peer key serves the replication link only";
          LogRefusal(key, address, DescribeEntry(*entry) + ": " + text);
        } else if (domain == kAlertsZapDomain && entry->role != wire::OPERATOR &&
                   entry->role != wire::ADMINISTRATOR && entry->role != wire::CONSOLE) {
          // (The console shows the alert stream to the operators signed in to it.)
          text = "the alert stream is for operators";
          LogRefusal(key, address, DescribeEntry(*entry) + " may not follow the alert stream");
        } else {
          status = "200";
          text = "OK";
          user_id = key;
          spdlog::debug("admitted {} from {}", DescribeEntry(*entry), address);
        }
      }
    }
    try {
      socket_.send(zmq::buffer(std::string_view("1.0")), zmq::send_flags::sndmore);
      if (frames.size() > 1) {
        socket_.send(frames[1], zmq::send_flags::sndmore);
      } else {
        socket_.send(zmq::message_t(), zmq::send_flags::sndmore);
      }
      socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(user_id), zmq::send_flags::sndmore);
      socket_.send(zmq::message_t(), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      spdlog::error("ZAP reply failed: {}", e.what());
      return;
    }
  }
}

}  // namespace aplus
