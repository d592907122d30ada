// Small text helpers that parsers of configuration, headers and command lines share.
#pragma once

#include <string>
#include <string_view>

namespace aplus {

// ASCII blanks: space, tab, carriage return, line feed.
inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// ASCII letters, digits, '.', '_', '-': the characters of ids (common/network_config.h) and of
// entry names (common/entry_directory.h), none of which needs quoting in a file name, a TOML
// basic string or on a command line.
inline bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// `text` without the blanks at either end.
inline std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

// 'text', cut to its first 64 characters: a value echoed in an error message stays short
// whatever was given.
inline std::string QuotedExcerpt(std::string_view text) {
  return "'" + std::string(text.substr(0, 64)) + "'";
}

}  // namespace aplus
