#include "console/web_assets.h"

#include <utility>

namespace aplus {

// Written by CMake from console/web/ (generated/console_web_files.cc).
extern const std::pair<std::string_view, std::string_view> kConsoleWebFiles[];
extern const int kConsoleWebFileCount;

namespace {

std::string_view ContentTypeOf(std::string_view path) {
  auto ends = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

std::optional<WebAsset> FindWebAsset(std::string_view path) {
  if (path == "/" || path == "/index.html") path = "/index.html";
  for (int i = 0; i < kConsoleWebFileCount; ++i) {
    if (kConsoleWebFiles[i].first == path) {
      return WebAsset{ContentTypeOf(path), kConsoleWebFiles[i].second};
    }
  }
  return std::nullopt;
}

}  // namespace aplus
