#include "common/endpoint_list.h"

#include <algorithm>

#include "common/text.h"

namespace aplus {

Result<std::vector<std::string>> ParseEndpointList(std::string_view text) {
  if (TrimBlanks(text).empty()) return Status(wire::INVALID_ARGUMENT, "no endpoint given");
  std::vector<std::string> endpoints;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view item = TrimBlanks(text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (item.empty()) {
      return Status(wire::INVALID_ARGUMENT,
                    "empty endpoint in the list \"" + std::string(text) + "\"");
    }
    if (std::find(endpoints.begin(), endpoints.end(), item) != endpoints.end()) {
      return Status(wire::INVALID_ARGUMENT,
                    "endpoint " + std::string(item) + " given twice in \"" + std::string(text) + "\"");
    }
    endpoints.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return endpoints;
}

std::vector<std::string> EndpointListOrSelf(std::string_view text) {
  auto parsed = ParseEndpointList(text);
  if (parsed.ok()) return std::move(parsed).value();
  return {std::string(text)};
}

std::string JoinEndpointList(const std::vector<std::string>& endpoints) {
  std::string joined;
  for (const auto& endpoint : endpoints) {
    if (!joined.empty()) joined += ',';
    joined += endpoint;
  }
  return joined;
}

}  // namespace aplus
