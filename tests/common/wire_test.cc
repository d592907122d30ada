#include "common/wire.h"

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace aplus {
namespace {

wire::Envelope SampleSubmit() {
  wire::Envelope envelope;
  envelope.set_request_id(42);
  auto* submit = envelope.mutable_submit();
  submit->set_agent("agent-noce-1");
  submit->set_partner("france-travail");
  submit->set_category("unemployment-benefits");
  submit->set_subject("Allocation suspendue");
  submit->set_body("Le versement est suspendu depuis mars ; merci de rappeler Mme D.");
  submit->set_citizen_name("Mme D.");
  submit->set_idempotency_key("key-1");
  return envelope;
}

Result<wire::Envelope> Decode(const std::string& bytes, size_t limit = kDefaultMaxFrameBytes) {
  return DecodeEnvelope(bytes.data(), bytes.size(), limit);
}

TEST_CASE("an encoded envelope decodes to the same envelope") {
  wire::Envelope original = SampleSubmit();
  zmq::message_t frame = EncodeEnvelope(original);
  CHECK(frame.size() == original.ByteSizeLong());
  auto decoded = DecodeEnvelope(frame.data(), frame.size(), kDefaultMaxFrameBytes);
  REQUIRE_MESSAGE(decoded.ok(), decoded.status().ToString());
  CHECK(decoded->request_id() == 42);
  REQUIRE(decoded->has_submit());
  CHECK(decoded->submit().agent() == "agent-noce-1");
  CHECK(decoded->submit().body() == original.submit().body());
  CHECK(decoded->SerializeAsString() == original.SerializeAsString());

  // Bodies whose message is empty still count as a body.
  wire::Envelope ping;
  ping.mutable_ping();
  zmq::message_t ping_frame = EncodeEnvelope(ping);
  auto decoded_ping = DecodeEnvelope(ping_frame.data(), ping_frame.size(), kDefaultMaxFrameBytes);
  REQUIRE_MESSAGE(decoded_ping.ok(), decoded_ping.status().ToString());
  CHECK(decoded_ping->has_ping());
  CHECK(decoded_ping->request_id() == 0);
}

TEST_CASE("a frame over the limit is TOO_LARGE, one at the limit is accepted") {
  wire::Envelope envelope = SampleSubmit();
  envelope.mutable_submit()->set_body(std::string(4000, 'x'));
  std::string bytes = envelope.SerializeAsString();

  auto at_limit = Decode(bytes, bytes.size());
  CHECK(at_limit.ok());

  auto over = Decode(bytes, bytes.size() - 1);
  REQUIRE_FALSE(over.ok());
  CHECK(over.status().code() == wire::TOO_LARGE);
  CHECK(over.status().message().find(std::to_string(bytes.size())) != std::string::npos);

  // The size check comes before any parsing: even garbage is TOO_LARGE when too big.
  std::string huge(kDefaultMaxFrameBytes + 1, '\xff');
  auto huge_result = Decode(huge);
  REQUIRE_FALSE(huge_result.ok());
  CHECK(huge_result.status().code() == wire::TOO_LARGE);
}

TEST_CASE("garbage, truncated and body-less frames are MALFORMED") {
  std::vector<std::string> garbage = {
      std::string("\xff\xff\xff\xff", 4),   // an unterminated varint tag
      std::string("\x0a\x10" "abc", 5),     // a length beyond the end of the frame
      std::string("\x00", 1),               // field number 0 is illegal
      std::string("\x07", 1),               // wire type 7 does not exist
      "hello, broker",
  };
  std::string submit = SampleSubmit().SerializeAsString();
  garbage.push_back(submit.substr(0, submit.size() / 2));  // truncated mid-field
  for (const std::string& bytes : garbage) {
    auto result = Decode(bytes);
    REQUIRE_FALSE(result.ok());
    CHECK_MESSAGE(result.status().code() == wire::MALFORMED, result.status().ToString());
  }

  auto empty = Decode(std::string());
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == wire::MALFORMED);
  CHECK(DecodeEnvelope(nullptr, 0, kDefaultMaxFrameBytes).status().code() == wire::MALFORMED);

  wire::Envelope only_id;
  only_id.set_request_id(9);
  auto no_body = Decode(only_id.SerializeAsString());
  REQUIRE_FALSE(no_body.ok());
  CHECK(no_body.status().code() == wire::MALFORMED);
}

TEST_CASE("an envelope whose body this endpoint does not know is UNKNOWN_MESSAGE") {
  // request_id = 5, then field 99 (varint, value 1): tag (99 << 3) | 0 = 792 = 0x98 0x06.
  std::string bytes("\x08\x05\x98\x06\x01", 5);
  auto result = Decode(bytes);
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == wire::UNKNOWN_MESSAGE);

  // Field 99 as a length-delimited sub-message, the way a newer peer would send a new body.
  std::string nested("\x9a\x06\x02\x08\x01", 5);
  auto nested_result = Decode(nested);
  REQUIRE_FALSE(nested_result.ok());
  CHECK(nested_result.status().code() == wire::UNKNOWN_MESSAGE);
}

TEST_CASE("error envelopes carry a Status both ways") {
  Status status(wire::UNKNOWN_CASE, "no case PER-0000-0000");
  wire::Envelope envelope = MakeErrorEnvelope(17, status);
  CHECK(envelope.request_id() == 17);
  REQUIRE(envelope.has_error());
  CHECK(envelope.error().code() == wire::UNKNOWN_CASE);
  CHECK(envelope.error().message() == "no case PER-0000-0000");

  Status back = StatusOf(envelope);
  CHECK_FALSE(back.ok());
  CHECK(back.code() == wire::UNKNOWN_CASE);
  CHECK(back.message() == status.message());
  CHECK(back.ToString() == "UNKNOWN_CASE: no case PER-0000-0000");

  // Through the codec too.
  zmq::message_t frame = EncodeEnvelope(envelope);
  auto decoded = DecodeEnvelope(frame.data(), frame.size(), kDefaultMaxFrameBytes);
  REQUIRE(decoded.ok());
  CHECK(StatusOf(*decoded).code() == wire::UNKNOWN_CASE);

  // An OK status is never sent as an error that means "no error".
  CHECK(MakeErrorEnvelope(1, Status::Ok()).error().code() == wire::INTERNAL);

  // Any other body is OK; an Error without a code is still an error.
  CHECK(StatusOf(SampleSubmit()).ok());
  wire::Envelope codeless;
  codeless.mutable_error()->set_message("?");
  CHECK(StatusOf(codeless).code() == wire::INTERNAL);
}

TEST_CASE("BodyName names the body case") {
  CHECK(BodyName(SampleSubmit()) == "submit");
  wire::Envelope envelope;
  CHECK(BodyName(envelope) == "none");
  envelope.mutable_delivery_ack();
  CHECK(BodyName(envelope) == "delivery_ack");
  envelope.mutable_hello();
  CHECK(BodyName(envelope) == "hello");
  CHECK(BodyName(MakeErrorEnvelope(1, Status(wire::INTERNAL, "x"))) == "error");
}

}  // namespace
}  // namespace aplus
