#include "sla/reply_policy.h"

#include <array>

#include "common/text.h"
#include "sla/civil_time.h"

namespace aplus::sla {
namespace {

struct ReplyUnitSpelling {
  std::string_view name;  // normalized: lowercase ASCII, '-' separators, no accents
  ReplyUnit unit;
};

constexpr std::array<ReplyUnitSpelling, 24> kReplyUnitSpellings = {{
    {"jours-calendaires", ReplyUnit::kCalendarDays},
    {"jour-calendaire", ReplyUnit::kCalendarDays},
    {"calendar-days", ReplyUnit::kCalendarDays},
    {"calendar-day", ReplyUnit::kCalendarDays},
    {"jours-ouvres", ReplyUnit::kWorkingDays},
    {"jour-ouvre", ReplyUnit::kWorkingDays},
    {"working-days", ReplyUnit::kWorkingDays},
    {"working-day", ReplyUnit::kWorkingDays},
    {"jours-ouvrables", ReplyUnit::kWorkingDaysWithSaturday},
    {"jour-ouvrable", ReplyUnit::kWorkingDaysWithSaturday},
    {"working-days-with-saturday", ReplyUnit::kWorkingDaysWithSaturday},
    {"working-day-with-saturday", ReplyUnit::kWorkingDaysWithSaturday},
    {"heures", ReplyUnit::kHours},
    {"heure", ReplyUnit::kHours},
    {"hours", ReplyUnit::kHours},
    {"hour", ReplyUnit::kHours},
    {"minutes", ReplyUnit::kMinutes},
    {"minute", ReplyUnit::kMinutes},
    {"secondes", ReplyUnit::kSeconds},
    {"seconde", ReplyUnit::kSeconds},
    {"seconds", ReplyUnit::kSeconds},
    {"second", ReplyUnit::kSeconds},
    // Frequent typing without the final "s" of the French plural on one word only.
    {"jours-ouvre", ReplyUnit::kWorkingDays},
    {"jours-ouvrable", ReplyUnit::kWorkingDaysWithSaturday},
}};

// Lowercase ASCII, "é"/"É" -> 'e', runs of spaces and '_' -> one '-'.
std::string Normalize(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\xC3' && i + 1 < text.size() && (text[i + 1] == '\xA9' || text[i + 1] == '\x89')) {
      out += 'e';
      ++i;
    } else if (IsBlank(c) || c == '_' || c == '-') {
      if (!out.empty() && out.back() != '-') out += '-';
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

const char kKnownUnits[] =
    "jours-calendaires, jours-ouvres, jours-ouvrables, heures, minutes, secondes "
    "(or calendar-days, working-days, working-days-with-saturday, hours, minutes, seconds)";

}  // namespace

bool CountsDays(ReplyUnit unit) {
  return unit == ReplyUnit::kCalendarDays || unit == ReplyUnit::kWorkingDays ||
         unit == ReplyUnit::kWorkingDaysWithSaturday;
}

int64_t UnitDurationMs(ReplyUnit unit) {
  switch (unit) {
    case ReplyUnit::kHours:
      return kMsPerHour;
    case ReplyUnit::kMinutes:
      return kMsPerMinute;
    case ReplyUnit::kSeconds:
      return kMsPerSecond;
    default:
      return 0;
  }
}

std::string_view ReplyUnitConfigName(ReplyUnit unit) {
  switch (unit) {
    case ReplyUnit::kCalendarDays:
      return "jours-calendaires";
    case ReplyUnit::kWorkingDays:
      return "jours-ouvres";
    case ReplyUnit::kWorkingDaysWithSaturday:
      return "jours-ouvrables";
    case ReplyUnit::kHours:
      return "heures";
    case ReplyUnit::kMinutes:
      return "minutes";
    case ReplyUnit::kSeconds:
      return "secondes";
  }
  return "?";
}

std::string_view ReplyUnitLabel(ReplyUnit unit, bool plural) {
  switch (unit) {
    case ReplyUnit::kCalendarDays:
      return plural ? "jours calendaires" : "jour calendaire";
    case ReplyUnit::kWorkingDays:
      return plural ? "jours ouvrés" : "jour ouvré";
    case ReplyUnit::kWorkingDaysWithSaturday:
      return plural ? "jours ouvrables" : "jour ouvrable";
    case ReplyUnit::kHours:
      return plural ? "heures" : "heure";
    case ReplyUnit::kMinutes:
      return plural ? "minutes" : "minute";
    case ReplyUnit::kSeconds:
      return plural ? "secondes" : "seconde";
  }
  return "?";
}

Result<ReplyUnit> ParseReplyUnit(std::string_view name) {
  const std::string normalized = Normalize(TrimBlanks(name));
  for (const ReplyUnitSpelling& spelling : kReplyUnitSpellings) {
    if (spelling.name == normalized) return spelling.unit;
  }
  return Status(wire::INVALID_ARGUMENT, "unknown reply window unit \"" + std::string(name) +
                                            "\": expected one of " + kKnownUnits);
}

Status ValidateReplyPolicy(const ReplyPolicy& policy) {
  if (policy.window < 1) {
    return Status(wire::INVALID_ARGUMENT, "reply window must be at least 1 " +
                                              std::string(ReplyUnitLabel(policy.unit, false)) +
                                              ", got " + std::to_string(policy.window));
  }
  const int64_t max_window = CountsDays(policy.unit)
                                 ? kMaxReplyWindowDays
                                 : kMaxReplyWindowDays * kMsPerDay / UnitDurationMs(policy.unit);
  if (policy.window > max_window) {
    return Status(wire::INVALID_ARGUMENT, "reply window of " + std::to_string(policy.window) + " " +
                                              std::string(ReplyUnitLabel(policy.unit, true)) +
                                              " is too long: at most " +
                                              std::to_string(max_window) + " (366 days)");
  }
  return Status::Ok();
}

Result<ReplyPolicy> MakeReplyPolicy(int64_t window, std::string_view unit) {
  Result<ReplyUnit> parsed = ParseReplyUnit(unit);
  if (!parsed.ok()) return parsed.status();
  ReplyPolicy policy{window, *parsed};
  Status valid = ValidateReplyPolicy(policy);
  if (!valid.ok()) return valid;
  return policy;
}

Result<ReplyPolicy> ParseReplyPolicy(std::string_view text) {
  const std::string_view trimmed = TrimBlanks(text);
  size_t digits = 0;
  while (digits < trimmed.size() && trimmed[digits] >= '0' && trimmed[digits] <= '9') ++digits;
  if (digits == 0) {
    return Status(wire::INVALID_ARGUMENT,
                  "invalid reply policy \"" + std::string(text) +
                      "\": expected a whole number then a unit, e.g. \"4 jours-ouvres\"");
  }
  // Nine digits already exceed every bound; refusing longer numbers also avoids overflow.
  if (digits > 9) {
    return Status(wire::INVALID_ARGUMENT,
                  "invalid reply policy \"" + std::string(text) + "\": window too large");
  }
  int64_t window = 0;
  for (size_t i = 0; i < digits; ++i) window = window * 10 + (trimmed[i] - '0');
  const std::string_view unit = TrimBlanks(trimmed.substr(digits));
  if (unit.empty()) {
    return Status(wire::INVALID_ARGUMENT, "invalid reply policy \"" + std::string(text) +
                                              "\": missing unit, expected one of " + kKnownUnits);
  }
  return MakeReplyPolicy(window, unit);
}

std::string FormatReplyPolicy(const ReplyPolicy& policy) {
  return std::to_string(policy.window) + " " + std::string(ReplyUnitConfigName(policy.unit));
}

std::string DescribeReplyPolicy(const ReplyPolicy& policy) {
  return std::to_string(policy.window) + " " +
         std::string(ReplyUnitLabel(policy.unit, policy.window > 1));
}

}  // namespace aplus::sla
