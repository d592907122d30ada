// aplus-soak: the chaos soak (tests/soak/chaos_soak.h). `aplus-soak --rounds 200` is the long
// run the README records; ctest runs 20 rounds (tests/soak/CMakeLists.txt).
#include <cstdlib>
#include <random>

#include <CLI/CLI.hpp>

#include "tests/soak/chaos_soak.h"

int main(int argc, char** argv) {
  aplus::soak::SoakOptions options;
  const char* seed_text = std::getenv("APLUS_TEST_SEED");
  options.seed = seed_text ? static_cast<uint32_t>(std::strtoul(seed_text, nullptr, 10))
                           : std::random_device{}();
  CLI::App app{"A+ chaos soak: kills the broker and gateways at random moments and checks that "
               "nothing accepted is lost, duplicated or left in an impossible state"};
  app.add_option("--rounds", options.rounds, "kill/restart rounds")->check(CLI::Range(0, 100000));
  app.add_option("--seed", options.seed, "random seed (default: APLUS_TEST_SEED or random)");
  app.add_option("--submitters", options.submitters, "client threads submitting")
      ->check(CLI::Range(1, 64));
  app.add_option("--submit-interval-ms", options.submit_interval_ms,
                 "pause between two submissions of one client")
      ->check(CLI::Range(0, 60000));
  app.add_option("--kill-after-min-ms", options.kill_after_min_ms,
                 "earliest kill moment in a round")
      ->check(CLI::Range(0, 600000));
  app.add_option("--kill-after-max-ms", options.kill_after_max_ms, "latest kill moment in a round")
      ->check(CLI::Range(0, 600000));
  app.add_option("--down-max-ms", options.down_max_ms, "longest time a killed program stays down")
      ->check(CLI::Range(0, 600000));
  app.add_option("--sigterm-percent", options.sigterm_percent, "share of SIGTERM stops")
      ->check(CLI::Range(0, 100));
  app.add_option("--settle-seconds", options.settle_seconds,
                 "how long to wait for quiescence after the last round")
      ->check(CLI::Range(1, 3600));
  bool long_sla = false;
  app.add_flag("--no-alerts", long_sla, "keep the 4-working-day reply window (no SLA alerts)");
  app.add_option("--max-delivery-seconds", options.max_delivery_seconds,
                 "a case in the partner's inbox later than this after its acceptance is stalled")
      ->check(CLI::Range(1, 3600));
  bool no_kill = false;
  app.add_flag("--no-kill", no_kill,
               "run the rounds without killing anything: the checker must then report nothing");
  app.add_option("--broker-rate-limit", options.broker_rate_limit,
                 "the broker's --rate-limit (requests per second per principal; 0 = none)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--broker-rate-burst", options.broker_rate_burst, "the broker's --rate-burst")
      ->check(CLI::Range(1, 1000000));
  CLI11_PARSE(app, argc, argv);
  options.kill = !no_kill;
  if (options.kill_after_max_ms < options.kill_after_min_ms) {
    options.kill_after_max_ms = options.kill_after_min_ms;
  }
  options.short_sla = !long_sla;
  return aplus::soak::RunChaosSoak(options);
}
