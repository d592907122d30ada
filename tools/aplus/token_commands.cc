#include "tools/aplus/token_commands.h"

#include <time.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

std::string UtcText(int64_t ms) {
  time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm parts {};
  ::gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string AgentsText(const std::vector<std::string>& agents) {
  if (agents.empty()) return "all";
  std::string text;
  for (const auto& agent : agents) text += (text.empty() ? "" : ",") + agent;
  return text;
}

}  // namespace

std::string RenderTokenTable(const std::vector<TokenEntry>& entries) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : entries) {
    rows.push_back({entry.name, AgentsText(entry.agents), FormatSecond(entry.created_ms)});
  }
  return RenderTable({"NAME", "AGENTS", "CREATED"}, rows);
}

int RunTokensAdd(const GlobalOptions& options, const std::string& token_dir,
                 const std::string& name, const std::vector<std::string>& agents) {
  int64_t now_ms = SystemClock().NowMs();
  auto token = AddToken(token_dir, name, agents, now_ms);
  if (!token.ok()) return ReportFailure(options, token.status());
  std::string file = TokenEntryPath(token_dir, name);
  if (options.json) {
    std::cout << DumpJson({{"name", name},
                           {"token", *token},
                           {"agents", agents},
                           {"created_at", UtcText(now_ms)},
                           {"file", file}})
              << std::endl;
  } else {
    std::cout << "token:  " << *token << "\n"
              << "name:   " << name << " (agents: " << AgentsText(agents) << ")\n"
              << "file:   " << file
              << " (only the token's SHA-256: this is the one time the token is shown)\n"
              << std::flush;
  }
  return kExitOk;
}

int RunTokensRemove(const GlobalOptions& options, const std::string& token_dir,
                    const std::string& name) {
  Status removed = RemoveToken(token_dir, name);
  if (!removed.ok()) return ReportFailure(options, removed);
  std::string file = TokenEntryPath(token_dir, name);
  if (options.json) {
    std::cout << DumpJson({{"removed", name}, {"file", file}}) << std::endl;
  } else {
    std::cout << "removed token " << name << " (" << file << ")\n" << std::flush;
  }
  return kExitOk;
}

int RunTokensList(const GlobalOptions& options, const std::string& token_dir) {
  TokenLoad load = LoadTokenDirectory(token_dir);
  if (options.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& entry : load.entries) {
      array.push_back({{"name", entry.name},
                       {"agents", entry.agents},
                       {"created_at", UtcText(entry.created_ms)}});
    }
    std::cout << DumpJson(array) << std::endl;
  } else if (load.entries.empty()) {
    std::cout << "no tokens in " << token_dir << "\n" << std::flush;
  } else {
    std::cout << RenderTokenTable(load.entries) << std::flush;
  }
  // The gateways skip these files too: whoever lists the tokens must see why.
  for (const auto& problem : load.problems) {
    std::cerr << "aplus: tokens: " << OneLine(problem) << std::endl;
  }
  return load.problems.empty() ? kExitOk : kExitErrorAnswer;
}

}  // namespace aplus::cli
