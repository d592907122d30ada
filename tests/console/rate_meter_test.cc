#include "console/rate_meter.h"

#include <doctest/doctest.h>

using namespace aplus;

TEST_CASE("rates come from two readings at least a second apart; a restart gives none") {
  RateMeter meter;
  auto first = meter.Record(0, {{"submitted", 100}});
  CHECK_FALSE(first["submitted"].has_value());
  // Too close: still no interval.
  CHECK_FALSE(meter.Record(500, {{"submitted", 150}})["submitted"].has_value());
  auto second = meter.Record(2000, {{"submitted", 300}});
  REQUIRE(second["submitted"].has_value());
  CHECK(*second["submitted"] == doctest::Approx(100.0));
  // The broker restarted: its total went down; that interval has no rate.
  CHECK_FALSE(meter.Record(3000, {{"submitted", 5}})["submitted"].has_value());
  auto fourth = meter.Record(5000, {{"submitted", 25}});
  REQUIRE(fourth["submitted"].has_value());
  CHECK(*fourth["submitted"] == doctest::Approx(10.0));
}
