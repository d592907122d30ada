// What the partner gateway's HTTP routes (partner_http_routes.h) need from the gateway: the one
// dispatch of local requests (the same handlers as the ROUTER endpoint), the inbox's pages and
// the partner's event feed. Implemented by PartnerGateway; the routes hold no state of their own.
//
// Thread rules: every method on the gateway's loop thread (where the routes run).
#pragma once

#include <cstdint>
#include <optional>

#include "aplus.pb.h"
#include "common/status.h"
#include "gateway/event_feed.h"
#include "gateway/local_client.h"
#include "partner-gateway/partner_inbox.h"

namespace aplus {

class PartnerHttpBackend {
 public:
  virtual ~PartnerHttpBackend() = default;

  // Serves `request` (GetCase, AcknowledgeCase, ReplyCase, AskInfo, TransferCase...) exactly as
  // the local endpoint does; `client.answer` gets the answer once (now, or when the broker
  // answers or the forward timeout passes).
  virtual void Serve(wire::Envelope request, LocalClient client) = 0;

  // A page of the inbox in arrival order (PartnerInbox::ListAfter).
  virtual Result<PartnerInbox::Page> ListInbox(uint64_t after, size_t limit,
                                               std::optional<wire::CaseState> state) = 0;

  // The partner's feed (GET /v1/events).
  virtual EventFeed& feed() = 0;
};

}  // namespace aplus
