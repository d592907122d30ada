// common/fail_stop.h: the first failed durable write is kept and halts once; later ones change
// nothing.
#include "common/fail_stop.h"

#include <doctest/doctest.h>

using namespace aplus;

TEST_CASE("the first failure trips the fail-stop once and is kept") {
  FailStop fail_stop;
  int halts = 0;
  fail_stop.SetHaltHook([&halts] { ++halts; });
  CHECK_FALSE(fail_stop.tripped());
  CHECK(fail_stop.status().ok());
  fail_stop.Trip("cannot append to the outbox", Status(wire::UNAVAILABLE, "fdatasync: EIO"));
  CHECK(fail_stop.tripped());
  CHECK(halts == 1);
  CHECK(fail_stop.status().message() == "fdatasync: EIO");
  fail_stop.Trip("cannot remove", Status(wire::INTERNAL, "later"));
  CHECK(halts == 1);
  CHECK(fail_stop.status().message() == "fdatasync: EIO");
}

TEST_CASE("a trip without an error status still stops") {
  FailStop fail_stop;
  fail_stop.Trip("cannot store the inbox", Status::Ok());
  CHECK(fail_stop.tripped());
  CHECK(fail_stop.status().code() == wire::UNAVAILABLE);
}
