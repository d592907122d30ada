// The start-up both gateways share (gateway/gateway_main.h), through the real programs: the
// same exit statuses for bad flags (2), the same --forward-timeout-ms range, and the same
// start-up error (1) when the local endpoint cannot be bound.
#include <doctest/doctest.h>

#include <string>

#include <zmq.hpp>

#include "common/exit_codes.h"
#include "tests/support/child_process.h"
#include "tests/support/fake_endpoint.h"

using namespace aplus;

namespace {

struct Program {
  const char* binary;
  const char* identity_flag;
  const char* identity;
};
const Program kPrograms[] = {
    {"aplus-agent-gateway", "--contact-point", "mairie-perche-en-noce"},
    {"aplus-partner-gateway", "--partner", "france-travail"},
};

int RunToExit(const std::string& arguments) {
  std::string command = arguments + " > /dev/null 2>&1";
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("both gateways: bad flags exit 2, a forward timeout out of range too, a taken "
          "endpoint exits 1" * doctest::timeout(60)) {
  // A port that is taken for as long as the test runs.
  zmq::context_t context(1);
  zmq::socket_t taken(context, zmq::socket_type::router);
  taken.set(zmq::sockopt::linger, 0);
  std::string endpoint = testing::BindSomewhere(taken);
  testing::TempDir dir("gateway-main");
  for (const auto& program : kPrograms) {
    INFO(program.binary);
    std::string base = testing::BinPath(program.binary) + " " + program.identity_flag + " " +
                       program.identity + " --insecure --broker tcp://127.0.0.1:1 --data-dir " +
                       dir.Sub(program.binary);
    CHECK(RunToExit(base + " --no-such-flag") == 2);
    CHECK(RunToExit(base + " --forward-timeout-ms -1") == 2);
    CHECK(RunToExit(base + " --forward-timeout-ms 3600001") == 2);
    CHECK(RunToExit(base + " --log-level loud") == 2);
    CHECK(RunToExit(base + " --listen " + endpoint) == kExitStartupError);
  }
}
