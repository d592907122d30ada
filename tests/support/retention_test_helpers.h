// Test support for retention: a network config whose personal data lasts 2 seconds.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/child_process.h"

namespace aplus::testing {

// deploy/perche.toml with a 2-second retention and compactions at most every second.
inline std::string WriteShortRetentionConfig(const TempDir& dir) {
  std::ifstream in(std::string(APLUS_SOURCE_DIR) + "/deploy/perche.toml");
  std::stringstream content;
  content << in.rdbuf();
  std::string toml = content.str();
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t at = toml.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "deploy/perche.toml has no '" << from << "'");
    toml.replace(at, from.size(), to);
  };
  replace("personal_data_after = \"12 months\"", "personal_data_after = \"2 seconds\"");
  replace("compaction_interval = \"1 hours\"", "compaction_interval = \"1 seconds\"");
  std::string path = dir.Sub("network.toml");
  std::ofstream(path) << toml;
  return path;
}

}  // namespace aplus::testing
