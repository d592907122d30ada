// The HTTP client of the C++ system tests: curl as a child process (a real HTTP client), and
// every answer checked against docs/openapi.yaml by tests/http/openapi_check.py (the operation
// found by method and path; an answer to a path no operation serves must be a problem
// document). One implementation for the agent's and the partner's API tests.
#pragma once

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

namespace aplus::testing {

struct HttpReply {
  int status = 0;                               // 0: no answer within the time limit
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  nlohmann::json parsed;  // the body as JSON (discarded when it is not)
  // A reference into the reply, so that range-for over Json()["..."] is safe.
  const nlohmann::json& Json() const { return parsed; }
};

// Errors of `reply` to `method target` against the contract ("" = valid).
inline std::string ContractErrors(const std::string& method, const std::string& target,
                                  const HttpReply& reply, const std::string& scratch_file) {
  std::ofstream(scratch_file, std::ios::binary) << reply.body;
  auto content_type = reply.headers.count("content-type") ? reply.headers.at("content-type")
                                                          : std::string("none");
  std::string command = std::string(APLUS_PYTHON3) + " " + APLUS_SOURCE_DIR +
                        "/tests/http/openapi_check.py --request '" + method + " " + target +
                        "' " + std::to_string(reply.status) + " '" + content_type + "'";
  for (const auto& [name, value] : reply.headers) {
    if (name == "retry-after" || name == "location") {
      command += " --header '" + name + ":" + value + "'";
    }
  }
  command += " < " + scratch_file + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  if (status == 0) return "";
  return output.empty() ? "openapi_check.py failed (" + command + ")" : output;
}

// One request to `base_url` + `target` with curl (-i: status line and headers before the
// body); `body` goes through a file so that no shell quoting touches it. Bounded by curl's
// --max-time. Every answer is checked against docs/openapi.yaml (a failed CHECK names why).
inline HttpReply CurlRequest(const std::string& scratch_dir, const std::string& method,
                             const std::string& base_url, const std::string& target,
                             const std::string& token, const std::string& body = "",
                             std::vector<std::string> headers = {}, int max_seconds = 20) {
  static std::atomic<int> counter{0};
  const std::string stem =
      scratch_dir + "/curl-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  std::string command = "curl -s -i --max-time " + std::to_string(max_seconds) + " -X " + method;
  if (!token.empty()) command += " -H 'Authorization: Bearer " + token + "'";
  bool has_type = false;
  for (const auto& header : headers) {
    command += " -H '" + header + "'";
    if (header.rfind("Content-Type", 0) == 0) has_type = true;
  }
  if (!body.empty()) {
    std::ofstream(stem + ".request", std::ios::binary) << body;
    if (!has_type) command += " -H 'Content-Type: application/json'";
    command += " --data-binary @" + stem + ".request";
  }
  command += " '" + base_url + target + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  ::pclose(pipe);
  HttpReply reply;
  size_t end = output.find("\r\n\r\n");
  if (end == std::string::npos) return reply;  // no answer: status 0
  std::string head = output.substr(0, end);
  reply.body = output.substr(end + 4);
  reply.parsed = nlohmann::json::parse(reply.body, nullptr, false);
  std::sscanf(head.c_str(), "HTTP/%*s %d", &reply.status);
  size_t line = head.find("\r\n");
  while (line != std::string::npos) {
    size_t next = head.find("\r\n", line + 2);
    std::string text = head.substr(line + 2, next == std::string::npos ? std::string::npos
                                                                       : next - line - 2);
    size_t colon = text.find(':');
    if (colon != std::string::npos) {
      std::string name = text.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = text.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      reply.headers[name] = value;
    }
    line = next;
  }
  std::string errors = ContractErrors(method, target, reply, stem + ".response");
  CHECK_MESSAGE(errors.empty(), method << " " << target << " -> " << reply.status << " "
                                       << reply.body.substr(0, 300) << ": " << errors);
  std::error_code ignored;
  std::filesystem::remove(stem + ".request", ignored);
  std::filesystem::remove(stem + ".response", ignored);
  return reply;
}

}  // namespace aplus::testing
