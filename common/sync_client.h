// A blocking request/answer client over a ZeroMQ DEALER socket: what the `aplus` command line
// uses to talk to a broker or a gateway, and what tests use to drive them.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/curve_client.h"
#include "common/status.h"
#include "common/wire.h"

namespace aplus {

// Thread rules: one thread at a time. Owns its socket; the context is shared and must outlive it.
class SyncClient {
 public:
  // Connects (lazily, as ZeroMQ does) to `endpoint`. `hello` is sent before the first request
  // and again whenever the peer answers NOT_AUTHENTICATED; leave it unset for local endpoints
  // that need no session. With `curve`, the connection is CURVE-encrypted and authenticated
  // (the broker); without, it is plain (local endpoints, a broker run with --insecure).
  SyncClient(zmq::context_t& context, std::string endpoint, std::optional<wire::Hello> hello,
             std::optional<CurveClientKeys> curve = std::nullopt);
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

 private:
  void Reset();
  Result<wire::Envelope> RoundTrip(wire::Envelope request, int64_t deadline_ms);

  zmq::context_t& context_;
  const std::string endpoint_;
  const std::optional<wire::Hello> hello_;
  const std::optional<CurveClientKeys> curve_;
  std::unique_ptr<zmq::socket_t> socket_;
  bool said_hello_ = false;
  uint64_t next_request_id_ = 1;
  std::deque<wire::Envelope> unsolicited_;
};

}  // namespace aplus
