// A blocking request/answer client over a ZeroMQ DEALER socket: what the `aplus` command line
// uses to talk to a broker or a gateway, and what tests use to drive them.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/curve_client.h"
#include "common/status.h"
#include "common/wire.h"

namespace aplus {

// Thread rules: one thread at a time. Owns its socket; the context is shared and must outlive it.
class SyncClient {
 public:
  // Connects (lazily, as ZeroMQ does) to `endpoints`: one endpoint, or a comma-separated list
  // of a pair of brokers' (common/endpoint_list.h; a text that does not parse is taken as one
  // endpoint). `hello` is sent before the first request and again whenever the peer answers
  // NOT_AUTHENTICATED; leave it unset for local endpoints that need no session. With `curve`,
  // the connection is CURVE-encrypted and authenticated (the broker); without, it is plain
  // (local endpoints, a broker run with --insecure).
  //
  // Following the leader (docs/AVAILABILITY.md): an Error NOT_LEADER, to Hello or to the
  // request, moves the client to Error.leader_endpoint when it is one of its endpoints, else to
  // the next one, and the call goes on there (Hello, then the same request) within its
  // deadline. With several endpoints, one that answers nothing within its share of the
  // deadline (at least kMinTryMs) is left for the next. With one endpoint a call behaves as it
  // always did, and NOT_LEADER is returned as the answer.
  SyncClient(zmq::context_t& context, const std::string& endpoints,
             std::optional<wire::Hello> hello,
             std::optional<CurveClientKeys> curve = std::nullopt);
  static constexpr int64_t kMinTryMs = 1000;
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  // Sends `request` (request_id is filled in) and waits up to `timeout_ms` for its answer.
  // Returns the answer envelope (which may hold an Error body), or UNREACHABLE on timeout.
  // After a timeout the socket is replaced, so a late answer is never mistaken for the next.
  Result<wire::Envelope> Call(wire::Envelope request, int timeout_ms);

  // Like Call, but an Error body becomes the returned Status.
  Result<wire::Envelope> CallOk(wire::Envelope request, int timeout_ms);

  // Receives one unsolicited envelope (e.g. a Delivery) within `timeout_ms`, or nullopt.
  std::optional<wire::Envelope> Receive(int timeout_ms);

  // Sends without waiting for anything (DeliveryAck).
  Status Send(const wire::Envelope& envelope);

  // The endpoint the client talks to now (one of its list).
  const std::string& endpoint() const { return endpoints_[current_]; }

 private:
  void Reset();
  Result<wire::Envelope> RoundTrip(wire::Envelope request, int64_t deadline_ms);
  // Hello when due, then `request`, on the current endpoint until `deadline_ms`.
  Result<wire::Envelope> CallHere(const wire::Envelope& request, int64_t deadline_ms);
  // Leaves the current endpoint for `leader` when it is in the list, else for the next one.
  void MoveOn(const std::string& why, const std::string& leader);

  zmq::context_t& context_;
  const std::vector<std::string> endpoints_;  // never empty
  size_t current_ = 0;                         // index in endpoints_
  const std::optional<wire::Hello> hello_;
  const std::optional<CurveClientKeys> curve_;
  std::unique_ptr<zmq::socket_t> socket_;
  bool said_hello_ = false;
  uint64_t next_request_id_ = 1;
  std::deque<wire::Envelope> unsolicited_;
};

}  // namespace aplus
