#include "common/retention_period.h"

#include <doctest/doctest.h>

#include "common/network_config.h"

using namespace aplus;
using Unit = RetentionPeriod::Unit;

namespace {

// Unix ms of a local Paris wall-clock instant.
int64_t Paris(int year, int month, int day, int hour, int minute) {
  return sla::TimeZone::Paris().LocalToUtcMs(sla::Date{year, month, day},
                                             hour * sla::kMsPerHour + minute * sla::kMsPerMinute);
}

}  // namespace

TEST_CASE("periods are read in English or French, singular or plural") {
  CHECK(*ParseRetentionPeriod("12 months") == RetentionPeriod{12, Unit::kMonths});
  CHECK(*ParseRetentionPeriod("1 month") == RetentionPeriod{1, Unit::kMonths});
  CHECK(*ParseRetentionPeriod("6 mois") == RetentionPeriod{6, Unit::kMonths});
  CHECK(*ParseRetentionPeriod("30 days") == RetentionPeriod{30, Unit::kDays});
  CHECK(*ParseRetentionPeriod("  2 Jours ") == RetentionPeriod{2, Unit::kDays});
  CHECK(*ParseRetentionPeriod("1 hours") == RetentionPeriod{1, Unit::kHours});
  CHECK(*ParseRetentionPeriod("3 heures") == RetentionPeriod{3, Unit::kHours});
  CHECK(*ParseRetentionPeriod("15 minutes") == RetentionPeriod{15, Unit::kMinutes});
  CHECK(*ParseRetentionPeriod("2 seconds") == RetentionPeriod{2, Unit::kSeconds});
  CHECK(*ParseRetentionPeriod("2 secondes") == RetentionPeriod{2, Unit::kSeconds});
  CHECK(FormatRetentionPeriod(*ParseRetentionPeriod("1 month")) == "1 months");
  CHECK(*ParseRetentionPeriod(FormatRetentionPeriod({12, Unit::kMonths})) ==
        RetentionPeriod{12, Unit::kMonths});
}

TEST_CASE("malformed periods are refused with the accepted form") {
  for (const char* text : {"", "months", "12", "12months", "0 months", "-1 days", "1.5 hours",
                           "12 fortnights", "1201 months", "99999999999999999999 seconds"}) {
    auto parsed = ParseRetentionPeriod(text);
    REQUIRE_MESSAGE(!parsed.ok(), text);
    CHECK(parsed.status().code() == wire::INVALID_ARGUMENT);
    CHECK(parsed.status().message().find("months|days|hours|minutes|seconds") != std::string::npos);
  }
}

TEST_CASE("months are calendar months in Paris, the day clamped to the month's end") {
  auto paris = sla::TimeZone::Paris();
  RetentionPeriod twelve{12, Unit::kMonths};
  CHECK(AddRetentionPeriod(Paris(2026, 5, 14, 10, 30), twelve, paris) == Paris(2027, 5, 14, 10, 30));
  // Winter to summer time: the same wall-clock time, not the same number of hours.
  RetentionPeriod one{1, Unit::kMonths};
  CHECK(AddRetentionPeriod(Paris(2026, 3, 14, 9, 0), one, paris) == Paris(2026, 4, 14, 9, 0));
  CHECK(AddRetentionPeriod(Paris(2026, 3, 31, 9, 0), one, paris) == Paris(2026, 4, 30, 9, 0));
  CHECK(AddRetentionPeriod(Paris(2027, 1, 31, 9, 0), one, paris) == Paris(2027, 2, 28, 9, 0));
  CHECK(AddRetentionPeriod(Paris(2028, 1, 31, 9, 0), one, paris) == Paris(2028, 2, 29, 9, 0));
  CHECK(AddRetentionPeriod(Paris(2026, 12, 15, 23, 59), one, paris) == Paris(2027, 1, 15, 23, 59));
  // A time just after local midnight keeps its local date.
  CHECK(AddRetentionPeriod(Paris(2026, 10, 31, 0, 30), one, paris) == Paris(2026, 11, 30, 0, 30));
  CHECK(AddRetentionPeriod(Paris(2026, 3, 28, 12, 0), RetentionPeriod{1, Unit::kDays}, paris) ==
        Paris(2026, 3, 29, 12, 0));
  int64_t at = Paris(2026, 3, 28, 12, 0);
  CHECK(AddRetentionPeriod(at, RetentionPeriod{2, Unit::kSeconds}, paris) == at + 2000);
  CHECK(AddRetentionPeriod(at, RetentionPeriod{3, Unit::kHours}, paris) == at + 3 * sla::kMsPerHour);
  CHECK(FixedDurationMs({12, Unit::kMonths}) == std::nullopt);
  CHECK(FixedDurationMs({1, Unit::kHours}) == sla::kMsPerHour);
  CHECK(FixedDurationMs({2, Unit::kDays}) == 2 * sla::kMsPerDay);
}

TEST_CASE("[retention] in the network config: defaults, values and errors") {
  constexpr std::string_view kBase = R"(name = "small"
[[territories]]
id = "north"
case_prefix = "NOR"
)";
  auto defaults = ParseNetworkConfig(kBase, "test.toml");
  REQUIRE(defaults.ok());
  CHECK(defaults->retention.personal_data_after == RetentionPeriod{12, Unit::kMonths});
  CHECK(defaults->retention.compaction_interval == RetentionPeriod{1, Unit::kHours});
  // The built-in network and deploy/perche.toml say the same.
  CHECK(DefaultNetworkConfig().retention.personal_data_after == RetentionPeriod{12, Unit::kMonths});
  CHECK(DefaultNetworkConfig().retention.compaction_interval == RetentionPeriod{1, Unit::kHours});

  auto set = ParseNetworkConfig(std::string(kBase) + R"([retention]
personal_data_after = "2 seconds"
compaction_interval = "1 seconds"
)",
                                "test.toml");
  REQUIRE_MESSAGE(set.ok(), set.status().ToString());
  CHECK(set->retention.personal_data_after == RetentionPeriod{2, Unit::kSeconds});
  CHECK(set->retention.compaction_interval == RetentionPeriod{1, Unit::kSeconds});

  auto months = ParseNetworkConfig(std::string(kBase) + "[retention]\ncompaction_interval = \"1 months\"\n",
                                   "test.toml");
  REQUIRE_FALSE(months.ok());
  CHECK(months.status().message().find("test.toml:6:") == 0);
  CHECK(months.status().message().find("not months") != std::string::npos);
  auto bad = ParseNetworkConfig(std::string(kBase) + "[retention]\npersonal_data_after = \"soon\"\n",
                                "test.toml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("personal_data_after") != std::string::npos);
  auto number = ParseNetworkConfig(std::string(kBase) + "[retention]\npersonal_data_after = 12\n",
                                   "test.toml");
  REQUIRE_FALSE(number.ok());
}
