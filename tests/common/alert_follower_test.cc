#include "common/alert_follower.h"

#include <doctest/doctest.h>

using namespace aplus;

namespace {
wire::Alert MakeAlert(uint64_t sequence, const std::string& partner = "caf") {
  wire::Alert alert;
  alert.set_alert_id("A" + std::to_string(sequence));
  alert.set_partner(partner);
  alert.set_kind(wire::Alert::BREACH);
  alert.set_sequence(sequence);
  return alert;
}
}  // namespace

TEST_CASE("each alert is shown once, whether the stream or a catch-up brings it first") {
  AlertFollower follower(AlertFilter{});
  CHECK(follower.Offer(MakeAlert(3)));
  CHECK_FALSE(follower.Offer(MakeAlert(3)));
  CHECK(follower.OfferCaughtUp(MakeAlert(2)));
  CHECK_FALSE(follower.OfferCaughtUp(MakeAlert(3)));  // shown from the stream already
  CHECK(follower.watermark() == 3);
  CHECK_FALSE(follower.Offer(MakeAlert(1)));            // below the watermark
  CHECK(follower.CatchUpRequest().list_alerts().after_sequence() == 3);
  CHECK(follower.CatchUpRequest().list_alerts().limit() == AlertFollower::kCatchUpPage);
}

TEST_CASE("an alert heard from both brokers of a pair is shown once") {
  // Both nodes store the alert under the same replicated sequence and the same deterministic
  // id: the old leader's publication and the new leader's catch-up are one alert.
  AlertFollower follower(AlertFilter{});
  CHECK(follower.Offer(MakeAlert(7)));         // from the old leader's stream
  CHECK_FALSE(follower.Offer(MakeAlert(7)));   // from the new leader's stream
  CHECK_FALSE(follower.OfferCaughtUp(MakeAlert(7)));
}

TEST_CASE("filters: topic prefixes and matching") {
  AlertFilter filter;
  CHECK(AlertTopicPrefixes(filter) == std::vector<std::string>{"alert."});
  filter.kind = wire::Alert::BREACH;
  filter.partner = "caf";
  CHECK(AlertTopicPrefixes(filter) == std::vector<std::string>{"alert.BREACH.caf."});
  CHECK(AlertMatches(filter, MakeAlert(1, "caf")));
  CHECK_FALSE(AlertMatches(filter, MakeAlert(1, "msa")));
  wire::Alert acked = MakeAlert(2, "caf");
  acked.set_acked_by("operator");
  CHECK_FALSE(AlertMatches(filter, acked));
  filter.include_acked = true;
  CHECK(AlertMatches(filter, acked));
}
