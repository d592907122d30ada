// `aplus tokens add|remove|list`, run as the real program on files in a fresh directory: no
// broker, no gateway.
#include <sys/stat.h>

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/token_store.h"
#include "tests/support/aplus_process.h"
#include "tests/support/child_process.h"

namespace {

using aplus::testing::TempDir;
using Run = aplus::testing::AplusRun;

Run RunAplus(const std::vector<std::string>& args) { return aplus::testing::RunAplusBinary(args); }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string FileText(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("aplus tokens add prints the token once; list shows names, agents, dates, no hash" *
          doctest::timeout(60)) {
  TempDir tmp("aplus-tokens");
  std::string dir = tmp.Sub("tokens");

  Run added = RunAplus({"tokens", "add", "front-desk", "--dir", dir});
  CHECK(added.exit_code == 0);
  CHECK(added.err.empty());
  REQUIRE(Contains(added.out, "token:  aplus_"));
  std::string token = added.out.substr(added.out.find("aplus_"), 70);
  CHECK(Contains(added.out, "name:   front-desk (agents: all)"));
  CHECK(Contains(added.out, dir + "/front-desk.toml"));
  std::string stored = FileText(dir + "/front-desk.toml");
  CHECK_FALSE(Contains(stored, token));
  CHECK(Contains(stored, aplus::HashToken(token)));

  Run json = RunAplus({"tokens", "--dir", dir, "add", "noce", "--agents",
                       "agent-noce-1,agent-noce-2", "--json"});
  CHECK(json.exit_code == 0);
  auto answer = nlohmann::json::parse(json.out);
  CHECK(answer.at("name") == "noce");
  CHECK(answer.at("agents") == nlohmann::json({"agent-noce-1", "agent-noce-2"}));
  CHECK(answer.at("file") == dir + "/noce.toml");
  std::string noce_token = answer.at("token").get<std::string>();
  CHECK(noce_token.size() == 70);
  CHECK(Contains(answer.at("created_at").get<std::string>(), "Z"));

  // What the gateways will do with the directory: the tokens printed are the ones accepted.
  aplus::TokenStore store(aplus::LoadTokenDirectory(dir).entries);
  CHECK(store.Authenticate(token)->name == "front-desk");
  CHECK(store.Authenticate(noce_token)->agents ==
        std::vector<std::string>{"agent-noce-1", "agent-noce-2"});

  Run list = RunAplus({"tokens", "list", "--dir", dir});
  CHECK(list.exit_code == 0);
  CHECK(Contains(list.out, "NAME"));
  CHECK(Contains(list.out, "AGENTS"));
  CHECK(Contains(list.out, "CREATED"));
  CHECK(Contains(list.out, "front-desk"));
  CHECK(Contains(list.out, "agent-noce-1,agent-noce-2"));
  CHECK_FALSE(Contains(list.out, aplus::HashToken(token).substr(0, 16)));
  CHECK_FALSE(Contains(list.out, token));

  Run list_json = RunAplus({"tokens", "list", "--dir", dir, "--json"});
  CHECK(list_json.exit_code == 0);
  auto array = nlohmann::json::parse(list_json.out);
  REQUIRE(array.size() == 2);
  CHECK(array[0].at("name") == "front-desk");
  CHECK(array[0].at("agents").empty());
  CHECK_FALSE(array[0].contains("sha256"));
  CHECK_FALSE(Contains(list_json.out, aplus::HashToken(token)));

  Run again = RunAplus({"tokens", "add", "front-desk", "--dir", dir});
  CHECK(again.exit_code == 1);
  CHECK(again.out.empty());
  CHECK(Contains(again.err, "aplus: INVALID_ARGUMENT: a token named front-desk already exists"));

  Run removed = RunAplus({"tokens", "remove", "front-desk", "--dir", dir});
  CHECK(removed.exit_code == 0);
  CHECK(Contains(removed.out, "removed token front-desk"));
  Run gone = RunAplus({"tokens", "remove", "front-desk", "--dir", dir});
  CHECK(gone.exit_code == 1);
  CHECK(Contains(gone.err, "no token named front-desk"));
  CHECK_FALSE(aplus::TokenStore(aplus::LoadTokenDirectory(dir).entries).Authenticate(token).ok());
}

TEST_CASE("aplus tokens: bad input and unsafe directories are refused" * doctest::timeout(60)) {
  TempDir tmp("aplus-tokens-bad");
  std::string dir = tmp.Sub("tokens");
  CHECK(RunAplus({"tokens", "add", "--dir", dir}).exit_code == 2);  // no NAME
  CHECK(RunAplus({"tokens", "--dir", dir}).exit_code == 2);         // no subcommand
  Run bad_name = RunAplus({"tokens", "add", "../x", "--dir", dir});
  CHECK(bad_name.exit_code == 1);
  CHECK(Contains(bad_name.err, "is not a token name"));
  Run bad_agent = RunAplus({"tokens", "add", "x", "--agents", "a b", "--dir", dir});
  CHECK(bad_agent.exit_code == 1);
  CHECK(Contains(bad_agent.err, "is not an agent id"));

  REQUIRE(RunAplus({"tokens", "add", "x", "--dir", dir}).exit_code == 0);
  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  Run unsafe = RunAplus({"tokens", "add", "y", "--dir", dir});
  CHECK(unsafe.exit_code == 1);
  CHECK(Contains(unsafe.err, "writable by group or others"));
  Run list = RunAplus({"tokens", "list", "--dir", dir});
  CHECK(list.exit_code == 1);
  CHECK(Contains(list.out, "no tokens in " + dir));
  CHECK(Contains(list.err, "aplus: tokens: tokens " + dir + " is writable by group or others"));
  REQUIRE(::chmod(dir.c_str(), 0700) == 0);
  CHECK(RunAplus({"tokens", "list", "--dir", dir}).exit_code == 0);
}
