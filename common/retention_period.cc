#include "common/retention_period.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace aplus {
namespace {

using Unit = RetentionPeriod::Unit;

struct PeriodUnitSpelling {
  std::string_view name;  // lowercase ASCII, accents removed
  Unit unit;
};

constexpr std::array<PeriodUnitSpelling, 17> kPeriodUnitSpellings = {{
    {"months", Unit::kMonths},
    {"month", Unit::kMonths},
    {"mois", Unit::kMonths},
    {"days", Unit::kDays},
    {"day", Unit::kDays},
    {"jours", Unit::kDays},
    {"jour", Unit::kDays},
    {"hours", Unit::kHours},
    {"hour", Unit::kHours},
    {"heures", Unit::kHours},
    {"heure", Unit::kHours},
    {"minutes", Unit::kMinutes},
    {"minute", Unit::kMinutes},
    {"seconds", Unit::kSeconds},
    {"second", Unit::kSeconds},
    {"secondes", Unit::kSeconds},
    {"seconde", Unit::kSeconds},
}};

// At most 100 years in every unit, so that adding a period never overflows.
int64_t MaxCount(Unit unit) {
  switch (unit) {
    case Unit::kMonths: return 100 * 12;
    case Unit::kDays: return 100 * 366;
    case Unit::kHours: return 100 * 366 * 24;
    case Unit::kMinutes: return int64_t{100} * 366 * 24 * 60;
    case Unit::kSeconds: return int64_t{100} * 366 * 24 * 3600;
  }
  return 0;
}

std::string_view UnitName(Unit unit) {
  switch (unit) {
    case Unit::kMonths: return "months";
    case Unit::kDays: return "days";
    case Unit::kHours: return "hours";
    case Unit::kMinutes: return "minutes";
    case Unit::kSeconds: return "seconds";
  }
  return "?";
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

}  // namespace

Result<RetentionPeriod> ParseRetentionPeriod(std::string_view text) {
  auto invalid = [&](const std::string& why) {
    return Status(wire::INVALID_ARGUMENT,
                  "'" + std::string(text.substr(0, 64)) + "' is not a period: " + why +
                      " (expected \"<N> months|days|hours|minutes|seconds\", e.g. \"12 months\")");
  };
  std::string_view rest = text;
  while (!rest.empty() && IsSpace(rest.front())) rest.remove_prefix(1);
  while (!rest.empty() && IsSpace(rest.back())) rest.remove_suffix(1);
  int64_t count = 0;
  auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), count);
  if (error != std::errc() || end == rest.data()) return invalid("no whole number first");
  rest.remove_prefix(static_cast<size_t>(end - rest.data()));
  if (rest.empty() || !IsSpace(rest.front())) return invalid("no unit after the number");
  while (!rest.empty() && IsSpace(rest.front())) rest.remove_prefix(1);
  std::string unit_name;
  for (size_t i = 0; i < rest.size(); ++i) {
    // "é" of "secondes"/"heures" is not in these names, but accept a typed accent anyway.
    if (rest[i] == '\xC3' && i + 1 < rest.size() && rest[i + 1] == '\xA9') {
      unit_name += 'e';
      ++i;
    } else {
      unit_name += static_cast<char>(std::tolower(static_cast<unsigned char>(rest[i])));
    }
  }
  for (const auto& spelling : kPeriodUnitSpellings) {
    if (spelling.name != unit_name) continue;
    if (count < 1) return invalid("the number must be at least 1");
    if (count > MaxCount(spelling.unit)) return invalid("longer than 100 years");
    return RetentionPeriod{count, spelling.unit};
  }
  return invalid("unknown unit '" + unit_name.substr(0, 32) + "'");
}

std::string FormatRetentionPeriod(const RetentionPeriod& period) {
  return std::to_string(period.count) + " " + std::string(UnitName(period.unit));
}

int64_t AddRetentionPeriod(int64_t from_ms, const RetentionPeriod& period,
                           const sla::TimeZone& zone) {
  if (auto fixed = FixedDurationMs(period); fixed && period.unit != Unit::kDays) {
    return from_ms + *fixed;
  }
  const sla::LocalTime local = zone.ToLocal(from_ms);
  const int64_t ms_of_day = local.hour * sla::kMsPerHour + local.minute * sla::kMsPerMinute +
                            local.second * sla::kMsPerSecond + local.millisecond;
  sla::Date date = local.date;
  if (period.unit == Unit::kDays) {
    date = sla::AddDays(date, period.count);
  } else {
    int64_t months = int64_t{date.year} * 12 + (date.month - 1) + period.count;
    date.year = static_cast<int32_t>(sla::FloorDiv(months, 12));
    date.month = static_cast<int32_t>(months - int64_t{date.year} * 12) + 1;
    date.day = std::min(date.day, sla::DaysInMonth(date.year, date.month));
  }
  return zone.LocalToUtcMs(date, ms_of_day);
}

std::optional<int64_t> FixedDurationMs(const RetentionPeriod& period) {
  switch (period.unit) {
    case Unit::kMonths: return std::nullopt;
    case Unit::kDays: return period.count * sla::kMsPerDay;
    case Unit::kHours: return period.count * sla::kMsPerHour;
    case Unit::kMinutes: return period.count * sla::kMsPerMinute;
    case Unit::kSeconds: return period.count * sla::kMsPerSecond;
  }
  return std::nullopt;
}

int64_t RetentionSweepIntervalMs(const RetentionPeriod& period) {
  constexpr int64_t kMinuteMs = 60 * 1000;
  // A check costs one seek in an index of due erasures; the period bounds how late one may be.
  return std::clamp<int64_t>(FixedDurationMs(period).value_or(kMinuteMs), 1000, kMinuteMs);
}

}  // namespace aplus
