#include "gateway/webhook_http_client.h"

#include <chrono>

#include "common/http_post.h"

namespace aplus {
namespace {

constexpr size_t kMaxResponseBodyBytes = 64 * 1024;  // a receiver's answer is not read further

WebhookHttpResult Failure(WebhookTransport transport, std::string error) {
  WebhookHttpResult result;
  result.outcome.transport = transport;
  result.error = std::move(error);
  return result;
}

}  // namespace

Result<WebhookUrl> WebhookUrl::Parse(const std::string& text) {
  WebhookUrl url;
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    url.tls = true;
    rest = text.substr(8);
  } else {
    return Status(wire::INVALID_ARGUMENT, "webhook URL must start with http:// or https://");
  }
  if (text.find('#') != std::string::npos) {
    return Status(wire::INVALID_ARGUMENT, "webhook URL must not have a fragment");
  }
  size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  url.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (url.target.front() == '?') url.target = "/" + url.target;
  if (authority.find('@') != std::string::npos) {
    return Status(wire::INVALID_ARGUMENT, "webhook URL must not carry user info");
  }
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [::1]:8080
    size_t close = authority.find(']');
    if (close == std::string::npos) return Status(wire::INVALID_ARGUMENT, "malformed host");
    url.host = authority.substr(1, close - 1);
    colon = authority.find(':', close);
  } else {
    url.host = authority.substr(0, colon);
  }
  url.port = colon == std::string::npos ? (url.tls ? "443" : "80") : authority.substr(colon + 1);
  if (url.host.empty()) return Status(wire::INVALID_ARGUMENT, "webhook URL has no host");
  if (url.port.empty() || url.port.size() > 5 ||
      url.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(url.port) == 0 || std::stoi(url.port) > 65535) {
    return Status(wire::INVALID_ARGUMENT, "webhook URL has a bad port");
  }
  return url;
}

WebhookHttpResult WebhookHttpClient::Post(
    const WebhookUrl& url, const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body, int64_t now_ms) const {
  HttpPostRequest request;
  request.tls = url.tls;
  request.host = url.host;
  request.port = url.port;
  request.target = url.target;
  request.host_header = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if ((url.tls && url.port != "443") || (!url.tls && url.port != "80")) {
    request.host_header += ":" + url.port;
  }
  request.headers = {{"User-Agent", "aplus-partner-gateway"},
                     {"Content-Type", "application/json"}};
  request.headers.insert(request.headers.end(), headers.begin(), headers.end());
  request.body = body;
  request.max_response_body_bytes = kMaxResponseBodyBytes;
  request.status_is_enough = true;  // a receiver's answer is its status

  HttpPostResult posted = PostOnce(request, std::chrono::steady_clock::now() + timeout_);
  switch (posted.failure) {
    case HttpPostFailure::kNone:
      break;
    case HttpPostFailure::kTimeout:
      return Failure(WebhookTransport::kTimeout, "timeout");
    case HttpPostFailure::kRefused:
      return Failure(WebhookTransport::kConnectionError, "connection refused");
    case HttpPostFailure::kFailed:
      if (posted.step == "resolve") {
        return Failure(WebhookTransport::kConnectionError, "cannot resolve: " + posted.error);
      }
      if (posted.step == "TLS") {
        return Failure(WebhookTransport::kConnectionError, "TLS: " + posted.error);
      }
      return Failure(WebhookTransport::kConnectionError, posted.error);
  }
  WebhookHttpResult result;
  result.outcome.transport = WebhookTransport::kResponse;
  result.outcome.status_code = posted.status;
  if (posted.retry_after) {
    if (auto ms = ParseRetryAfter(*posted.retry_after, now_ms)) result.outcome.retry_after_ms = *ms;
  }
  return result;
}

}  // namespace aplus
