#include "common/sync_client.h"

#include <algorithm>
#include <cerrno>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/endpoint_list.h"

namespace aplus {
namespace {

// Whether `socket` became readable within `timeout_ms`. A signal (EINTR: a program with
// SIGINT/SIGTERM handlers, as `aplus alerts --follow`) counts as "not yet": the caller's loop
// goes on to its deadline and the program reads its stop flag once the call returns, instead
// of dying of an uncaught zmq::error_t.
bool WaitReadable(zmq::socket_t& socket, int64_t timeout_ms) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    throw;
  }
  return (item.revents & ZMQ_POLLIN) != 0;
}

}  // namespace


SyncClient::SyncClient(zmq::context_t& context, const std::string& endpoints,
                       std::optional<wire::Hello> hello, std::optional<CurveClientKeys> curve)
    : context_(context),
      endpoints_(EndpointListOrSelf(endpoints)),
      hello_(std::move(hello)),
      curve_(std::move(curve)) {
  Reset();
}

SyncClient::~SyncClient() = default;

void SyncClient::Reset() {
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::immediate, 1);  // no queueing to a peer that is not there
  socket_->set(zmq::sockopt::heartbeat_ivl, 1000);
  socket_->set(zmq::sockopt::heartbeat_timeout, 3000);
  socket_->set(zmq::sockopt::reconnect_ivl, 100);
  socket_->set(zmq::sockopt::reconnect_ivl_max, 1000);
  if (curve_) ApplyCurveClient(*socket_, *curve_);
  socket_->connect(endpoint());
  said_hello_ = false;
}

Status SyncClient::Send(const wire::Envelope& envelope) {
  auto message = EncodeEnvelope(envelope);
  try {
    auto sent = socket_->send(message, zmq::send_flags::dontwait);
    if (!sent) return Status(wire::UNREACHABLE, "no connection to " + endpoint());
  } catch (const zmq::error_t& e) {
    return Status(wire::UNREACHABLE, std::string("send to ") + endpoint() + " failed: " + e.what());
  }
  return Status::Ok();
}

std::optional<wire::Envelope> SyncClient::Receive(int timeout_ms) {
  if (!unsolicited_.empty()) {
    auto front = std::move(unsolicited_.front());
    unsolicited_.pop_front();
    return front;
  }
  int64_t deadline = SteadyNowMs() + timeout_ms;
  while (true) {
    int64_t left = deadline - SteadyNowMs();
    if (left < 0) return std::nullopt;
    if (!WaitReadable(*socket_, left)) continue;
    zmq::message_t message;
    if (!socket_->recv(message, zmq::recv_flags::dontwait)) continue;
    auto decoded = DecodeEnvelope(message.data(), message.size(), SIZE_MAX);
    if (decoded.ok()) return std::move(decoded).value();
  }
}

Result<wire::Envelope> SyncClient::RoundTrip(wire::Envelope request, int64_t deadline_ms) {
  uint64_t id = next_request_id_++;
  request.set_request_id(id);
  // With ZMQ_IMMEDIATE a send fails while disconnected; keep trying until the deadline so that
  // a peer that is (re)starting gets the request as soon as it is up.
  while (true) {
    Status sent = Send(request);
    if (sent.ok()) break;
    if (SteadyNowMs() >= deadline_ms) {
      Reset();
      return Status(wire::UNREACHABLE, "cannot reach " + endpoint());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  while (true) {
    int64_t left = deadline_ms - SteadyNowMs();
    if (left <= 0) {
      Reset();
      return Status(wire::UNREACHABLE, "no answer from " + endpoint() + " in time");
    }
    if (!WaitReadable(*socket_, left)) continue;
    zmq::message_t message;
    if (!socket_->recv(message, zmq::recv_flags::dontwait)) continue;
    auto decoded = DecodeEnvelope(message.data(), message.size(), SIZE_MAX);
    if (!decoded.ok()) continue;
    if (decoded->request_id() == id) return std::move(decoded).value();
    if (decoded->request_id() == 0) unsolicited_.push_back(std::move(decoded).value());
    // Anything else answers an abandoned request: ignore it.
  }
}

Result<wire::Envelope> SyncClient::Call(wire::Envelope request, int timeout_ms) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  const size_t count = endpoints_.size();
  if (count == 1) return CallHere(request, deadline);  // exactly as before lists
  size_t moves = 0;
  while (true) {
    int64_t now = SteadyNowMs();
    int64_t share = std::max<int64_t>(kMinTryMs, (deadline - now) / static_cast<int64_t>(count));
    auto answer = CallHere(request, std::min(deadline, now + share));
    bool not_leader = answer.ok() && answer->has_error() &&
                      answer->error().code() == wire::NOT_LEADER;
    bool silent = !answer.ok() && answer.status().code() == wire::UNREACHABLE;
    if ((!not_leader && !silent) || SteadyNowMs() >= deadline) return answer;
    if (not_leader) {
      const std::string& leader = answer->error().leader_endpoint();
      MoveOn("is not the leader (leader: " + (leader.empty() ? "unknown" : leader) + ")", leader);
    } else {
      MoveOn("answered nothing in time", "");
    }
    // The whole list went round without a leader (an election under way): not in a loop.
    if (++moves % count == 0) {
      int64_t left = deadline - SteadyNowMs();
      if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, 200)));
    }
  }
}

void SyncClient::MoveOn(const std::string& why, const std::string& leader) {
  size_t from = current_;
  auto named = std::find(endpoints_.begin(), endpoints_.end(), leader);
  if (!leader.empty() && named != endpoints_.end()) {
    current_ = static_cast<size_t>(named - endpoints_.begin());
  } else {
    current_ = (current_ + 1) % endpoints_.size();
  }
  spdlog::info("broker link: {} {}, moving to {}", endpoints_[from], why, endpoint());
  Reset();
}

Result<wire::Envelope> SyncClient::CallHere(const wire::Envelope& request, int64_t deadline) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (hello_ && !said_hello_) {
      wire::Envelope hello;
      *hello.mutable_hello() = *hello_;
      auto answer = RoundTrip(std::move(hello), deadline);
      if (!answer.ok()) return answer.status();
      if (answer->body_case() == wire::Envelope::kError) return std::move(answer).value();
      said_hello_ = true;
    }
    auto answer = RoundTrip(request, deadline);
    if (!answer.ok()) return answer;
    if (hello_ && answer->body_case() == wire::Envelope::kError &&
        answer->error().code() == wire::NOT_AUTHENTICATED) {
      said_hello_ = false;  // the peer restarted and forgot us: introduce ourselves again
      continue;
    }
    return answer;
  }
  return Status(wire::NOT_AUTHENTICATED, "the peer keeps refusing the session");
}

Result<wire::Envelope> SyncClient::CallOk(wire::Envelope request, int timeout_ms) {
  auto answer = Call(std::move(request), timeout_ms);
  if (!answer.ok()) return answer;
  Status status = StatusOf(*answer);
  if (!status.ok()) return status;
  return answer;
}

}  // namespace aplus
