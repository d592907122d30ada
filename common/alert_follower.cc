#include "common/alert_follower.h"

namespace aplus {

bool AlertFollower::Offer(const wire::Alert& alert) {
  return AlertMatches(filter_, alert) && Remember(alert);
}

bool AlertFollower::OfferCaughtUp(const wire::Alert& alert) {
  // The broker applied the filters; a catch-up also returns the alerts acknowledged since,
  // which are not news unless include_acked.
  bool fresh = (filter_.include_acked || alert.acked_by().empty()) && Remember(alert);
  Advance(alert.sequence());
  return fresh;
}

bool AlertFollower::Remember(const wire::Alert& alert) {
  if (alert.sequence() == 0) return shown_ids_.insert(alert.alert_id()).second;  // older broker
  if (alert.sequence() <= watermark_) return false;  // considered already
  return shown_above_.insert(alert.sequence()).second;
}

void AlertFollower::Advance(uint64_t sequence) {
  if (sequence <= watermark_) return;
  watermark_ = sequence;
  shown_above_.erase(shown_above_.begin(), shown_above_.upper_bound(sequence));
}

wire::Envelope AlertFollower::CatchUpRequest() const {
  wire::Envelope request = AlertListRequest(filter_);
  request.mutable_list_alerts()->set_limit(kCatchUpPage);
  // Nothing considered yet: the open alerts again (after_sequence 0 means that).
  request.mutable_list_alerts()->set_after_sequence(watermark_);
  return request;
}

wire::Envelope AlertListRequest(const AlertFilter& filter) {
  wire::Envelope request;
  auto* list = request.mutable_list_alerts();
  list->set_partner(filter.partner);
  list->set_territory(filter.territory);
  list->set_kind(filter.kind);
  list->set_include_acked(filter.include_acked);
  list->set_limit(filter.limit);
  return request;
}

std::vector<std::string> AlertTopicPrefixes(const AlertFilter& filter) {
  if (filter.kind == wire::Alert::KIND_UNSPECIFIED) return {"alert."};
  std::string prefix = "alert." + wire::Alert::Kind_Name(filter.kind) + ".";
  // The trailing '.' keeps "france-travail" from also matching "france-travail-bis".
  if (!filter.partner.empty()) prefix += filter.partner + ".";
  return {prefix};
}

bool AlertMatches(const AlertFilter& filter, const wire::Alert& alert) {
  if (!filter.partner.empty() && alert.partner() != filter.partner) return false;
  if (!filter.territory.empty() && alert.territory() != filter.territory) return false;
  if (filter.kind != wire::Alert::KIND_UNSPECIFIED && alert.kind() != filter.kind) return false;
  if (!filter.include_acked && !alert.acked_by().empty()) return false;
  return true;
}

}  // namespace aplus
