#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "store/node_state.h"
#include "tests/support/child_process.h"

using namespace aplus;

TEST_CASE("node state: absent, then saved and read back") {
  testing::TempDir dir("nodestate");
  const std::string data_dir = dir.Sub("data");
  CHECK(NodeStatePath(data_dir) == data_dir + ".node");
  CHECK(NodeStatePath(data_dir + "/") == data_dir + ".node");
  auto absent = LoadNodeState(data_dir);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());

  for (const NodeState& state : {NodeState{7, true}, NodeState{123456789012, false}}) {
    REQUIRE(SaveNodeState(data_dir, state).ok());
    auto loaded = LoadNodeState(data_dir);
    REQUIRE(loaded.ok());
    REQUIRE(loaded->has_value());
    CHECK((*loaded)->epoch == state.epoch);
    CHECK((*loaded)->was_leader == state.was_leader);
  }
  std::ifstream in(data_dir + ".node");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "{\"epoch\":123456789012,\"role\":\"standby\"}\n");
  CHECK(SaveNodeState(data_dir, NodeState{-1, false}).code() == wire::INVALID_ARGUMENT);
}

TEST_CASE("a corrupt node state file is a typed error naming the file") {
  testing::TempDir dir("nodestate");
  const std::string data_dir = dir.Sub("data");
  for (const char* text : {"", "{", "[]", "42", "{\"epoch\":\"1\",\"role\":\"leader\"}",
                           "{\"epoch\":-1,\"role\":\"leader\"}", "{\"epoch\":1.5,\"role\":\"leader\"}",
                           "{\"epoch\":1,\"role\":\"boss\"}", "{\"role\":\"leader\"}",
                           "{\"epoch\":1}", "{\"epoch\":1,\"role\":true}"}) {
    CAPTURE(text);
    std::ofstream(data_dir + ".node", std::ios::trunc) << text;
    auto loaded = LoadNodeState(data_dir);
    CHECK(loaded.status().code() == wire::INVALID_ARGUMENT);
    CHECK(loaded.status().message().find(data_dir + ".node") != std::string::npos);
  }
}
