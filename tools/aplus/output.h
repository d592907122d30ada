// Presentation helpers of the `aplus` command line: local time, table layout, JSON.
// Thread rules: call InitDisplayTimeZone() once at start-up, before any other thread exists
// (it sets the process-wide TZ); everything else is a pure function.
#pragma once

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aplus.pb.h"
#include "common/status.h"

namespace aplus::cli {

// Times are shown in the time zone of the French public service, whatever the machine's.
inline constexpr const char* kDisplayTimeZone = "Europe/Paris";

// Makes localtime_r() convert to kDisplayTimeZone (falls back to the equivalent POSIX rule
// when the TZ database is not installed).
void InitDisplayTimeZone();

// Unix milliseconds UTC as local "YYYY-MM-DD HH:MM" / "YYYY-MM-DD HH:MM:SS"; "-" for 0.
std::string FormatMinute(int64_t unix_ms);
std::string FormatSecond(int64_t unix_ms);

// "SUBMITTED", or "-" when unspecified.
std::string StateName(wire::CaseState state);

// Control characters (newlines, tabs) replaced by spaces: one record stays on one line.
std::string OneLine(std::string_view text);

// Columns on a terminal: UTF-8 code points, so "Allocation réduite" is 18 wide, not 19.
size_t DisplayWidth(std::string_view utf8);

// `text` on one line, cut to at most `max_width` columns ("..." marks the cut) without ever
// splitting a UTF-8 sequence.
std::string Truncate(std::string_view text, size_t max_width);

// Columns separated by two spaces, header first; `right_aligned[i]` right-aligns column i
// (numbers). Every line starts with `indent` and ends with '\n'.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows,
                        const std::vector<bool>& right_aligned = {}, std::string_view indent = "");

// Protobuf's JSON mapping of `message` on one line (camelCase names, defaults included).
std::string MessageJson(const google::protobuf::Message& message);

// {"error":{"code":"UNKNOWN_CASE","message":"..."}}
std::string ErrorJson(const Status& status);

// `value` on one line; text that is not valid UTF-8 (keyring and token files are read from
// disk) is replaced, never an exception.
std::string DumpJson(const nlohmann::json& value);

}  // namespace aplus::cli
