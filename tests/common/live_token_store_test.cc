// Live reload of the API tokens: added and removed tokens take effect at the next look, an
// unsafe directory grants nothing, a snapshot held by a request stays valid.
#include "common/live_token_store.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <string>

#include "tests/support/child_process.h"

namespace {

using aplus::testing::TempDir;

constexpr int64_t kNow = 1795773600000;

}  // namespace

TEST_CASE("a missing or unsafe directory fails the start; tokens follow the directory") {
  TempDir tmp("live-tokens");
  std::string dir = tmp.Sub("tokens");
  aplus::LiveTokenStore missing(dir);
  CHECK(missing.Start().code() == aplus::wire::INVALID_ARGUMENT);
  CHECK(missing.Snapshot() != nullptr);

  auto first = aplus::AddToken(dir, "first", {}, kNow);
  REQUIRE(first.ok());
  aplus::LiveTokenStore store(dir);
  REQUIRE(store.Start().ok());
  CHECK(store.Authenticate(*first)->name == "first");
  CHECK_FALSE(store.ReloadIfChanged());

  auto held = store.Snapshot();
  auto second = aplus::AddToken(dir, "second", {"agent-1"}, kNow);
  REQUIRE(second.ok());
  CHECK_FALSE(store.Authenticate(*second).ok());  // not looked yet
  CHECK(store.ReloadIfChanged());
  CHECK(store.Authenticate(*second)->agents == std::vector<std::string>{"agent-1"});

  REQUIRE(aplus::RemoveToken(dir, "first").ok());
  CHECK(store.ReloadIfChanged());
  CHECK(store.Authenticate(*first).status().code() == aplus::wire::NOT_AUTHENTICATED);
  CHECK(held->Authenticate(*first).ok());  // the old snapshot is unchanged while held

  // Writable by others: fail closed until fixed.
  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  CHECK(store.ReloadIfChanged());
  CHECK_FALSE(store.Authenticate(*second).ok());
  REQUIRE(::chmod(dir.c_str(), 0700) == 0);
  CHECK(store.ReloadIfChanged());
  CHECK(store.Authenticate(*second).ok());

  REQUIRE(::chmod(dir.c_str(), 0770) == 0);
  aplus::LiveTokenStore unsafe(dir);
  CHECK(unsafe.Start().code() == aplus::wire::INVALID_ARGUMENT);
  CHECK_FALSE(unsafe.Authenticate(*second).ok());
  REQUIRE(::chmod(dir.c_str(), 0700) == 0);
}
