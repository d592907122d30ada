#include "common/wire.h"

namespace aplus {

Result<wire::Envelope> DecodeEnvelope(const void* data, size_t size, size_t max_frame_bytes) {
  if (size > max_frame_bytes) {
    return Status(wire::TOO_LARGE, "frame of " + std::to_string(size) + " bytes exceeds the " +
                                       std::to_string(max_frame_bytes) + "-byte limit");
  }
  wire::Envelope envelope;
  if (!envelope.ParseFromArray(data, static_cast<int>(size))) {
    return Status(wire::MALFORMED, "frame of " + std::to_string(size) +
                                       " bytes is not a valid A+ envelope");
  }
  if (envelope.body_case() == wire::Envelope::BODY_NOT_SET) {
    // Unknown field numbers parse as unknown fields: a body we do not know is not "no body".
    if (!envelope.GetReflection()->GetUnknownFields(envelope).empty()) {
      return Status(wire::UNKNOWN_MESSAGE, "envelope carries a message type this endpoint does not know");
    }
    return Status(wire::MALFORMED, "envelope has no body");
  }
  return envelope;
}

zmq::message_t EncodeEnvelope(const wire::Envelope& envelope) {
  zmq::message_t message(envelope.ByteSizeLong());
  envelope.SerializeWithCachedSizesToArray(static_cast<uint8_t*>(message.data()));
  return message;
}

wire::Envelope MakeErrorEnvelope(uint64_t request_id, const Status& status) {
  wire::Envelope envelope;
  envelope.set_request_id(request_id);
  auto* error = envelope.mutable_error();
  error->set_code(status.ok() ? wire::INTERNAL : status.code());
  error->set_message(status.message());
  error->set_retry_after_ms(status.retry_after_ms());
  return envelope;
}

Status StatusOf(const wire::Envelope& envelope) {
  if (envelope.body_case() != wire::Envelope::kError) return Status::Ok();
  return Status(envelope.error().code() == wire::ERROR_UNSPECIFIED ? wire::INTERNAL
                                                                    : envelope.error().code(),
                envelope.error().message())
      .WithRetryAfterMs(envelope.error().retry_after_ms());
}

std::string BodyName(const wire::Envelope& envelope) {
  const auto* field = envelope.GetDescriptor()->FindFieldByNumber(
      static_cast<int>(envelope.body_case()));
  return field ? field->name() : "none";
}

}  // namespace aplus
