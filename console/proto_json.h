// The console's JSON of a broker answer: the protobuf message as JSON with its proto field
// names (snake_case, as in proto/aplus.proto), every field present (zeros and empty strings
// too), enums by name, and 64-bit integers as strings (protobuf's JSON mapping: JavaScript's
// numbers cannot hold every uint64). docs/console-api.md relies on this.
#pragma once

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

namespace aplus {

// Never throws: a message that cannot be converted (a broken descriptor) gives
// {"error": "..."} so that a response is still well-formed.
nlohmann::json ProtoJson(const google::protobuf::Message& message);

}  // namespace aplus
