// CURVE and the keyring on the broker's side: setting the sockets up, following keyring
// changes, and cutting the connections of keys that were removed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <unordered_set>

#include "broker/broker.h"
#include "common/curve_client.h"
#include "common/curve_keys.h"

namespace aplus {

Status Broker::SetUpCurve() {
  if (options_.insecure) {
    for (const auto* endpoint : {&options_.listen_endpoint, &options_.alerts_endpoint}) {
      if (!IsLoopbackEndpoint(*endpoint)) {
        return Status(wire::INVALID_ARGUMENT,
                      "--insecure is allowed only on loopback endpoints, not " + *endpoint);
      }
    }
    spdlog::critical("INSECURE MODE: no CURVE encryption or authentication; identities are "
                     "taken from Hello. Development on this machine only.");
    return Status::Ok();
  }
  if (options_.key_file.empty()) {
    return Status(wire::INVALID_ARGUMENT,
                  "the broker needs its CURVE key pair (--key FILE, made by `aplus keygen`) and "
                  "a keyring (--keyring DIR); --insecure runs without CURVE on loopback only");
  }
  auto pair = ReadSecretKeyFile(options_.key_file);
  if (!pair.ok()) return pair.status();
  zap_ = std::make_unique<ZapAuthenticator>(context_, options_.keyring_dir, config_);
  Status started = zap_->Start();
  if (!started.ok()) return started;
  last_keyring_poll_ms_ = SteadyNowMs();
  for (auto* socket : {&socket_, &alerts_socket_}) {
    socket->set(zmq::sockopt::curve_server, 1);
    socket->set(zmq::sockopt::curve_secretkey, pair->secret_key);
  }
  socket_.set(zmq::sockopt::zap_domain, kBrokerZapDomain);
  alerts_socket_.set(zmq::sockopt::zap_domain, kAlertsZapDomain);
  spdlog::info("CURVE on: broker public key {}", pair->public_key);
  return Status::Ok();
}

void Broker::ApplyKeyringChanges() {
  int64_t now = SteadyNowMs();
  if (now - last_keyring_poll_ms_ < options_.keyring_poll_ms) return;
  last_keyring_poll_ms_ = now;
  std::vector<std::string> revoked = zap_->ReloadIfChanged();
  if (revoked.empty()) return;
  std::unordered_set<std::string> revoked_keys(revoked.begin(), revoked.end());
  // The alert stream: a revoked operator's subscription connections go too (its reconnections
  // are then refused at the handshake), and only that key's.
  for (auto it = alert_followers_.begin(); it != alert_followers_.end();) {
    if (revoked_keys.count(it->second.public_key)) {
      spdlog::warn("cutting the alert stream of a revoked key from {}", it->second.peer);
      CutConnection(it->first, it->second.peer);
      it = alert_followers_.erase(it);
    } else {
      ++it;
    }
  }
  // The pair's standby too: a revoked broker-peer key gets no more of the log (our data, personal
  // data included). Its attachments are refused from now on (the keyring no longer names it):
  // strict mode waits for a standby, degraded mode goes alone.
  if (replication_ && !replication_->standby_public_key().empty() &&
      revoked_keys.count(replication_->standby_public_key())) {
    replication_->DropStandby("its key left the keyring");
  }
  std::vector<std::string> cut;
  for (const auto& [routing_id, session] : sessions_) {
    if (revoked_keys.count(session.public_key)) cut.push_back(routing_id);
  }
  for (const auto& routing_id : cut) {
    Session& session = sessions_.at(routing_id);
    int fd = session.fd;
    std::string peer = session.peer;
    spdlog::warn("cutting {} from {}: its key left the keyring", session.DedupPrincipal(), peer);
    DropSession(routing_id, "key removed from the keyring");
    CutConnection(fd, peer);
  }
}

void Broker::ReadAlertSubscriptions() {
  // Bounded per turn: a flood of subscriptions cannot starve the requests.
  for (int read = 0; read < 10000; ++read) {
    zmq::message_t message;
    std::optional<size_t> received;
    try {
      received = alerts_socket_.recv(message, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      spdlog::warn("alert socket: {}", e.what());
      return;
    }
    if (!received) return;
    // 1 = subscribe, 0 = unsubscribe (then the topic). Only subscriptions say who is there.
    if (message.size() == 0 || message.data<uint8_t>()[0] != 1 || !zap_) continue;
    int fd = zmq_msg_get(message.handle(), ZMQ_SRCFD);
    const char* user_id = zmq_msg_gets(message.handle(), "User-Id");
    if (fd < 0 || !user_id) continue;
    if (!zap_->Find(user_id)) {
      // Admitted at the handshake, revoked since (between two keyring polls).
      CutConnection(fd, "");
      alert_followers_.erase(fd);
      continue;
    }
    // Without its peer address a descriptor could not be told from a reused one: such a
    // connection (already gone) is not tracked.
    std::string peer = PeerOf(fd);
    if (peer.empty()) continue;
    alert_followers_[fd] = AlertFollower{user_id, std::move(peer)};
  }
}

std::string Broker::PeerOf(int fd) {
  if (fd < 0) return "";
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "";
  char host[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (address.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    port = ntohs(v6->sin6_port);
  } else {
    return "local";
  }
  return std::string(host) + ":" + std::to_string(port);
}

void Broker::CutConnection(int fd, const std::string& expected_peer) {
  if (fd < 0) return;
  // The descriptor belongs to libzmq: shutting it down (not closing it) makes libzmq see the
  // connection end and release it itself. If the connection already ended, the number may
  // have been reused: the peer address tells.
  if (!expected_peer.empty() && PeerOf(fd) != expected_peer) return;
  ::shutdown(fd, SHUT_RDWR);
}

}  // namespace aplus
