#include "console/proto_json.h"

#include <google/protobuf/util/json_util.h>

namespace aplus {

nlohmann::json ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!status.ok()) return {{"error", std::string(status.message())}};
  // Protobuf writes valid UTF-8 (invalid strings cannot be parsed into a message).
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return {{"error", "unreadable JSON from protobuf"}};
  return json;
}

}  // namespace aplus
