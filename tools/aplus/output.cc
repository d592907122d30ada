#include "tools/aplus/output.h"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

namespace aplus::cli {
namespace {

// Europe/Paris as a POSIX rule (CET/CEST, EU switching dates), for machines without tzdata.
constexpr const char* kDisplayTimeZoneRule = "CET-1CEST,M3.5.0,M10.5.0/3";

bool IsContinuationByte(unsigned char c) { return (c & 0xC0) == 0x80; }

std::string FormatLocal(int64_t unix_ms, const char* format) {
  if (unix_ms <= 0) return "-";
  time_t seconds = static_cast<time_t>(unix_ms / 1000);
  struct tm local {};
  if (localtime_r(&seconds, &local) == nullptr) return "-";
  char text[64];
  size_t length = strftime(text, sizeof(text), format, &local);
  return std::string(text, length);
}

}  // namespace

void InitDisplayTimeZone() {
  const char* tz_dir = std::getenv("TZDIR");
  std::string zone_file =
      std::string(tz_dir ? tz_dir : "/usr/share/zoneinfo") + "/" + kDisplayTimeZone;
  struct stat info {};
  bool have_database = ::stat(zone_file.c_str(), &info) == 0;
  // A wrong TZ would silently show UTC; the rule keeps the display right without tzdata.
  setenv("TZ", have_database ? kDisplayTimeZone : kDisplayTimeZoneRule, 1);
  tzset();
}

std::string FormatMinute(int64_t unix_ms) { return FormatLocal(unix_ms, "%Y-%m-%d %H:%M"); }

std::string FormatSecond(int64_t unix_ms) { return FormatLocal(unix_ms, "%Y-%m-%d %H:%M:%S"); }

std::string StateName(wire::CaseState state) {
  if (state == wire::STATE_UNSPECIFIED) return "-";
  const std::string& name = wire::CaseState_Name(state);
  return name.empty() ? std::to_string(static_cast<int>(state)) : name;
}

std::string OneLine(std::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  return line;
}

size_t DisplayWidth(std::string_view utf8) {
  size_t width = 0;
  for (char c : utf8) {
    if (!IsContinuationByte(static_cast<unsigned char>(c))) ++width;
  }
  return width;
}

std::string Truncate(std::string_view text, size_t max_width) {
  std::string line = OneLine(text);
  if (DisplayWidth(line) <= max_width) return line;
  constexpr std::string_view kEllipsis = "...";
  size_t keep = max_width > kEllipsis.size() ? max_width - kEllipsis.size() : 0;
  size_t width = 0;
  size_t end = 0;
  while (end < line.size()) {
    if (!IsContinuationByte(static_cast<unsigned char>(line[end]))) {
      if (width == keep) break;
      ++width;
    }
    ++end;
  }
  return line.substr(0, end) + std::string(kEllipsis.substr(0, max_width - keep));
}

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows,
                        const std::vector<bool>& right_aligned, std::string_view indent) {
  std::vector<size_t> widths(header.size(), 0);
  auto measure = [&widths](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);

  std::string out;
  auto append = [&](const std::vector<std::string>& row) {
    std::string line(indent);
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < row.size() ? OneLine(row[i]) : "";
      size_t pad = widths[i] - std::min(widths[i], DisplayWidth(cell));
      bool right = i < right_aligned.size() && right_aligned[i];
      bool last = i + 1 == widths.size();
      if (i > 0) line += "  ";
      if (right) line.append(pad, ' ');
      line += cell;
      if (!right && !last) line.append(pad, ' ');
    }
    out += line;
    out += '\n';
  };
  append(header);
  for (const auto& row : rows) append(row);
  return out;
}

std::string MessageJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    // Only a broken descriptor gets here; still answer with one well-formed object.
    return ErrorJson(Status(wire::INTERNAL,
                            "cannot convert the answer to JSON: " + std::string(status.message())));
  }
  return json;
}

std::string ErrorJson(const Status& status) {
  nlohmann::json error = {{"code", wire::ErrorCode_Name(status.code())},
                          {"message", status.message()}};
  // Messages come from the network: never let invalid UTF-8 abort the dump.
  return nlohmann::json{{"error", error}}.dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace aplus::cli
