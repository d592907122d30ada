// The load of `aplus-bench --mode http`: submissions (POST /v1/cases) to an agent gateway's HTTP
// API over N keep-alive connections (Boost.Beast, one blocking client per connection thread),
// in a closed loop (each connection sends its next request when the previous answer arrived)
// or an open loop at a fixed rate.
//
// Open loop without coordinated omission: request i is due at start + i / rate whatever
// happened before; a connection takes the next due request, waits until its time (or sends
// at once when it is late), and its latency is measured from when it was DUE, not from when
// it was sent, so a slow answer that delays the requests behind it counts against all of them.
// With too few connections for the rate the latencies grow, which is the truth of that setup.
//
// Only 201 answers (the broker has the case durably) count as done; every other status and
// every transport error is counted by kind and printed, never dropped.
//
// Thread rules: Run() on one thread; it starts and joins the connection threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace aplus::bench {

struct HttpLoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string token;                  // Authorization: Bearer
  uint32_t connections = 32;
  bool open_loop = false;
  double rate = 500;                  // open loop: requests per second, all connections
  int64_t start_ns = 0;               // steady clock: the first request is due then
  int64_t window_start_ns = 0;        // answers before this are warm-up, not counted
  int64_t window_end_ns = 0;          // nothing is sent from then on
  std::string agent;                  // the submitting agent (of the gateway's contact point)
  std::vector<std::string> partners;  // submissions go to them in turn
  size_t body_bytes = 900;
  std::string run_tag;                // makes the Idempotency-Keys of a run unique
  bool collect_cases = false;         // keep the case id of every 201 (warm-up included)
};

struct CreatedCase {
  std::string case_id;
  int64_t sent_ns = 0;  // steady clock: when the request was sent
};

struct HttpLoadResult {
  uint64_t sent = 0;
  uint64_t created = 0;                   // 201 answers to requests due inside the window
  std::map<std::string, uint64_t> other;  // "status 503", "connect: ...": count
  std::vector<int64_t> latencies_ns;      // of the `created` ones (from due time, open loop)
  uint64_t created_total = 0;             // every 201, warm-up and late answers included
  std::vector<CreatedCase> cases;         // with collect_cases: every 201's case
  int64_t first_due_ns = 0, last_answer_ns = 0;
};

// Runs the load until window_end_ns, then waits for the answers in flight (each connection's
// read times out after 30 s). INVALID_ARGUMENT for unusable options.
Result<HttpLoadResult> RunHttpLoad(const HttpLoadOptions& options);

}  // namespace aplus::bench
