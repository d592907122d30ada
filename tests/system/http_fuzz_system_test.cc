// A fuzz test of both gateways' HTTP listeners with real programs (tests/http/fuzz.py, seeded,
// bounded in time): random and mutated requests with and without a valid token, oversize
// headers and bodies, header floods, slowloris and half-open clients, while a normal client
// keeps working; afterwards a normal round works, the cases stored before are unchanged, the
// new cases are exactly those of well-formed submissions, and every process is still alive.
// The seed is printed; APLUS_FUZZ_SEED replays one.
#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>

#include "tests/support/http_network.h"

using namespace aplus;
using namespace aplus::testing;

TEST_CASE("HTTP fuzz of both listeners: bad clients get 4xx or a closed connection, good clients "
          "and stored cases are untouched" *
          doctest::timeout(150)) {
  HttpNetwork net("http-fuzz");
  std::string agent_token = net.AddToken(net.AgentTokenDir(), "front-desk");
  std::string partner_token = net.AddToken(net.PartnerTokenDir(), "si-france-travail");
  REQUIRE(net.StartBroker());
  REQUIRE(net.StartPartnerGateway());
  REQUIRE(net.StartAgentGateway());

  const char* replay = std::getenv("APLUS_FUZZ_SEED");
  std::string seed = replay != nullptr && *replay != '\0'
                         ? std::string(replay)
                         : std::to_string(static_cast<long>(std::time(nullptr)));
  MESSAGE("fuzz seed " << seed << " (replay with APLUS_FUZZ_SEED=" << seed << ")");
  auto [code, output] = RunPythonScript(
      "fuzz.py",
      {"--agent-url", net.agent_url(), "--partner-url", net.partner_url(), "--agent-token",
       agent_token, "--partner-token", partner_token, "--seed", seed, "--seconds", "20"},
      120);
  if (code != 0) {
    FAIL_CHECK("fuzz.py exited " << code << ":\n" << output);
  } else {
    MESSAGE(output);  // the counts, also when it passed
  }
  CHECK(net.network().broker().Running());
  CHECK(net.network().agent_gateway().Running());
  CHECK(net.network().partner_gateway().Running());
}
