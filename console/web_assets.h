// The web application (console/web/: index.html, app.css, app.js), compiled into aplus-console
// (CMake writes the files' text into a generated source file at configure time and
// re-configures when one changes): no file to install beside the binary, no CDN, no build step.
#pragma once

#include <optional>
#include <string_view>

namespace aplus {

struct WebAsset {
  std::string_view content_type;
  std::string_view body;
};

// The asset served at `path` ("/" is index.html), or nullopt.
std::optional<WebAsset> FindWebAsset(std::string_view path);

}  // namespace aplus
