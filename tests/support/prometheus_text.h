// Reading a program's /metrics text in tests: `promtool check metrics` (Debian's prometheus
// package) and one sample's value. Shared by the metrics tests of every program.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "common/clock.h"
#include <thread>
#include <chrono>

namespace aplus {

// `promtool check metrics` on `text`: its exit status (-1 when it did not run to the end) and
// its output.
inline std::pair<int, std::string> PromtoolCheck(const std::string& text) {
  static int calls = 0;
  auto path = std::filesystem::temp_directory_path() /
              ("aplus-metrics-" + std::to_string(::getpid()) + "-" + std::to_string(++calls) +
               ".txt");
  std::ofstream(path) << text;
  std::string command = "promtool check metrics < " + path.string() + " 2>&1";
  std::string output;
  int status = -1;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    status = ::pclose(pipe);
  }
  std::filesystem::remove(path);
  return {status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The value of the sample `series` (name and labels exactly as exposed, e.g.
// `aplus_cases{state="ANSWERED"}`), or nullopt when the text has no such sample.
inline std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

// The body of GET `url``path` ("" when curl failed or the status was not 2xx), bounded by curl's --max-time.
inline std::string CurlGet(const std::string& url, const std::string& path = "/metrics") {
  std::string body;
  if (FILE* pipe = ::popen(("curl -sf --max-time 10 '" + url + path + "'").c_str(), "r")) {
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) body.append(buffer, n);
    ::pclose(pipe);
  }
  return body;
}

// Scrapes until `series` reads `value` or `timeout_ms` passed; the last text.
inline std::string ScrapeUntil(const std::string& url, const std::string& series, double value,
                        int timeout_ms) {
  int64_t deadline = SteadyNowMs() + timeout_ms;
  std::string text;
  do {
    text = CurlGet(url);
    if (Sample(text, series) == value) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (SteadyNowMs() < deadline);
  return text;
}

}  // namespace aplus
