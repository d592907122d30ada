#include "sla/reply_policy.h"

#include <doctest/doctest.h>

#include <string>

namespace aplus::sla {
namespace {

ReplyPolicy Parse(std::string_view text) {
  Result<ReplyPolicy> policy = ParseReplyPolicy(text);
  REQUIRE_MESSAGE(policy.ok(), text << ": " << policy.status().ToString());
  return *policy;
}

TEST_CASE("the default policy is 4 jours ouvrés") {
  const ReplyPolicy policy = DefaultReplyPolicy();
  CHECK(policy.window == 4);
  CHECK(policy.unit == ReplyUnit::kWorkingDays);
  CHECK(FormatReplyPolicy(policy) == "4 jours-ouvres");
  CHECK(DescribeReplyPolicy(policy) == "4 jours ouvrés");
}

TEST_CASE("config names and English aliases") {
  CHECK(Parse("4 jours-ouvres") == ReplyPolicy{4, ReplyUnit::kWorkingDays});
  CHECK(Parse("4 working-days") == ReplyPolicy{4, ReplyUnit::kWorkingDays});
  CHECK(Parse("10 jours-calendaires") == ReplyPolicy{10, ReplyUnit::kCalendarDays});
  CHECK(Parse("10 calendar-days") == ReplyPolicy{10, ReplyUnit::kCalendarDays});
  CHECK(Parse("5 jours-ouvrables") == ReplyPolicy{5, ReplyUnit::kWorkingDaysWithSaturday});
  CHECK(Parse("5 working-days-with-saturday") ==
        ReplyPolicy{5, ReplyUnit::kWorkingDaysWithSaturday});
  CHECK(Parse("48 heures") == ReplyPolicy{48, ReplyUnit::kHours});
  CHECK(Parse("48 hours") == ReplyPolicy{48, ReplyUnit::kHours});
  CHECK(Parse("30 minutes") == ReplyPolicy{30, ReplyUnit::kMinutes});
  CHECK(Parse("90 secondes") == ReplyPolicy{90, ReplyUnit::kSeconds});
  CHECK(Parse("90 seconds") == ReplyPolicy{90, ReplyUnit::kSeconds});
}

TEST_CASE("forgiving spellings") {
  CHECK(Parse("4 jours ouvrés") == ReplyPolicy{4, ReplyUnit::kWorkingDays});
  CHECK(Parse("  4   Jours-Ouvrés  ") == ReplyPolicy{4, ReplyUnit::kWorkingDays});
  CHECK(Parse("4 JOURS_OUVRES") == ReplyPolicy{4, ReplyUnit::kWorkingDays});
  CHECK(Parse("4jours-ouvres") == ReplyPolicy{4, ReplyUnit::kWorkingDays});
  CHECK(Parse("1 jour ouvré") == ReplyPolicy{1, ReplyUnit::kWorkingDays});
  CHECK(Parse("1 jour-calendaire") == ReplyPolicy{1, ReplyUnit::kCalendarDays});
  CHECK(Parse("1 heure") == ReplyPolicy{1, ReplyUnit::kHours});
  CHECK(Parse("2 jours ouvrables") == ReplyPolicy{2, ReplyUnit::kWorkingDaysWithSaturday});
}

TEST_CASE("MakeReplyPolicy from two config values") {
  Result<ReplyPolicy> policy = MakeReplyPolicy(4, "jours-ouvrables");
  REQUIRE(policy.ok());
  CHECK(*policy == ReplyPolicy{4, ReplyUnit::kWorkingDaysWithSaturday});
  CHECK_FALSE(MakeReplyPolicy(0, "jours-ouvres").ok());
  CHECK_FALSE(MakeReplyPolicy(-3, "jours-ouvres").ok());
  CHECK_FALSE(MakeReplyPolicy(4, "weeks").ok());
}

TEST_CASE("bounds: at least 1, at most 366 days") {
  CHECK(ParseReplyPolicy("366 jours-calendaires").ok());
  CHECK_FALSE(ParseReplyPolicy("367 jours-calendaires").ok());
  CHECK(ParseReplyPolicy("366 jours-ouvres").ok());
  CHECK_FALSE(ParseReplyPolicy("367 jours-ouvres").ok());
  CHECK(ParseReplyPolicy("8784 heures").ok());
  CHECK_FALSE(ParseReplyPolicy("8785 heures").ok());
  CHECK(ParseReplyPolicy("31622400 secondes").ok());
  CHECK_FALSE(ParseReplyPolicy("31622401 secondes").ok());
  CHECK_FALSE(ParseReplyPolicy("0 heures").ok());
  CHECK_FALSE(ParseReplyPolicy("99999999999999999999 secondes").ok());
}

TEST_CASE("malformed policies are INVALID_ARGUMENT with a clear message") {
  for (const char* bad : {"", "   ", "jours-ouvres", "4", "4 ", "-4 jours-ouvres",
                          "4.5 jours-ouvres", "quatre jours-ouvres", "4 semaines", "4 jours",
                          "4 jours-ouvres extra", "4 business-days"}) {
    Result<ReplyPolicy> policy = ParseReplyPolicy(bad);
    CHECK_MESSAGE(!policy.ok(), "\"" << bad << "\"");
    if (!policy.ok()) CHECK(policy.status().code() == wire::INVALID_ARGUMENT);
  }
  Result<ReplyPolicy> unknown = ParseReplyPolicy("4 semaines");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("semaines") != std::string::npos);
  CHECK(unknown.status().message().find("jours-ouvres") != std::string::npos);
}

TEST_CASE("FormatReplyPolicy round-trips through ParseReplyPolicy") {
  for (ReplyUnit unit :
       {ReplyUnit::kCalendarDays, ReplyUnit::kWorkingDays, ReplyUnit::kWorkingDaysWithSaturday,
        ReplyUnit::kHours, ReplyUnit::kMinutes, ReplyUnit::kSeconds}) {
    for (int64_t window : {1, 4, 30}) {
      const ReplyPolicy policy{window, unit};
      CHECK(Parse(FormatReplyPolicy(policy)) == policy);
    }
  }
  CHECK(DescribeReplyPolicy({1, ReplyUnit::kWorkingDays}) == "1 jour ouvré");
  CHECK(DescribeReplyPolicy({2, ReplyUnit::kWorkingDaysWithSaturday}) == "2 jours ouvrables");
  CHECK(DescribeReplyPolicy({10, ReplyUnit::kCalendarDays}) == "10 jours calendaires");
  CHECK(DescribeReplyPolicy({90, ReplyUnit::kSeconds}) == "90 secondes");
}

TEST_CASE("unit helpers") {
  CHECK(CountsDays(ReplyUnit::kCalendarDays));
  CHECK(CountsDays(ReplyUnit::kWorkingDays));
  CHECK(CountsDays(ReplyUnit::kWorkingDaysWithSaturday));
  CHECK_FALSE(CountsDays(ReplyUnit::kHours));
  CHECK(UnitDurationMs(ReplyUnit::kHours) == 3'600'000);
  CHECK(UnitDurationMs(ReplyUnit::kMinutes) == 60'000);
  CHECK(UnitDurationMs(ReplyUnit::kSeconds) == 1'000);
  CHECK(UnitDurationMs(ReplyUnit::kWorkingDays) == 0);
}

}  // namespace
}  // namespace aplus::sla
