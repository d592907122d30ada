// deploy/prometheus/: the example scrape configuration and the alerting rules are valid for
// Prometheus' own checker, and each alert fires on the series it is written for
// (aplus_rules_test.yml, run by `promtool test rules`).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

std::pair<int, std::string> Run(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

const std::string kDir = std::string(APLUS_SOURCE_DIR) + "/deploy/prometheus";

}  // namespace

TEST_CASE("the alerting rules pass promtool check rules" * doctest::timeout(60)) {
  auto [code, output] = Run("promtool check rules " + kDir + "/aplus_rules.yml");
  INFO(output);
  CHECK(code == 0);
  CHECK(output.find("SUCCESS: 13 rules found") != std::string::npos);
}

TEST_CASE("each alert fires on its series: promtool test rules" * doctest::timeout(60)) {
  auto [code, output] = Run("cd " + kDir + " && promtool test rules aplus_rules_test.yml");
  INFO(output);
  CHECK(code == 0);
}

TEST_CASE("the example scrape configuration passes promtool check config" *
          doctest::timeout(60)) {
  auto [code, output] = Run("promtool check config " + kDir + "/prometheus.yml");
  INFO(output);
  CHECK(code == 0);
}

TEST_CASE("promtool is a real check: a rule with a broken expression is refused" *
          doctest::timeout(60)) {
  auto path = std::filesystem::temp_directory_path() /
              ("aplus-bad-rules-" + std::to_string(::getpid()) + ".yml");
  std::ofstream(path) << "groups:\n  - name: bad\n    rules:\n      - alert: Broken\n"
                         "        expr: sum by (partner (aplus_x)\n";
  auto [code, output] = Run("promtool check rules " + path.string());
  std::filesystem::remove(path);
  INFO(output);
  CHECK(code != 0);
}
