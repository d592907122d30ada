// `aplus tokens add|remove|list`: the API tokens of the gateways' HTTP front doors
// (common/token_store.h). Local file work only: no broker or gateway needed.
//
// JSON (--json), keys in snake_case:
//   tokens add     {"name", "token", "agents", "created_at", "file"}
//   tokens list    an array of {"name", "agents", "created_at"} (never the hashes)
//   tokens remove  {"removed": NAME, "file": PATH}
// "agents" is an array, empty when the token may act for every agent; "created_at" is UTC,
// "YYYY-MM-DDTHH:MM:SSZ". Failures: {"error": {...}} on stdout under --json, else one line on
// stderr (ReportFailure).
#pragma once

#include <string>
#include <vector>

#include "common/token_store.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

// Adds a token named `name` (restricted to `agents` when not empty) and prints it: the only
// time it is shown. Exit 1 when the name or an agent is not valid, the name is taken or the
// directory cannot be written.
int RunTokensAdd(const GlobalOptions& options, const std::string& token_dir,
                 const std::string& name, const std::vector<std::string>& agents);

// Removes the token `name`; exit 1 when there is none.
int RunTokensRemove(const GlobalOptions& options, const std::string& token_dir,
                    const std::string& name);

// Prints the tokens (a table, or a JSON array); each problem of the load goes to stderr as
// "aplus: tokens: <problem>", and any problem makes the exit code 1.
int RunTokensList(const GlobalOptions& options, const std::string& token_dir);

// NAME, AGENTS ("all" when unrestricted, else comma-separated), CREATED (local time).
std::string RenderTokenTable(const std::vector<TokenEntry>& entries);

}  // namespace aplus::cli
