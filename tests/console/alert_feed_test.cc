#include "console/alert_feed.h"

#include <doctest/doctest.h>

using namespace aplus;

TEST_CASE("the event stream: one event per alert with its sequence as id, or only the cursor") {
  wire::Alert alert;
  alert.set_alert_id("PER-AAAA-BBBB/BREACH/1");
  alert.set_kind(wire::Alert::BREACH);
  alert.set_text("two\nlines");
  alert.set_sequence(12);
  std::string body = AlertFeed::EventStreamBody({alert}, 12);
  CHECK(body.rfind("retry: 1000\n\n", 0) == 0);
  CHECK(body.find("id: 12\nevent: alert\ndata: {") != std::string::npos);
  CHECK(body.find("\"alert_id\":\"PER-AAAA-BBBB/BREACH/1\"") != std::string::npos);
  CHECK(body.find("\"kind\":\"BREACH\"") != std::string::npos);
  // The text's newline stays escaped inside the one data line.
  CHECK(body.find("two\\nlines") != std::string::npos);
  CHECK(body.substr(body.size() - 2) == "\n\n");

  std::string quiet = AlertFeed::EventStreamBody({}, 7);
  CHECK(quiet == "retry: 1000\n\n: no news\nid: 7\n\n");
  // A stream ended to make room asks the browser to come back later.
  CHECK(AlertFeed::EventStreamBody({}, 7, AlertFeed::kEvictedRetryMs).rfind("retry: 15000\n", 0) ==
        0);
}
