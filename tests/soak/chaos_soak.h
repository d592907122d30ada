// A chaos soak with a checker, in the spirit of Jepsen: a real broker, agent gateway and
// partner gateway (CURVE, as in production) under a steady stream of submissions (through the
// agent gateway's local endpoint), partner acknowledgements and replies (through the partner
// gateway's local endpoint), while one of the three processes is killed at a random moment in
// each round (SIGKILL, sometimes SIGTERM) and restarted 0-3 s later. Clients behave like real
// software: a request is retried with the same idempotency key until it gets a final answer;
// a submission answered QUEUED_LOCALLY counts as accepted. Then the soak waits (bounded) for
// the network to settle and checks what every user was promised:
//   lost          a submission accepted (Accepted or QUEUED_LOCALLY) with no case at the broker
//                 or no copy in the partner gateway's inbox;
//   stalled       one that reached the inbox, but more than max_delivery_seconds after it was
//                 accepted (deliveries that stop until something else wakes the link up);
//   duplicated    one idempotency key, two cases;
//   replies lost  a reply the partner gateway accepted that the agent gateway's own view (its
//                 local cache, read with the broker stopped) does not show;
//   alerts twice  two stored alerts of one kind for one case, or one alert id published with
//                 two different raising times;
//   impossible    a case whose timeline is not a legal story or disagrees with its summary
//                 (tests/support/broker_test_helpers.h, TimelineProblem);
// and it lists what did not settle in time (with the stage each item is stuck at).
//
// Thread rules: Run() on one thread; it starts and joins its own client threads.
#pragma once

#include <cstdint>
#include <string>

namespace aplus::soak {

struct SoakOptions {
  int rounds = 20;
  uint32_t seed = 0;
  int submitters = 2;               // client threads submitting through the agent gateway
  int submit_interval_ms = 250;     // pause between two submissions of one thread
  int kill_after_min_ms = 500;      // a round kills at a random moment in [min, max]
  int kill_after_max_ms = 2500;
  int down_max_ms = 3000;           // restarted after a random 0..down_max_ms
  int sigterm_percent = 25;         // the rest are SIGKILL
  int settle_seconds = 60;          // bound on the wait for quiescence after the last round
  // A case that reaches the partner's inbox later than this after its acceptance is "stalled"
  // (a kill costs at most 3 s down, a restart and a 3 s ack lease).
  int max_delivery_seconds = 20;
  bool short_sla = true;            // a 6-second reply window, so that alerts are raised too
  bool kill = true;                 // false: rounds pass without killing (checks the checker)
  int broker_rate_limit = -1;       // the broker's --rate-limit (-1 = its default)
  int broker_rate_burst = -1;       // the broker's --rate-burst (-1 = its default)
};

// Runs the soak and prints its findings. Returns 0 when nothing was lost, stalled, duplicated or
// impossible and no reply or alert went wrong, 1 when something did (the offending ids are
// printed), 2 when the soak could not run (a program would not start).
int RunChaosSoak(const SoakOptions& options);

}  // namespace aplus::soak
