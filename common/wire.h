// Frame <-> Envelope conversion, shared by every program. Decoding never trusts the input:
// a frame that is too large, truncated, garbage or empty of a body is an error value.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/status.h"

namespace aplus {

inline constexpr size_t kDefaultMaxFrameBytes = 1 << 20;  // 1 MiB

// Returns the envelope in `frame`, or MALFORMED / TOO_LARGE.
Result<wire::Envelope> DecodeEnvelope(const void* data, size_t size, size_t max_frame_bytes);

// Serializes `envelope` into a new message.
zmq::message_t EncodeEnvelope(const wire::Envelope& envelope);

// An Error envelope answering `request_id`.
wire::Envelope MakeErrorEnvelope(uint64_t request_id, const Status& status);

// The Status carried by an Error envelope, or OK for any other body.
Status StatusOf(const wire::Envelope& envelope);

// Name of the body case, for logs ("submit", "delivery_ack", ...).
std::string BodyName(const wire::Envelope& envelope);

}  // namespace aplus
