// FreePort's claims among the suites that run side by side (ctest -j4): a port one process
// claimed cannot be claimed by another until the first exits. Pause: every thread of the child
// stopped when it returns.
#include "tests/support/child_process.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

namespace aplus::testing {
namespace {

// Runs ClaimPortAmongSuites(port) in a child process: true when the child got it.
bool ClaimedByAnotherProcess(int port) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(ClaimPortAmongSuites(port) ? 0 : 1);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status) == 0;
}

TEST_CASE("a port FreePort handed out is claimed: no other process can pick it") {
  int port = FreePort();
  CHECK(port >= 20000);
  CHECK(port <= 32767);
  CHECK_FALSE(ClaimedByAnotherProcess(port));
}

TEST_CASE("a claim ends with the process that held it") {
  // A port a child process claimed and then exited with (a few tries: another suite may hold
  // the first ones): free again, for this process.
  int port = FreePort() + 1;
  bool child_claimed = false;
  for (int tries = 0; tries < 20 && !child_claimed; ++tries) {
    port = port >= 32767 ? 20000 : port + 1;
    child_claimed = ClaimedByAnotherProcess(port);
  }
  REQUIRE(child_claimed);
  CHECK(ClaimPortAmongSuites(port));
  CHECK_FALSE(ClaimedByAnotherProcess(port));
}

TEST_CASE("FreePort never hands out the same port twice in one process") {
  std::set<int> ports;
  for (int i = 0; i < 50; ++i) CHECK(ports.insert(FreePort()).second);
}

TEST_CASE("Pause returns once every thread of the child has stopped; Resume lets them run") {
  // Four threads spinning, as a server's threads would be busy serving.
  TempDir dir("pause");
  ChildProcess child(APLUS_PYTHON3,
                     {"-c",
                      "import threading\n"
                      "def spin():\n"
                      "    while True: pass\n"
                      "for _ in range(3): threading.Thread(target=spin, daemon=True).start()\n"
                      "print('spinning', flush=True)\n"
                      "spin()\n"},
                     dir.Sub("child.log"));
  REQUIRE(child.WaitForLog("spinning"));
  for (int round = 0; round < 20; ++round) {
    REQUIRE(child.Pause());
    CHECK(ChildProcess::EveryThreadStopped(child.pid()));
    child.Resume();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (ChildProcess::EveryThreadStopped(child.pid()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK_FALSE(ChildProcess::EveryThreadStopped(child.pid()));
  }
}

}  // namespace
}  // namespace aplus::testing
